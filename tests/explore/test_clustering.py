"""Clusters and their scores: exact on known cases, chance-level on chance."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_studio.explore.clustering import CLUSTER_METHODS, cluster_embeddings, score_clusters
from galaxy_studio.model.errors import ModelError


def test_hungarian_accuracy_of_a_permuted_labelling_is_one() -> None:
    labels = np.repeat([0, 1, 2, 3], [5, 10, 20, 15])
    permutation = np.array([2, 0, 3, 1])
    score = score_clusters(permutation[labels], labels)
    assert score.accuracy == 1.0 and score.ari == pytest.approx(1.0) and score.nmi == pytest.approx(1.0)
    assert score.mapping == {2: 0, 0: 1, 3: 2, 1: 3}
    assert score.majority_baseline == pytest.approx(20 / 50) and score.n_labelled == 50


def test_one_cluster_scores_the_majority_baseline_and_zero_agreement() -> None:
    labels = np.array([0] * 70 + [1] * 30)
    score = score_clusters(np.zeros(100, np.int64), labels)
    assert score.accuracy == pytest.approx(0.7) == pytest.approx(score.majority_baseline)
    assert score.ari == pytest.approx(0.0) and score.nmi == pytest.approx(0.0)


def test_random_clusters_score_near_chance() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    score = score_clusters(rng.integers(0, 3, 3000), labels)
    assert abs(score.ari) < 0.01 and score.nmi < 0.01
    assert score.accuracy < 0.37


def test_extra_clusters_count_as_wrong_but_not_for_purity() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    clusters = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    score = score_clusters(clusters, labels)
    assert score.accuracy == pytest.approx(0.5) and score.purity == 1.0
    assert len(score.mapping) == 2


def test_unlabelled_rows_are_ignored() -> None:
    score = score_clusters(np.array([0, 0, 1, 1, 0]), np.array([0, 0, 1, 1, -1]))
    assert score.accuracy == 1.0 and score.n_labelled == 4


def test_no_labels_is_an_error() -> None:
    with pytest.raises(ModelError, match="no labelled images"):
        score_clusters(np.zeros(3, np.int64), np.full(3, -1))


@pytest.mark.parametrize("method", CLUSTER_METHODS)
def test_well_separated_blobs_are_recovered(method: str) -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 20, (4, 16))
    labels = np.repeat(np.arange(4), 40)
    vectors = (centres[labels] + rng.normal(0, 1, (160, 16))).astype(np.float32)
    clusters = cluster_embeddings(vectors, 4, method)
    assert clusters.shape == (160,) and set(clusters.tolist()) == {0, 1, 2, 3}
    assert score_clusters(clusters, labels).accuracy == 1.0


def test_spectral_follows_curved_clusters_that_kmeans_cuts_across() -> None:
    rng = np.random.default_rng(2)
    angles = rng.uniform(0, np.pi, 150)
    upper = np.stack([np.cos(angles), np.sin(angles)], 1)
    lower = np.stack([1 - np.cos(angles), 0.5 - np.sin(angles)], 1)
    vectors = (np.concatenate([upper, lower]) + rng.normal(0, 0.05, (300, 2))).astype(np.float32)
    labels = np.repeat([0, 1], 150)
    kmeans = score_clusters(cluster_embeddings(vectors, 2, "kmeans"), labels).accuracy
    spectral = score_clusters(cluster_embeddings(vectors, 2, "spectral"), labels).accuracy
    assert spectral > 0.98 and kmeans < 0.9


def test_bad_k_and_method() -> None:
    vectors = np.zeros((5, 3), np.float32)
    with pytest.raises(ModelError, match="k must lie between 1 and the number of vectors"):
        cluster_embeddings(vectors, 6)
    with pytest.raises(ModelError, match="clustering method must be one of"):
        cluster_embeddings(vectors, 2, "dbscan")
