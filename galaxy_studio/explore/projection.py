"""Fewer dimensions: PCA keeping a fraction of the variance (before clustering), and 2-D maps.

PCA first is what the seed paper did before k-means: most embedding dimensions are noise
for distances, and distances in 500 dimensions concentrate. A 2-D map is PCA (fast, linear,
honest about distances) or t-SNE (neighbourhoods, not distances, are what it keeps: clusters
that look separate may not be far apart).
"""

from __future__ import annotations

import numpy as np

from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, ignore
from galaxy_studio.model.errors import ModelError

MAP_METHODS: tuple[str, ...] = ("pca", "tsne")
# t-SNE on more than this many dimensions is slow and no better: reduce with PCA first.
_TSNE_INPUT_DIMENSIONS = 50


def reduce_pca(vectors: np.ndarray, variance: float = 0.95) -> np.ndarray:
    """(N, k) float32 principal components, k the fewest that keep `variance` of the total."""
    from sklearn.decomposition import PCA

    vectors = _checked(vectors)
    if not 0.0 < variance <= 1.0:
        raise ModelError(f"the variance fraction must lie in (0, 1], got {variance}")
    if len(vectors) < 2 or vectors.shape[1] < 2 or float(vectors.var(axis=0).sum()) == 0.0:
        return vectors.copy()
    kept = variance if variance < 1.0 else min(vectors.shape)
    return PCA(n_components=kept, svd_solver="full").fit_transform(vectors).astype(np.float32)


def map_2d(
    vectors: np.ndarray, method: str = "pca", seed: int = 0, *, emit: EventSink = ignore, cancel: CancelToken = NEVER
) -> np.ndarray:
    """(N, 2) float32 positions. t-SNE cannot be interrupted inside scikit-learn, so a cancel is
    honoured before and after it."""
    vectors = _checked(vectors)
    if method not in MAP_METHODS:
        raise ModelError(f"map method must be one of {', '.join(MAP_METHODS)}, got {method!r}")
    cancel.raise_if_set()
    emit(Progressed(0, 1, f"{method} map"))
    if method == "pca":
        positions = _pca_2d(vectors)
    else:
        positions = _tsne_2d(vectors, seed)
    cancel.raise_if_set()
    emit(Progressed(1, 1, f"{method} map"))
    return positions.astype(np.float32)


def _pca_2d(vectors: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    if len(vectors) < 2 or vectors.shape[1] < 2:
        return np.pad(vectors[:, :2], ((0, 0), (0, max(0, 2 - vectors.shape[1]))))
    return PCA(n_components=2, svd_solver="full").fit_transform(vectors)


def _tsne_2d(vectors: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    if len(vectors) < 5:
        return _pca_2d(vectors)
    if vectors.shape[1] > _TSNE_INPUT_DIMENSIONS:
        from sklearn.decomposition import PCA

        vectors = PCA(n_components=_TSNE_INPUT_DIMENSIONS, random_state=seed).fit_transform(vectors)
    perplexity = min(30.0, (len(vectors) - 1) / 3.0)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)


def _checked(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ModelError(f"need an (N, D) array of vectors with N >= 1, got shape {vectors.shape}")
    if not np.all(np.isfinite(vectors)):
        raise ModelError("the vectors contain NaN or infinite values")
    return vectors
