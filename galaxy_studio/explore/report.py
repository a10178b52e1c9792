"""The clustering report the CLI prints: each method and k with its scores beside the
majority-class baseline, so that chance is never mistaken for skill."""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from galaxy_studio.explore.clustering import cluster_embeddings, score_clusters
from galaxy_studio.explore.embeddings import Embeddings


def clustering_report(
    embeddings: Embeddings, ks: Sequence[int], methods: Sequence[str], seed: int = 0
) -> list[dict[str, Any]]:
    """One row per (method, k): cluster sizes, seconds, and the score when labels are known."""
    importlib.import_module("sklearn.cluster")  # before timing: the import alone takes seconds

    rows = []
    for method in methods:
        for k in ks:
            started = time.perf_counter()
            clusters = cluster_embeddings(embeddings.vectors, k, method, seed)
            seconds = time.perf_counter() - started
            score = score_clusters(clusters, embeddings.labels) if embeddings.has_labels else None
            rows.append(
                {
                    "method": method,
                    "k": int(k),
                    "n": len(embeddings),
                    "seconds": round(seconds, 3),
                    "sizes": np.bincount(clusters, minlength=k).tolist(),
                    "score": None
                    if score is None
                    else {**asdict(score), "mapping": {str(c): int(v) for c, v in score.mapping.items()}},
                }
            )
    return rows


def format_report(rows: Sequence[dict[str, Any]], class_names: Sequence[str]) -> str:
    """A plain-text table; without labels, the cluster sizes only."""
    if not rows:
        return ""
    if rows[0]["score"] is None:
        return "\n".join(f"{row['method']:8} k={row['k']:<3} sizes {row['sizes']}" for row in rows)
    labelled = rows[0]["score"]["n_labelled"]
    lines = [
        f"{labelled} labelled of {rows[0]['n']} images, {len(class_names)} classes ({', '.join(class_names)})",
        f"{'method':8} {'k':>3} {'accuracy':>8} {'majority':>8} {'purity':>6} {'ARI':>6} {'NMI':>6} {'seconds':>7}",
    ]
    for row in rows:
        score = row["score"]
        lines.append(
            f"{row['method']:8} {row['k']:>3} {score['accuracy']:>8.3f} {score['majority_baseline']:>8.3f} "
            f"{score['purity']:>6.3f} {score['ari']:>6.3f} {score['nmi']:>6.3f} {row['seconds']:>7.2f}"
        )
    lines.append(
        "accuracy: clusters matched one-to-one to classes (Hungarian); majority: always guessing the "
        "largest class; purity: each cluster votes for its majority class (rises with k); ARI and NMI "
        "are 0 for chance"
    )
    return "\n".join(lines)
