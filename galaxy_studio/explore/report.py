"""The clustering report the CLI prints: each method and k with its scores beside the
majority-class baseline, so that chance is never mistaken for skill; and the table of each
image's clusters that `cluster --out` writes."""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_studio.data.catalog import item_position
from galaxy_studio.data.tables import DEC_COLUMN, RA_COLUMN, TableColumn, build_table
from galaxy_studio.explore.clustering import PCA_VARIANCE, cluster_embeddings, score_clusters
from galaxy_studio.explore.embeddings import Embeddings
from galaxy_studio.path_text import to_text

if TYPE_CHECKING:
    from astropy.table import Table


@dataclass(frozen=True)
class Clustering:
    """One method and k's cluster id per image (0..k-1) and the seconds it took."""

    method: str
    k: int
    clusters: np.ndarray
    seconds: float

    @property
    def column(self) -> str:
        return f"cluster_{self.method}_k{self.k}"


def run_clusterings(
    embeddings: Embeddings, ks: Sequence[int], methods: Sequence[str], seed: int = 0
) -> list[Clustering]:
    """Every method with every k, timed."""
    importlib.import_module("sklearn.cluster")  # before timing: the import alone takes seconds

    done = []
    for method in methods:
        for k in ks:
            started = time.perf_counter()
            clusters = cluster_embeddings(embeddings.vectors, k, method, seed)
            done.append(Clustering(method, int(k), clusters, time.perf_counter() - started))
    return done


def clustering_report(embeddings: Embeddings, clusterings: Sequence[Clustering]) -> list[dict[str, Any]]:
    """One row per (method, k): cluster sizes, seconds, and the score when labels are known."""
    rows = []
    for clustering in clusterings:
        score = score_clusters(clustering.clusters, embeddings.labels) if embeddings.has_labels else None
        rows.append(
            {
                "method": clustering.method,
                "k": clustering.k,
                "n": len(embeddings),
                "seconds": round(clustering.seconds, 3),
                "sizes": np.bincount(clustering.clusters, minlength=clustering.k).tolist(),
                "score": None
                if score is None
                else {**asdict(score), "mapping": {str(c): int(v) for c, v in score.mapping.items()}},
            }
        )
    return rows


def clusters_table(embeddings: Embeddings, clusterings: Sequence[Clustering]) -> Table:
    """One row per image: its file, HDF5 row, label, position (the catalogue's, else a FITS
    file's WCS centre) and its cluster under each method and k."""
    columns = [
        TableColumn("path", str, None, "the image file (a file: URI where its name is not text)"),
        TableColumn("index", int, None, "the image's row in an HDF5 file; empty for an image file"),
        TableColumn("label", str, None, "the image's class, where labelled"),
        RA_COLUMN,
        DEC_COLUMN,
        *(
            TableColumn(
                clustering.column,
                int,
                None,
                f"cluster (0 to {clustering.k - 1}) by {clustering.method} with k={clustering.k} "
                f"on the PCA of the embeddings ({PCA_VARIANCE:.0%} of the variance)",
            )
            for clustering in clusterings
        ),
    ]
    rows = []
    for number, item in enumerate(embeddings.items):
        label = int(embeddings.labels[number])
        position = item_position(item) or (None, None)
        rows.append(
            (
                to_text(item.path),
                item.index,
                embeddings.class_names[label] if label >= 0 else None,
                *position,
                *(int(clustering.clusters[number]) for clustering in clusterings),
            )
        )
    return build_table(rows, columns, meta={"SOURCE": embeddings.source})


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
