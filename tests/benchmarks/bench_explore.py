"""Benchmark: exploring N cutouts' embeddings (default 20,000 x 512, synthetic vectors).

Run: python tests/benchmarks/bench_explore.py [--n 20000] [--dim 512] [--skip-tsne]

Vectors come from 10 Gaussian clusters in a 20-dimensional subspace plus isotropic noise,
so that PCA, clustering and t-SNE see structure as in a real embedding. Times the similarity
index build and nearest() (median of 50 queries, the Explore panel's click), PCA keeping 95%
of the variance, k-means and spectral clustering at k=10, and the t-SNE and PCA 2-D maps.
Times are CPU seconds of the process (see `timed`). Prints one table; each time is also given
as a ratio to the PCA 2-D map measured in the same run, which travels between machines better than seconds do.
"""

from __future__ import annotations

import argparse
import importlib
import time

import numpy as np


def synthetic_vectors(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    centres = rng.normal(0, 3, (10, 20))
    latent = centres[labels] + rng.normal(0, 1, (n, 20))
    basis = np.linalg.qr(rng.normal(size=(dim, 20)))[0].T
    vectors = latent @ basis + rng.normal(0, 0.3, (n, dim))
    return vectors.astype(np.float32), labels


def timed(action) -> tuple[float, object]:
    """CPU seconds of this process: on a shared machine wall time mostly measures the other
    jobs. Run with OMP_NUM_THREADS=1 so that CPU time is also the single-core wall time."""
    started = time.process_time()
    result = action()
    return time.process_time() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--skip-tsne", action="store_true")
    parser.add_argument("--skip-clustering", action="store_true")
    args = parser.parse_args()

    from galaxy_studio.explore.clustering import cluster_embeddings, score_clusters
    from galaxy_studio.explore.projection import map_2d, reduce_pca
    from galaxy_studio.explore.similarity import SimilarityIndex

    for module in ("sklearn.cluster", "sklearn.decomposition", "sklearn.manifold"):
        importlib.import_module(module)  # imports cost seconds of CPU; none is timed

    vectors, labels = synthetic_vectors(args.n, args.dim)
    rows: list[tuple[str, float, str]] = []
    baseline, _ = timed(lambda: map_2d(vectors, "pca"))
    rows.append(("PCA 2-D map (baseline)", baseline, ""))
    build, index = timed(lambda: SimilarityIndex(vectors))
    rows.append(("similarity index build", build, ""))
    queries = np.random.default_rng(1).integers(0, args.n, 50)
    times = [timed(lambda q=int(q): index.nearest(q, 12))[0] for q in queries]
    rows.append(("nearest(k=12), median of 50", float(np.median(times)), f"max {max(times) * 1000:.1f} ms"))
    seconds, reduced = timed(lambda: reduce_pca(vectors, 0.95))
    rows.append(("PCA 95% variance", seconds, f"{reduced.shape[1]} components"))
    for method in () if args.skip_clustering else ("kmeans", "spectral"):
        seconds, clusters = timed(lambda m=method: cluster_embeddings(vectors, 10, m))
        score = score_clusters(clusters, labels)
        rows.append((f"{method} k=10", seconds, f"accuracy {score.accuracy:.3f}, ARI {score.ari:.3f}"))
    if not args.skip_tsne:
        seconds, _ = timed(lambda: map_2d(vectors, "tsne"))
        rows.append(("t-SNE 2-D map", seconds, ""))
    print(f"explore benchmark: {args.n} x {args.dim} synthetic vectors")
    print(f"{'step':32} {'CPU s':>9} {'x PCA map':>9}  notes")
    for name, seconds, note in rows:
        print(f"{name:32} {seconds:>9.4f} {seconds / baseline:>9.2f}  {note}")


if __name__ == "__main__":
    main()
