"""Embeddings: one vector per image, from a classifier, an autoencoder or a pretrained backbone.

An `Embeddings` holds the vectors with the images they describe and the labels known when
they were made; it is saved as a plain .npz (no pickle, so a shared file cannot run code)
and is what maps, clusters and look-alike search work on.
"""

from __future__ import annotations

import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.labelled import UNLABELLED, LabelledData
from galaxy_studio.events import NEVER, CancelToken, EventSink, Warned, ignore
from galaxy_studio.explore.inventory import open_inventory
from galaxy_studio.model.config import DEVICES
from galaxy_studio.model.errors import ModelError
from galaxy_studio.settings import check_ranges, registered, setting

EMBEDDINGS_FORMAT = "galaxy-studio-embeddings"
FORMAT_VERSION = 1
SOURCES: tuple[str, ...] = ("model", "autoencoder", "backbone")
_COLUMNS = (
    "format",
    "format_version",
    "vectors",
    "paths",
    "indices",
    "item_labels",
    "groups",
    "ra",
    "dec",
    "labels",
    "class_names",
    "source",
)


@registered
@dataclass(frozen=True)
class EmbedConfig:
    """How to embed DATA. `model` is a classifier checkpoint for source "model", or an
    autoencoder file for source "autoencoder" (None: train one on DATA, kept in the cache and
    reused). `size` and `crop_fraction` apply to the autoencoder and the backbone; a
    classifier reads images as it was trained to. `average_orientations` makes vectors
    invariant to right-angle rotations and flips (see encoders.OrientationAverage)."""

    data: str
    source: str = "autoencoder"
    model: str | None = None
    backbone: str | None = None
    weights_path: str | None = None
    size: int = setting(64, label="Image size", metavar="PX", help="autoencoder/backbone input size")
    crop_fraction: float = setting(
        0.5, label="Crop fraction", flag="--crop", metavar="FRACTION", help="central fraction kept"
    )
    device: str = setting("auto", label="Device", choices=DEVICES, help="auto: CUDA, then Apple MPS, then the CPU")
    batch_size: int = setting(128, label="Batch size", help="images per batch")
    threads: int | None = None
    latent: int = setting(64, label="Latent size", help="autoencoder bottleneck size")
    autoencoder_width: int = 32
    autoencoder_epochs: int = setting(
        30, label="Autoencoder epochs", flag="--epochs", help="autoencoder training epochs"
    )
    autoencoder_lr: float = 1e-3
    seed: int = setting(0, label="Seed", help="autoencoder initialisation and batch seed")
    average_orientations: bool = True
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ModelError(f"embedding source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "model" and not self.model:
            raise ModelError("source 'model' needs a classifier checkpoint", "pass {model} RUN_DIR or model.pt")
        if self.source == "backbone" and not self.backbone:
            raise ModelError(
                "source 'backbone' needs a torchvision network name", "pass {backbone} NAME, e.g. resnet18"
            )
        if self.size < 8 or self.batch_size < 1 or self.latent < 1 or self.autoencoder_epochs < 1:
            raise ModelError(
                f"size must be at least 8 px and batch size, latent size and epochs at least 1 (got {self.size}, "
                f"{self.batch_size}, {self.latent}, {self.autoencoder_epochs})"
            )
        if self.source == "autoencoder" and self.size % 8:
            raise ModelError(
                f"the autoencoder halves the image three times, so its size must be a multiple of 8 (got {self.size})"
            )
        check_ranges(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Embeddings:
    """(N, D) float32 vectors of `items`, labels into `class_names` (-1: unlabelled) and where
    the vectors came from, in words."""

    vectors: np.ndarray
    items: tuple[CatalogItem, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.items) or len(self.labels) != len(self.items):
            raise ValueError(
                f"{len(self.items)} items need (N, D) vectors and N labels; got vectors {self.vectors.shape} "
                f"and {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_labels(self) -> bool:
        return bool(np.any(self.labels >= 0))

    def with_labels(self, inventory: LabelledData) -> Embeddings:
        """The same vectors with the labels `inventory` has now for the same images: labels change
        far more often than pictures, and must not make cached vectors stale."""
        current = {(item.path, item.index): int(label) for item, label in zip(inventory.items, inventory.labels)}
        labels = np.array([current.get((item.path, item.index), UNLABELLED) for item in self.items], dtype=np.int64)
        return Embeddings(self.vectors, self.items, labels, inventory.classes, self.source)

    def save(self, path: str | Path) -> None:
        """Atomically, as plain arrays: items become columns, None becomes -1, "" or NaN."""
        columns: dict[str, Any] = {
            "format": np.array(EMBEDDINGS_FORMAT),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "vectors": np.ascontiguousarray(self.vectors, dtype=np.float32),
            "paths": np.array([item.path for item in self.items], dtype=str),
            "indices": np.array([-1 if item.index is None else item.index for item in self.items], dtype=np.int64),
            "item_labels": np.array([item.label or "" for item in self.items], dtype=str),
            "groups": np.array([item.group for item in self.items], dtype=str),
            "ra": np.array([np.nan if item.ra is None else item.ra for item in self.items], dtype=np.float64),
            "dec": np.array([np.nan if item.dec is None else item.dec for item in self.items], dtype=np.float64),
            "labels": np.asarray(self.labels, dtype=np.int64),
            "class_names": np.array(self.class_names, dtype=str),
            "source": np.array(self.source),
        }
        write_atomically(path, lambda stream: np.savez(stream, **columns))

    @classmethod
    def load(cls, path: str | Path) -> Embeddings:
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: {'is a folder' if path.is_dir() else 'no such embeddings file'}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                missing = [name for name in _COLUMNS if name not in archive.files]
                if "format" not in missing and str(archive["format"]) != EMBEDDINGS_FORMAT:
                    raise ModelError(f"{path}: not a Galaxy Studio embeddings file (format {str(archive['format'])!r})")
                if missing:
                    raise ModelError(f"{path}: not a Galaxy Studio embeddings file (no {', '.join(missing[:3])})")
                if int(archive["format_version"]) > FORMAT_VERSION:
                    raise ModelError(f"{path}: written by a newer Galaxy Studio; update to read it")
                columns = {name: archive[name] for name in _COLUMNS}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
            raise ModelError(
                f"{path}: not a Galaxy Studio embeddings file (damaged or another kind of file: {exc})"
            ) from None
        return _from_columns(path, columns)


def _from_columns(path: Path, columns: dict[str, np.ndarray]) -> Embeddings:
    vectors = columns["vectors"]
    n = len(columns["paths"])
    lengths = {name: len(columns[name]) for name in ("indices", "item_labels", "groups", "ra", "dec", "labels")}
    if vectors.ndim != 2 or len(vectors) != n or any(length != n for length in lengths.values()):
        raise ModelError(f"{path}: damaged embeddings file (vectors {vectors.shape} for {n} images)")
    if not np.issubdtype(vectors.dtype, np.floating) or not np.all(np.isfinite(vectors)):
        raise ModelError(f"{path}: damaged embeddings file (vectors are not finite numbers)")
    class_names = tuple(str(name) for name in columns["class_names"])
    labels = columns["labels"].astype(np.int64)
    if len(labels) and (labels.min() < UNLABELLED or labels.max() >= len(class_names)):
        raise ModelError(f"{path}: damaged embeddings file (labels outside the {len(class_names)} classes)")
    items = tuple(
        CatalogItem(
            str(file),
            index=None if index < 0 else int(index),
            label=str(label) or None,
            group=str(group),
            ra=None if np.isnan(ra) else float(ra),
            dec=None if np.isnan(dec) else float(dec),
        )
        for file, index, label, group, ra, dec in zip(
            columns["paths"],
            columns["indices"],
            columns["item_labels"],
            columns["groups"],
            columns["ra"],
            columns["dec"],
        )
    )
    return Embeddings(vectors.astype(np.float32, copy=False), items, labels, class_names, str(columns["source"]))


def embed(config: EmbedConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> Embeddings:
    """Vectors for every image of `config.data`, from the cache when neither the images nor the
    model file changed since they were computed, else computed (and cached)."""
    from galaxy_studio.explore.cache import cache_key, read_cached, write_cached
    from galaxy_studio.explore.encoders import encoder_identity, open_encoder
    from galaxy_studio.explore.encoding import encode_items

    inventory = open_inventory(config.data)
    for note in inventory.notes:
        emit(Warned(f"{config.data}: {note}"))
    identity = encoder_identity(config, inventory)
    key = cache_key(inventory, config, identity)
    if config.use_cache:
        cached = read_cached(key)
        if cached is not None:
            return cached.with_labels(inventory)
    encoder = open_encoder(config, inventory, emit=emit, cancel=cancel)
    vectors, kept = encode_items(
        inventory.items,
        encoder.prep,
        encoder.network,
        device=encoder.device,
        batch_size=config.batch_size,
        threads=config.threads,
        emit=emit,
        cancel=cancel,
    )
    if not kept:
        raise ModelError(f"{config.data}: no image could be read, so nothing was embedded")
    result = Embeddings(
        vectors, tuple(inventory.items[i] for i in kept), inventory.labels[kept], inventory.classes, encoder.description
    )
    if config.use_cache:
        # An autoencoder trained just now has a file that did not exist when the key was made.
        problem = write_cached(cache_key(inventory, config, encoder_identity(config, inventory)), result)
        if problem:
            emit(Warned(problem))
    return result
