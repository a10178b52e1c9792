"""Real images as flat vectors in [0, 1] for the dense autoencoder of unsupervised distillation.

Two kinds of source: IDX files (MNIST: a folder with "train" and "t10k" pairs, or one images
file with its labels beside it) and anything `load_labelled_data` reads (galaxy folders,
projects, CSV, Galaxy10 HDF5), cropped and resized like the classifiers' input. The values stay
in [0, 1] rather than being standardised: the decoder ends in a sigmoid, and the synthetic set
is pictures that must be shown as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import read_item
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.idx import IdxError, IdxPair, companion_pair, find_idx_pairs, is_idx_source, read_idx_pair
from galaxy_studio.events import NEVER, CancelToken, EventSink, Warned, ignore
from galaxy_studio.model.datasets import load_labelled_data, prepare_pixels, stratified_split
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import choose_preprocessing

# MNIST's held-out set is its "t10k" pair; with it present, the training pair is split only into train and val.
_TEST_STEMS = ("t10k", "test")


@dataclass(frozen=True)
class FlatData:
    """float32 (N, C*H*W) images in [0, 1] with int64 labels, split three ways; `shape` is (C, H, W)."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    test_source: str

    @property
    def features(self) -> int:
        return int(np.prod(self.shape))


def load_flat_data(
    data: str | Path,
    *,
    size: int,
    crop_fraction: float,
    colour: bool,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> FlatData:
    """Train/val/test flat images of `data`. An IDX folder with a "t10k"/"test" pair keeps it
    as the test set (MNIST's own protocol); every other source is split, stratified and seeded."""
    path = Path(data)
    if not path.exists():
        raise ModelError(f"{path}: no such file or folder")
    try:
        if is_idx_source(path):
            return _idx_data(path, val_fraction, test_fraction, seed)
    except IdxError as exc:
        raise ModelError(str(exc)) from exc
    return _catalog_data(path, size, crop_fraction, colour, val_fraction, test_fraction, seed, emit, cancel)


def _idx_data(path: Path, val_fraction: float, test_fraction: float, seed: int) -> FlatData:
    pairs = find_idx_pairs(path) if path.is_dir() else [companion_pair(path)]
    tests = [pair for pair in pairs if pair.stem in _TEST_STEMS]
    trains = [pair for pair in pairs if pair.stem not in _TEST_STEMS]
    if not trains:
        trains, tests = tests, []
    images, labels = _idx_arrays(trains[0])
    if tests:
        test_x, test_y = _idx_arrays(tests[0])
        if test_x.shape[1:] != images.shape[1:]:
            raise ModelError(
                f"{tests[0].images}: images of shape {test_x.shape[1:]}, "
                f"but {trains[0].images.name} has {images.shape[1:]}"
            )
        train, val, _ = stratified_split(labels, (1.0 - val_fraction, val_fraction, 0.0), seed)
        test_source = str(tests[0].images)
    else:
        train, val, test = stratified_split(
            labels, (1.0 - val_fraction - test_fraction, val_fraction, test_fraction), seed
        )
        test_x, test_y = images[test], labels[test]
        test_source = f"{test_fraction:g} of {trains[0].images}"
    n_classes = int(max(labels.max(), test_y.max())) + 1
    shape = (int(images.shape[1]), int(images.shape[2]), int(images.shape[3]))
    return FlatData(
        _flat(images[train]),
        labels[train],
        _flat(images[val]),
        labels[val],
        _flat(test_x),
        test_y,
        shape,
        tuple(str(i) for i in range(n_classes)),
        test_source,
    )


def _idx_arrays(pair: IdxPair) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, H, W) float32 in [0, 1] and labels: integers are read as 8-bit grey levels,
    floats must already lie in [0, 1]."""
    images, labels = read_idx_pair(pair)
    if labels.min() < 0:
        raise ModelError(f"{pair.labels}: negative class label {int(labels.min())}")
    if np.issubdtype(images.dtype, np.integer):
        values = images.astype(np.float32) / 255.0
    else:
        values = images.astype(np.float32)
        if not np.isfinite(values).all():
            raise ModelError(f"{pair.images}: holds NaN or infinite values")
        if values.min() < 0.0 or values.max() > 1.0:
            raise ModelError(
                f"{pair.images}: float images must lie in [0, 1], found [{values.min():g}, {values.max():g}]"
            )
    channels_last = values[..., None] if values.ndim == 3 else values
    return np.ascontiguousarray(channels_last.transpose(0, 3, 1, 2)), labels


def _flat(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)


def _catalog_data(
    path: Path,
    size: int,
    crop_fraction: float,
    colour: bool,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    emit: EventSink,
    cancel: CancelToken,
) -> FlatData:
    labelled = load_labelled_data(path)
    for note in labelled.notes:
        emit(Warned(f"{labelled.source}: {note}"))
    try:
        sample = read_item(labelled.items[0], max_side=256)
    except CutoutError as exc:
        raise ModelError(str(exc)) from exc
    prep = choose_preprocessing(sample, size=size, crop_fraction=crop_fraction, channels="display")
    pixels, failed = prepare_pixels(labelled.items, prep, what="decoding images", emit=emit, cancel=cancel)
    keep = np.setdiff1d(np.arange(len(labelled)), failed)
    if len(keep) < 3:
        raise ModelError(f"{path}: only {counted(len(keep), 'readable image')}; need at least 3 to split")
    images = pixels[keep].astype(np.float32) / 255.0
    if not colour:
        images = images.mean(axis=1, keepdims=True)
    labels = labelled.labels[keep]
    train, val, test = stratified_split(labels, (1.0 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    if min(len(train), len(val), len(test)) == 0:
        raise ModelError(
            f"{path}: {len(keep)} images are too few for a train/val/test split ({len(train)}/{len(val)}/{len(test)})"
        )
    shape = (int(images.shape[1]), int(images.shape[2]), int(images.shape[3]))
    return FlatData(
        _flat(images[train]),
        labels[train],
        _flat(images[val]),
        labels[val],
        _flat(images[test]),
        labels[test],
        shape,
        labelled.classes,
        f"{test_fraction:g} of {path}",
    )
