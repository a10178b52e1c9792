"""Look-alikes by cosine similarity, exact and fast enough for 20,000 cutouts at a click.

Vectors are centred on their mean, then normalised once into one float32 matrix. Centring
matters: an autoencoder's or a ReLU layer's vectors share a large common offset, which
makes every raw cosine close to 1 and the ranking fragile. A query is then one matrix-vector
product and a partial sort, a few milliseconds at 20,000 x 512 (an approximate index would
save nothing at this size and could miss the best match).
"""

from __future__ import annotations

import numpy as np

from galaxy_studio.model.errors import ModelError


class SimilarityIndex:
    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ModelError(f"need an (N, D) array of vectors with N >= 1, got shape {vectors.shape}")
        if not np.all(np.isfinite(vectors)):
            raise ModelError("the vectors contain NaN or infinite values")
        vectors = vectors - vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # A zero vector has no direction; it stays zero and is similar to nothing (similarity 0).
        self._unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def __len__(self) -> int:
        return len(self._unit)

    def nearest(self, index: int, k: int = 12) -> tuple[np.ndarray, np.ndarray]:
        """(indices, cosine similarities) of the `k` most similar other vectors, most similar
        first (equal similarities in index order, so results are reproducible)."""
        if not 0 <= index < len(self._unit):
            raise IndexError(f"index {index} outside 0..{len(self._unit) - 1}")
        similarities = self._unit @ self._unit[index]
        similarities[index] = -np.inf
        k = max(0, min(k, len(self._unit) - 1))
        if k == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        candidates = np.argpartition(-similarities, k - 1)[:k]
        order = np.lexsort((candidates, -similarities[candidates]))
        chosen = candidates[order].astype(np.int64)
        return chosen, similarities[chosen].astype(np.float32)
