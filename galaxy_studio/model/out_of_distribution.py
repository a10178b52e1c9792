"""How unlike the training data an input looks to the network, as a score and a percentile.

A classifier's softmax always sums to one, so a CIFAR frog or a single-band FITS stamp gets a
confident-looking "62.6% non_spirals". The score here reads the network's penultimate features
instead. By default it is the Mahalanobis distance (Lee et al. 2018) to the nearest class mean
under one covariance shared by the classes, both fitted on the training split's features; when
the features are too wide for a covariance to be estimated from the training images, it is the
energy score (Liu et al. 2020), -logsumexp of the logits, which needs no fitting. Either way the
score is calibrated on the validation split: a new input's percentile says what share of
validation galaxies scored lower, and an input above the validation 99th percentile is flagged
(so about 1% of inputs like the training data are flagged by chance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from galaxy_studio.events import NEVER, CancelToken
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.prediction import predict_features_and_logits
from galaxy_studio.model.preprocessing import Preprocessing

OOD_METHODS = ("mahalanobis", "energy")
FLAG_PERCENTILE = 99.0
# A shared covariance of d features needs several times d images to be estimated; wider
# features (ConvNet-D3's 8192, fine-tuned VGG11's 4096) fall back to the energy score.
_IMAGES_PER_FEATURE = 2
# Ridge added to the covariance's diagonal, relative to its mean variance: keeps the inverse
# finite when features are collinear (ReLU features often are).
_SHRINKAGE = 1e-3
_PERCENTILES = np.linspace(0.0, 100.0, 201)


@dataclass(frozen=True)
class OodScorer:
    """A fitted score and its calibration: `quantiles` are the validation scores at
    `_PERCENTILES`, `threshold` the validation score above which an input is flagged."""

    method: str
    quantiles: tuple[float, ...]
    threshold: float
    class_means: tuple[tuple[float, ...], ...] = ()
    precision: tuple[tuple[float, ...], ...] = ()

    def scores(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """(N,) float64 scores; higher means less like the training data."""
        if self.method == "energy":
            return energy_scores(logits)
        return mahalanobis_scores(features, np.asarray(self.class_means), np.asarray(self.precision))

    def percentiles(self, scores: np.ndarray) -> np.ndarray:
        """The share (0 to 100) of validation galaxies that scored lower than each score."""
        return np.interp(scores, np.asarray(self.quantiles), _PERCENTILES)

    def flags(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) > self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "quantiles": list(self.quantiles),
            "threshold": self.threshold,
            "class_means": [list(row) for row in self.class_means],
            "precision": [list(row) for row in self.precision],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OodScorer:
        return cls(
            str(data["method"]),
            tuple(float(v) for v in data["quantiles"]),
            float(data["threshold"]),
            tuple(tuple(float(v) for v in row) for row in data.get("class_means", ())),
            tuple(tuple(float(v) for v in row) for row in data.get("precision", ())),
        )


def energy_scores(logits: np.ndarray) -> np.ndarray:
    """-logsumexp of the logits: low where the network is sure of some class, high elsewhere."""
    values = np.asarray(logits, np.float64)
    top = values.max(axis=1)
    return -(top + np.log(np.exp(values - top[:, None]).sum(axis=1)))


def mahalanobis_scores(features: np.ndarray, class_means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance from each feature vector to the nearest class mean."""
    values = np.asarray(features, np.float64)
    distances = []
    for mean in class_means:
        centred = values - mean
        distances.append(np.einsum("ij,jk,ik->i", centred, precision, centred))
    return np.min(np.stack(distances, axis=1), axis=1)


def choose_method(n_features: int, n_images: int) -> str:
    """Mahalanobis when the training images can pin down a covariance of the features."""
    return "mahalanobis" if n_images >= _IMAGES_PER_FEATURE * n_features else "energy"


def fit_ood_scorer(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_logits: np.ndarray,
    *,
    method: str | None = None,
) -> OodScorer:
    """Fit the score on the training features (Mahalanobis: class means and the shared
    covariance) and calibrate it on the validation split's features and logits."""
    if method is None:
        method = choose_method(train_features.shape[1], len(train_features))
    if method not in OOD_METHODS:
        raise ModelError(f"unknown out-of-distribution score {method!r}; choose {', '.join(OOD_METHODS)}")
    if len(val_features) == 0:
        raise ModelError("no validation images to calibrate the out-of-distribution score on")
    means: tuple[tuple[float, ...], ...] = ()
    precision: tuple[tuple[float, ...], ...] = ()
    if method == "mahalanobis":
        features = np.asarray(train_features, np.float64)
        labels = np.asarray(train_labels)
        class_ids = np.unique(labels)
        class_means = np.stack([features[labels == c].mean(axis=0) for c in class_ids])
        centred = features - class_means[np.searchsorted(class_ids, labels)]
        covariance = centred.T @ centred / max(len(features) - len(class_ids), 1)
        ridge = _SHRINKAGE * max(float(np.trace(covariance)) / len(covariance), 1e-12)
        inverse = np.linalg.pinv(covariance + ridge * np.eye(len(covariance)), hermitian=True)
        means = tuple(tuple(float(v) for v in row) for row in class_means)
        precision = tuple(tuple(float(v) for v in row) for row in inverse)
    unfitted = OodScorer(method, (), 0.0, means, precision)
    val_scores = unfitted.scores(val_features, val_logits)
    quantiles = np.percentile(val_scores, _PERCENTILES)
    threshold = float(np.percentile(val_scores, FLAG_PERCENTILE))
    return OodScorer(method, tuple(float(v) for v in quantiles), threshold, means, precision)


def calibrate_ood(
    model: nn.Module,
    prep: Preprocessing,
    train_pixels: np.ndarray,
    train_labels: np.ndarray,
    val_pixels: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    cancel: CancelToken = NEVER,
) -> OodScorer:
    """The scorer for a trained model, from its training and validation images
    (`extract_channels` output, centre crops at the network's size)."""
    train_features, _ = predict_features_and_logits(model, train_pixels, prep, device=device, cancel=cancel)
    val_features, val_logits = predict_features_and_logits(model, val_pixels, prep, device=device, cancel=cancel)
    return fit_ood_scorer(train_features, train_labels, val_features, val_logits)
