"""Clusters of embeddings, and an honest score of them against known labels.

k-means finds round clusters of similar size around centroids. Galaxy morphology is often a
continuum (bulge-to-disc ratio, arm winding) that forms elongated or curved clouds in an
embedding, which k-means cuts across. The alternative, spectral clustering on a graph of
each point's nearest neighbours, groups points that are connected through chains of close
neighbours, so it follows such shapes; it needs the number of clusters like k-means does
(HDBSCAN would not, but it labels much of a sparse cloud as noise, which is no use for
labelling whole clusters at once). Both run on PCA components keeping 95% of the variance.

A clustering score means little alone: two clusters of a 70/30 set already "reach" 70% by
putting everything in one. So every score comes with the majority-class baseline.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from galaxy_studio.explore.projection import reduce_pca
from galaxy_studio.model.errors import ModelError

CLUSTER_METHODS: tuple[str, ...] = ("kmeans", "spectral")
PCA_VARIANCE = 0.95
# Neighbours per point in the spectral graph: enough to keep a cluster connected, few enough
# not to bridge two clusters.
_GRAPH_NEIGHBOURS = 15


def cluster_embeddings(vectors: np.ndarray, k: int, method: str = "kmeans", seed: int = 0) -> np.ndarray:
    """(N,) int64 cluster ids in 0..k-1."""
    if method not in CLUSTER_METHODS:
        raise ModelError(f"clustering method must be one of {', '.join(CLUSTER_METHODS)}, got {method!r}")
    reduced = reduce_pca(vectors, PCA_VARIANCE)
    if not 1 <= k <= len(reduced):
        raise ModelError(f"k must lie between 1 and the number of vectors ({len(reduced)}), got {k}")
    if k == 1:
        return np.zeros(len(reduced), np.int64)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        ids = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(reduced)
    else:
        from sklearn.cluster import SpectralClustering

        neighbours = min(_GRAPH_NEIGHBOURS, len(reduced) - 1)
        spectral = SpectralClustering(
            n_clusters=k,
            affinity="nearest_neighbors",
            n_neighbors=neighbours,
            assign_labels="cluster_qr",
            random_state=seed,
        )
        with warnings.catch_warnings():
            # A graph in several pieces is what well-separated clusters give; it is not an error.
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            ids = spectral.fit_predict(reduced)
    return np.asarray(ids, dtype=np.int64)


@dataclass(frozen=True)
class ClusterScore:
    """Agreement of clusters with labels. `accuracy` matches clusters to classes one to one
    (Hungarian), so clusters beyond the number of classes count as wrong, as in the seed
    paper; `purity` lets every cluster vote for its majority class instead, and rises with k
    towards 1 whatever the embedding, so read it beside `majority_baseline`."""

    accuracy: float
    ari: float
    nmi: float
    majority_baseline: float
    n_labelled: int
    mapping: dict[int, int]
    purity: float = field(default=float("nan"))


def score_clusters(clusters: np.ndarray, labels: np.ndarray) -> ClusterScore:
    """Scores over the rows with a label (>= 0); the mapping sends each matched cluster to a class."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    clusters = np.asarray(clusters, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if clusters.shape != labels.shape:
        raise ModelError(f"{len(clusters)} cluster ids but {len(labels)} labels")
    known = labels >= 0
    if not np.any(known):
        raise ModelError("no labelled images to score the clusters against")
    clusters, labels = clusters[known], labels[known]
    cluster_ids, cluster_rows = np.unique(clusters, return_inverse=True)
    class_ids, class_rows = np.unique(labels, return_inverse=True)
    counts = np.zeros((len(cluster_ids), len(class_ids)), np.int64)
    np.add.at(counts, (cluster_rows, class_rows), 1)
    matched_clusters, matched_classes = linear_sum_assignment(counts, maximize=True)
    n = len(labels)
    return ClusterScore(
        accuracy=float(counts[matched_clusters, matched_classes].sum() / n),
        ari=float(adjusted_rand_score(labels, clusters)),
        nmi=float(normalized_mutual_info_score(labels, clusters)),
        majority_baseline=float(counts.sum(axis=0).max() / n),
        n_labelled=int(n),
        mapping={int(cluster_ids[c]): int(class_ids[k]) for c, k in zip(matched_clusters, matched_classes)},
        purity=float(counts.max(axis=1).sum() / n),
    )
