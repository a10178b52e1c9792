"""Look-alike search and dimension reduction on vectors whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_studio.events import Cancelled, CancelToken, Progressed
from galaxy_studio.explore.projection import map_2d, reduce_pca
from galaxy_studio.explore.similarity import SimilarityIndex
from galaxy_studio.model.errors import ModelError


def test_nearest_returns_the_known_neighbours_most_similar_first() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 1, (500, 32)).astype(np.float32)
    query = 123
    directions = rng.normal(0, 1, (3, 32)).astype(np.float32)
    for rank, row in enumerate((7, 400, 250)):
        vectors[row] = vectors[query] + 0.1 * (rank + 1) * directions[rank]
    indices, similarities = SimilarityIndex(vectors).nearest(query, k=3)
    assert indices.tolist() == [7, 400, 250]
    assert np.all(np.diff(similarities) <= 0) and similarities[0] > 0.95


def test_nearest_excludes_the_query_and_clips_k() -> None:
    index = SimilarityIndex(np.eye(4, dtype=np.float32))
    indices, similarities = index.nearest(2, k=10)
    assert sorted(indices.tolist()) == [0, 1, 3] and len(similarities) == 3
    with pytest.raises(IndexError):
        index.nearest(4)


def test_similarity_ignores_a_common_offset() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(0, 1, (200, 8)).astype(np.float32)
    plain = SimilarityIndex(vectors).nearest(5, k=5)[0]
    shifted = SimilarityIndex(vectors + 100.0).nearest(5, k=5)[0]
    assert plain.tolist() == shifted.tolist()


def test_nan_vectors_are_refused() -> None:
    vectors = np.ones((3, 2), np.float32)
    vectors[1, 0] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        SimilarityIndex(vectors)


def test_pca_keeps_the_asked_variance() -> None:
    rng = np.random.default_rng(2)
    signal = rng.normal(0, 1, (300, 3)) * np.array([10.0, 5.0, 3.0])
    vectors = np.concatenate([signal, rng.normal(0, 0.01, (300, 20))], axis=1).astype(np.float32)
    assert reduce_pca(vectors, 0.95).shape == (300, 3)
    assert reduce_pca(vectors, 0.7).shape == (300, 1)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_map_2d_separates_two_groups(method: str) -> None:
    rng = np.random.default_rng(3)
    vectors = np.concatenate([rng.normal(0, 1, (40, 10)), rng.normal(8, 1, (40, 10))]).astype(np.float32)
    events: list[object] = []
    positions = map_2d(vectors, method, emit=events.append)
    assert positions.shape == (80, 2) and positions.dtype == np.float32
    first, second = positions[:40].mean(0), positions[40:].mean(0)
    spread = max(positions[:40].std(0).max(), positions[40:].std(0).max())
    assert np.linalg.norm(first - second) > 3 * spread
    assert [event.done for event in events if isinstance(event, Progressed)] == [0, 1]


def test_map_2d_honours_cancel() -> None:
    cancel = CancelToken()
    cancel.set()
    with pytest.raises(Cancelled):
        map_2d(np.zeros((10, 3), np.float32), "pca", cancel=cancel)
