"""How unlike the training data an input looks to the network, as a score and a percentile.

A classifier's softmax always sums to one, so a CIFAR frog or a single-band FITS stamp gets a
confident-looking "62.6% non_spirals". The score here reads the network's penultimate features
instead: the squared Mahalanobis distance (Lee et al. 2018) to the nearest class mean under one
covariance shared by the classes, both fitted on the training split's features. Features wider
than the training images can pin down (ConvNet-D3's 8192, fine-tuned VGG11's 4096) get the
covariance of probabilistic PCA: the leading principal directions as measured, the rest one
shared variance, so the distance still counts what lies outside the leading directions and the
checkpoint stores a thin matrix rather than a square one. The energy score (Liu et al. 2020),
-logsumexp of the logits, is kept for comparison: on a small galaxy-cnn trained on gz-spiral it
ranked CIFAR-10, MNIST and FITS stamps below the held-out galaxies (AUROC 0.08 to 0.24, where
the distance reached 0.95 to 1.0; tests/benchmarks/bench_ood.py), so it is not the default.

Either way the score is calibrated on the validation split: a new input's percentile says what
share of validation galaxies scored lower, and an input is flagged above the validation score
that leaves at most 1% of inputs like them above it. n validation scores can promise that only
from n = 99 on: a new galaxy like them outranks all n with probability 1/(n + 1), so below that
the threshold is the highest validation score and about 1 in n + 1 ordinary galaxies is flagged
(1 in 10 for the 9 validation galaxies of a project with 60 labels); the reason given for a
flag says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from galaxy_studio.count_text import counted
from galaxy_studio.events import NEVER, CancelToken
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.prediction import predict_features_and_logits
from galaxy_studio.model.preprocessing import Preprocessing

OOD_METHODS = ("mahalanobis", "energy")
FLAG_PERCENTILE = 99.0
# Above this chance of flagging an ordinary galaxy, the reason for a flag says how few
# validation galaxies calibrated it.
_FEW_VALIDATION_RATE = 0.02
# Principal directions measured one by one: at most one per this many training images, at
# most _MAX_DIRECTIONS, and no more than _STORED_VALUES numbers in all. The checkpoint holds
# them as plain lists, which load at about 1 s per million (ConvNet-D3 at 64 px has 8192
# features: 32 directions).
_IMAGES_PER_DIRECTION = 2
_MAX_DIRECTIONS = 128
_STORED_VALUES = 1 << 18
# Floor on a direction's variance, relative to the mean variance: keeps the distance finite
# when features are collinear (ReLU features often are).
_SHRINKAGE = 1e-3
_PERCENTILES = np.linspace(0.0, 100.0, 201)


@dataclass(frozen=True)
class OodScorer:
    """A fitted score and its calibration: `quantiles` are the validation scores at
    `_PERCENTILES`, `threshold` the validation score above which an input is flagged and
    `validation_images` how many validation scores set it (0: not recorded, in checkpoints
    saved before it was). For the distance, `directions` (k, features) and `variances` (k,) are
    the leading principal directions of the within-class spread and `residual_variance` the
    spread left outside them."""

    method: str
    quantiles: tuple[float, ...]
    threshold: float
    class_means: tuple[tuple[float, ...], ...] = ()
    directions: tuple[tuple[float, ...], ...] = ()
    variances: tuple[float, ...] = ()
    residual_variance: float = 1.0
    validation_images: int = 0

    def scores(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """(N,) float64 scores; higher means less like the training data."""
        if self.method == "energy":
            return energy_scores(logits)
        return mahalanobis_scores(
            features,
            np.asarray(self.class_means),
            np.asarray(self.directions),
            np.asarray(self.variances),
            self.residual_variance,
        )

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
            "directions": [list(row) for row in self.directions],
            "variances": list(self.variances),
            "residual_variance": self.residual_variance,
            "validation_images": self.validation_images,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OodScorer:
        return cls(
            str(data["method"]),
            tuple(float(v) for v in data["quantiles"]),
            float(data["threshold"]),
            tuple(tuple(float(v) for v in row) for row in data.get("class_means", ())),
            tuple(tuple(float(v) for v in row) for row in data.get("directions", ())),
            tuple(float(v) for v in data.get("variances", ())),
            float(data.get("residual_variance", 1.0)),
            int(data.get("validation_images", 0)),
        )


def energy_scores(logits: np.ndarray) -> np.ndarray:
    """-logsumexp of the logits: low where the network is sure of some class, high elsewhere."""
    values = np.asarray(logits, np.float64)
    top = values.max(axis=1)
    return -(top + np.log(np.exp(values - top[:, None]).sum(axis=1)))


def mahalanobis_scores(
    features: np.ndarray,
    class_means: np.ndarray,
    directions: np.ndarray,
    variances: np.ndarray,
    residual_variance: float,
) -> np.ndarray:
    """Squared Mahalanobis distance from each feature vector to the nearest class mean, under
    the covariance sum_k variance_k d_k d_k^T + residual_variance (I - sum_k d_k d_k^T)."""
    values = np.asarray(features, np.float64)
    distances = []
    for mean in class_means:
        centred = values - mean
        along = centred @ directions.T
        outside = np.maximum(np.square(centred).sum(axis=1) - np.square(along).sum(axis=1), 0.0)
        distances.append((np.square(along) / variances).sum(axis=1) + outside / residual_variance)
    return np.min(np.stack(distances, axis=1), axis=1)


def fit_ood_scorer(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_logits: np.ndarray,
    *,
    method: str = "mahalanobis",
) -> OodScorer:
    """Fit the score on the training features (the distance: class means and the shared
    spread) and calibrate it on the validation split's features and logits."""
    if method not in OOD_METHODS:
        raise ModelError(f"unknown out-of-distribution score {method!r}; choose {', '.join(OOD_METHODS)}")
    if len(val_features) == 0:
        raise ModelError("no validation images to calibrate the out-of-distribution score on")
    unfitted = OodScorer(method, (), 0.0)
    if method == "mahalanobis":
        unfitted = _fit_distance(np.asarray(train_features, np.float64), np.asarray(train_labels))
    val_scores = np.sort(unfitted.scores(val_features, val_logits))
    quantiles = np.percentile(val_scores, _PERCENTILES)
    threshold = float(val_scores[_flag_rank(len(val_scores)) - 1])
    return replace(
        unfitted,
        quantiles=tuple(float(v) for v in quantiles),
        threshold=threshold,
        validation_images=len(val_scores),
    )


