"""The Explore tab's jobs, for its JobRunner: embedding and mapping the data, another
projection, clustering, labelling a batch and taking the last batch back.

Each job hands back one frozen result, so the panel's callback gets all it shows in one
value and a worker never touches a widget. The core modules are imported when a job is
made, in the GUI thread, as the panel did before it started the job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.explore.clustering import ClusterScore
from galaxy_studio.gui.worker import Job
from galaxy_studio.labels.errors import ProjectError

if TYPE_CHECKING:
    from galaxy_studio.explore.embeddings import EmbedConfig, Embeddings
    from galaxy_studio.explore.similarity import SimilarityIndex
    from galaxy_studio.labels.records import BatchUndone
    from galaxy_studio.labels.session import LabellingSession


@dataclass(frozen=True)
class MappedEmbeddings:
    """An embedding with its 2-D map and the index that finds each cutout's neighbours."""

    embeddings: Embeddings
    xy: np.ndarray
    index: SimilarityIndex


@dataclass(frozen=True)
class Clustering:
    """Cluster numbers per cutout, their score against the labels (None: nothing labelled),
    and the method and k that made them."""

    clusters: np.ndarray
    score: ClusterScore | None
    method: str
    k: int


@dataclass(frozen=True)
class LabelledBatch:
    """How many cutouts were saved with `class_name` (all or none: one transaction), and
    what stopped them (empty: nothing did)."""

    class_name: str
    saved: int
    problem: str


@dataclass(frozen=True)
class UndoneBatch:
    """What taking back the last batch did (None: nothing, because of `problem`)."""

    undone: BatchUndone | None
    problem: str


def mapping_job(config: EmbedConfig, method: str) -> Job[MappedEmbeddings]:
    """Embed the data of `config`, map the vectors with the projection `method` and index them."""
    from galaxy_studio.explore.embeddings import embed
    from galaxy_studio.explore.projection import map_2d
    from galaxy_studio.explore.similarity import SimilarityIndex

    def job(emit: EventSink, cancel: CancelToken) -> MappedEmbeddings:
        embeddings = embed(config, emit=emit, cancel=cancel)
        xy = map_2d(embeddings.vectors, method, emit=emit, cancel=cancel)
        return MappedEmbeddings(embeddings, xy, SimilarityIndex(embeddings.vectors))

    return job


def projection_job(vectors: np.ndarray, method: str) -> Job[np.ndarray]:
    from galaxy_studio.explore.projection import map_2d

    def job(emit: EventSink, cancel: CancelToken) -> np.ndarray:
        return map_2d(vectors, method, emit=emit, cancel=cancel)

    return job


def clustering_job(vectors: np.ndarray, labels: np.ndarray, k: int, method: str) -> Job[Clustering]:
    """Scored against `labels` only where some are given: with none, a score means nothing."""
    from galaxy_studio.explore.clustering import cluster_embeddings, score_clusters

    def job(emit: EventSink, cancel: CancelToken) -> Clustering:
        clusters = cluster_embeddings(vectors, k, method)
        score = score_clusters(clusters, labels) if np.any(labels >= 0) else None
        return Clustering(clusters, score, method, k)

    return job


def labelling_job(session: LabellingSession, items: Sequence[CatalogItem], class_name: str) -> Job[LabelledBatch]:
    def job(emit: EventSink, cancel: CancelToken) -> LabelledBatch:
        try:
            session.add_and_label(items, class_name, emit=emit, cancel=cancel)
        except ProjectError as error:
            return LabelledBatch(class_name, 0, f"Labels NOT saved for {counted(len(items), 'cutout')}: {error}")
        return LabelledBatch(class_name, len(items), "")

    return job


def undo_batch_job(session: LabellingSession) -> Job[UndoneBatch]:
    def job(emit: EventSink, cancel: CancelToken) -> UndoneBatch:
        try:
            return UndoneBatch(session.undo_batch(), "")
        except ProjectError as error:
            return UndoneBatch(None, f"Undo batch failed, no label was taken back: {error}")

    return job
