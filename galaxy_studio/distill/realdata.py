"""The real images behind a buffer, decoded once and split the same way every time.

Experts, distillation and evaluation must all read the same pixels: the same split (seeded,
stratified), the same normalisation (measured on the buffer's training split) and the same
whitening. The buffer records them; later jobs pass that record back in and get identical
arrays, or an error when the data changed since the buffer was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galaxy_studio.data.catalog import read_item
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.labelled import LabelledData
from galaxy_studio.distill.init import ZcaWhitening, zca_wanted
from galaxy_studio.events import NEVER, CancelToken, EventSink, Warned, ignore
from galaxy_studio.model.datasets import load_labelled_data, prepare_pixels, stratified_split
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing, channel_statistics, choose_preprocessing, normalise


@dataclass(frozen=True)
class RealData:
    """Network-ready float32 (N, C, H, W) arrays (normalised, whitened when `zca` is set)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]
    prep: Preprocessing
    fingerprint: str
    zca: ZcaWhitening | None

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def load_real_data(
    data: str | Path,
    *,
    size: int,
    crop_fraction: float = 0.5,
    channels: str = "display",
    test_fraction: float,
    seed: int,
    prep: Preprocessing | None = None,
    zca: ZcaWhitening | None = None,
    fit_zca: bool | None = False,
    zca_epsilon: float = 0.1,
    fingerprint: str | None = None,
    classes: tuple[str, ...] | None = None,
    threads: int | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> RealData:
    """Decode, split (train, test) and prepare `data`.

    A new buffer passes no `prep` (it is chosen on the first training image and its
    statistics measured on the training split) and `fit_zca` (True, False, or None: where the
    matrix is small, `zca_wanted`) with its regulariser; later jobs pass the buffer's `prep`,
    `zca`, `fingerprint` and `classes`, which must still fit.
    """
    labelled = load_labelled_data(data, classes=classes)
    for note in labelled.notes:
        emit(Warned(f"{labelled.source}: {note}"))
    if fingerprint is not None and labelled.fingerprint() != fingerprint:
        raise ModelError(
            f"{data}: the images or labels differ from those the buffer was trained on "
            "(its split could not be rebuilt); use the buffer's data or build a new buffer"
        )
    train_idx, _, test_idx = stratified_split(labelled.labels, (1.0 - test_fraction, 0.0, test_fraction), seed)
    if prep is None:
        try:
            sample = read_item(labelled.items[int(train_idx[0])], max_side=256)
        except CutoutError as exc:
            raise ModelError(str(exc)) from exc
        prep = choose_preprocessing(sample, size=size, crop_fraction=crop_fraction, channels=channels)
    whiten = zca is None and zca_wanted(fit_zca, prep.n_channels * prep.size * prep.size, prep.channels)
    train_pixels, train_labels = _decoded(labelled, train_idx, prep, threads, "decoding training images", emit, cancel)
    test_pixels, test_labels = _decoded(labelled, test_idx, prep, threads, "decoding test images", emit, cancel)
    if len(train_labels) == 0 or len(test_labels) == 0:
        raise ModelError(f"{data}: no readable image in the training or the test split")
    if prep.mean is None:
        prep = prep.with_statistics(*channel_statistics(train_pixels, prep))
    train_images, test_images = normalise(train_pixels, prep), normalise(test_pixels, prep)
    if whiten:
        zca = ZcaWhitening.fit(train_images, zca_epsilon)
    if zca is not None:
        if zca.mean.size != train_images[0].size:
            raise ModelError(
                f"the buffer's ZCA transform is for {zca.mean.size} values per image, "
                f"these images have {train_images[0].size}"
            )
        train_images, test_images = zca.whiten(train_images), zca.whiten(test_images)
    return RealData(
        train_images, train_labels, test_images, test_labels, labelled.classes, prep, labelled.fingerprint(), zca
    )


def _decoded(
    labelled: LabelledData,
    indices: np.ndarray,
    prep: Preprocessing,
    threads: int | None,
    what: str,
    emit: EventSink,
    cancel: CancelToken,
) -> tuple[np.ndarray, np.ndarray]:
    items = [labelled.items[int(i)] for i in indices]
    pixels, failed = prepare_pixels(items, prep, threads=threads, what=what, emit=emit, cancel=cancel)
    keep = np.setdiff1d(np.arange(len(items)), failed)
    return pixels[keep], labelled.labels[indices][keep]