def _flag_rank(n: int) -> int:
    """Which of n sorted validation scores (1-based) is the threshold: the lowest that at most
    1% of new scores like them exceed, (n + 1 - k) / (n + 1) <= 1%, else the highest."""
    return min(n, math.ceil((n + 1) * FLAG_PERCENTILE / 100.0))


def chance_flag_rate(validation_images: int) -> float:
    """The share of ordinary galaxies (like the validation ones) flagged by chance; 1% where
    the count was not recorded."""
    if validation_images <= 0:
        return 1.0 - FLAG_PERCENTILE / 100.0
    return (validation_images + 1 - _flag_rank(validation_images)) / (validation_images + 1)


def flag_reason(percentile: float, validation_images: int) -> str:
    """Why an input was flagged, in words, with how sure the flag can be."""
    text = "the network's features for it lie further from the training galaxies than those of "
    if validation_images <= 0:
        return text + f"{percentile:.1f}% of the validation galaxies (flagged above 99%)"
    share = "all" if percentile >= 100.0 else f"{percentile:.1f}% of"
    text += f"{share} the {counted(validation_images, 'validation galaxy', 'validation galaxies')}"
    rate = chance_flag_rate(validation_images)
    if rate <= _FEW_VALIDATION_RATE:
        return text + " (flagged above 99%)"
    return (
        f"{text}; with so few, about 1 in {round(1.0 / rate)} galaxies like them is flagged too: "
        "label more to make this sharper"
    )


def _fit_distance(features: np.ndarray, labels: np.ndarray) -> OodScorer:
    """Class means and the principal directions of the spread around them (probabilistic PCA:
    as many directions as the images can measure, the remaining variance shared by the rest)."""
    class_ids = np.unique(labels)
    class_means = np.stack([features[labels == c].mean(axis=0) for c in class_ids])
    centred = features - class_means[np.searchsorted(class_ids, labels)]
    dof = max(len(features) - len(class_ids), 1)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    eigenvalues = np.square(singular) / dof
    width = features.shape[1]
    floor = _SHRINKAGE * max(float(eigenvalues.sum()) / width, 1e-12)
    k = min(
        width,
        len(eigenvalues),
        max(1, len(features) // _IMAGES_PER_DIRECTION),
        _MAX_DIRECTIONS,
        max(1, _STORED_VALUES // width),
    )
    residual = float(eigenvalues[k:].sum()) / (width - k) if width > k else floor
    return OodScorer(
        "mahalanobis",
        (),
        0.0,
        tuple(tuple(float(v) for v in row) for row in class_means),
        tuple(tuple(float(v) for v in row) for row in vt[:k]),
        tuple(float(v) for v in np.maximum(eigenvalues[:k], floor)),
        max(residual, floor),
    )


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
