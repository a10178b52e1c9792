"""Where synthetic images start, and the optional ZCA whitening of the space they live in.

MTT starts from random real images of each class ("real") or from noise; the per-class mean
image ("mean") is STM's strongest simple baseline and a smooth start. ZCA whitening (MTT and
STM use it on CIFAR with a regulariser of 0.1) decorrelates neighbouring pixels, so that
matching is not dominated by the low frequencies; images must be unwhitened to be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.model.errors import ModelError

# Whitening multiplies every image by a (values x values) matrix found by an eigendecomposition.
# At 32 px in colour (3,072 values) that takes seconds and 38 MB; at 64 px in colour (12,288)
# minutes and 600 MB for the matrix alone, so only a user who asks gets it; beyond, it is refused.
ZCA_AUTO_MAX_VALUES = 4096
ZCA_MAX_VALUES = 12288


@dataclass(frozen=True)
class ZcaWhitening:
    """x_white = (x - mean) @ matrix, x = x_white @ inverse + mean, on flattened (C*H*W) images.
    matrix = U diag(1/sqrt(s + eps)) U^T from the eigen-decomposition of the training
    covariance; the regulariser eps keeps near-empty directions (noise) from blowing up."""

    mean: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray

    @classmethod
    def fit(cls, images: np.ndarray, epsilon: float = 0.1) -> ZcaWhitening:
        flat = images.reshape(len(images), -1).astype(np.float64)
        mean = flat.mean(axis=0)
        centred = flat - mean
        covariance = centred.T @ centred / max(len(flat) - 1, 1)
        values, vectors = np.linalg.eigh(covariance)
        values = np.clip(values, 0.0, None) + epsilon
        matrix = (vectors / np.sqrt(values)) @ vectors.T
        inverse = (vectors * np.sqrt(values)) @ vectors.T
        return cls(mean.astype(np.float32), matrix.astype(np.float32), inverse.astype(np.float32))

    def whiten(self, images: np.ndarray) -> np.ndarray:
        flat = images.reshape(len(images), -1).astype(np.float32)
        return ((flat - self.mean) @ self.matrix).reshape(images.shape).astype(np.float32)

    def unwhiten(self, images: np.ndarray) -> np.ndarray:
        flat = images.reshape(len(images), -1).astype(np.float32)
        return (flat @ self.inverse + self.mean).reshape(images.shape).astype(np.float32)

    def save(self, path: str | Path) -> None:
        write_atomically(
            path, lambda stream: np.savez(stream, mean=self.mean, matrix=self.matrix, inverse=self.inverse)
        )

    @classmethod
    def load(cls, path: str | Path) -> ZcaWhitening:
        try:
            with np.load(path) as stored:
                return cls(stored["mean"], stored["matrix"], stored["inverse"])
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: not a ZCA transform saved by galaxy-studio ({exc})") from exc


def initial_images(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    n_classes: int,
    ipc: int,
    mode: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(images (n_classes*ipc, C, H, W) float32, labels) grouped by class, in the space the
    network reads (normalised, whitened if the buffer is).

    "real": `ipc` distinct random training images per class (with repeats only if the class
    has fewer); "mean": the class mean, plus a little noise when ipc > 1 so that the copies
    can learn different things; "noise": standard normal, the scale of normalised pixels.
    """
    images, labels = [], []
    for label in range(n_classes):
        members = np.flatnonzero(train_labels == label)
        if len(members) == 0:
            raise ModelError(f"class {label} has no training images to start its synthetic images from")
        if mode == "real":
            chosen = rng.choice(members, size=ipc, replace=len(members) < ipc)
            images.append(train_images[chosen])
        elif mode == "mean":
            mean = train_images[members].mean(axis=0, keepdims=True)
            jitter = 0.0 if ipc == 1 else 0.1 * rng.standard_normal((ipc, *mean.shape[1:]))
            images.append(np.repeat(mean, ipc, axis=0) + jitter)
        elif mode == "noise":
            images.append(rng.standard_normal((ipc, *train_images.shape[1:])))
        else:
            raise ModelError(f"unknown init {mode!r}; choose real, mean or noise")
        labels.append(np.full(ipc, label, dtype=np.int64))
    return np.concatenate(images).astype(np.float32), np.concatenate(labels)


def class_mean_images(train_images: np.ndarray, train_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One mean image per class (the evaluation's "class_mean" baseline)."""
    return np.stack([train_images[train_labels == label].mean(axis=0) for label in range(n_classes)]).astype(np.float32)


def zca_wanted(choice: bool | None, values: int, channels: str) -> bool:
    """Whether to whiten images of `values` values (channels x height x width) read in
    `channels` mode: as chosen, or, for None, displayed pictures where the matrix is small.
    FITS bands are read as asinh of each pixel's signal-to-noise, so the sky's noise has unit
    variance in every pixel, and whitening lifts that noise floor to the galaxies' level: on
    procedural g/r/z galaxies and on faint point sources it cut the experts' accuracy from 53%
    to 40% and from 41% to 36% (docs/science/distillation.md), so bands are not whitened
    unless asked."""
    if choice is None:
        return channels == "display" and values <= ZCA_AUTO_MAX_VALUES
    if choice and values > ZCA_MAX_VALUES:
        matrix_mb = values * values * 4 / 1e6
        raise ModelError(
            f"ZCA whitening of {values:,} values per image needs a {values:,} x {values:,} matrix "
            f"({matrix_mb:,.0f} MB, twice over)",
            f"whiten at most {ZCA_MAX_VALUES:,} values (64 px in colour): a smaller {{size}}, or {{zca}} off",
        )
    return choice
