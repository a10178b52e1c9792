"""Probabilities that mean what they say: temperature scaling and the calibration error.

A network trained with cross-entropy is usually over-confident on images it has not seen: of
the galaxies it calls spiral with 95%, fewer than 95% are. Classify's probabilities are read as
vote fractions and rank the images active learning asks about, so they are rescaled by one
temperature T (Guo et al. 2017): probabilities = softmax(logits / T). T is the value that
minimises the negative log-likelihood of the validation split's labels, with a weak prior that
keeps it near 1 when those labels say little (see fit_temperature); dividing every logit by
the same positive number keeps each image's predicted class, so accuracy is unchanged. The test
split then measures the expected calibration error (ECE): images are put in 15 equal-width bins
by their top probability, and ECE is the image-weighted mean gap between each bin's mean top
probability and its share of right answers. A checkpoint saved before temperatures were recorded
is read with T = 1 (its probabilities as they always were).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

ECE_BINS = 15
# The temperatures searched: from sharpening the logits 20 times to flattening them 20 times.
TEMPERATURE_RANGE = (0.05, 20.0)
# The prior's standard deviation of log T: a temperature beyond 1/e..e (2 sigma) needs evidence.
# Without it a small validation split with every image right (a new project's first run) has
# no finite best T: the fit ran to the lower end, 0.05, and every probability became 100%.
LOG_TEMPERATURE_PRIOR = 0.5
# Random numbers drawn at once when measuring the chance level of ECE (memory, not accuracy).
_DRAWN_VALUES = 1 << 22


def _log_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def calibrated_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(N, classes) float64 softmax of `logits` / `temperature`."""
    return np.exp(_log_softmax(logits, temperature))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """The mean cross-entropy of the labels under softmax(logits / temperature)."""
    logs = _log_softmax(logits, temperature)
    return float(-logs[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature within TEMPERATURE_RANGE that minimises the validation images' summed
    NLL plus a Gaussian prior on log T (LOG_TEMPERATURE_PRIOR): the most probable T given those
    images. On 280 images the prior moves T by a few per cent at most; with a handful it keeps
    T from running to the range's end on a split that happens to be all right. 1.0 when there
    is nothing to fit on. The objective has one minimum along log T, which a bounded scalar
    search finds to about 1e-5 in log T."""
    from scipy.optimize import minimize_scalar  # here, so that showing the calibration needs no SciPy

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    low, high = (math.log(bound) for bound in TEMPERATURE_RANGE)
    found = minimize_scalar(
        lambda log_t: (
            len(labels) * negative_log_likelihood(logits, labels, math.exp(log_t))
            + 0.5 * (log_t / LOG_TEMPERATURE_PRIOR) ** 2
        ),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(math.exp(found.x))


def _bin_of(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Bin i holds the top probabilities in (i/bins, (i+1)/bins]; 0 joins the first."""
    return np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """The non-empty bins of the reliability diagram, as plain records: bin i holds the images
    whose top probability lies in (i/bins, (i+1)/bins] (a top probability of 0 joins the
    first), with their number, mean top probability and fraction predicted right."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return []
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    which = _bin_of(confidence, bins)
    records = []
    for index in np.unique(which):
        members = which == index
        records.append(
            {
                "low": float(index / bins),
                "high": float((index + 1) / bins),
                "count": int(members.sum()),
                "confidence": float(confidence[members].mean()),
                "accuracy": float(right[members].mean()),
            }
        )
    return records


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """The image-weighted mean |accuracy - confidence| over the reliability bins; NaN without images."""
    return binned_calibration_error(reliability_bins(probabilities, labels, bins))


def binned_calibration_error(records: Sequence[Mapping[str, Any]]) -> float:
    """The ECE of reliability bins as `reliability_bins` records them; NaN without images."""
    total = sum(int(record["count"]) for record in records)
    if total == 0:
        return math.nan
    return (
        sum(int(record["count"]) * abs(float(record["accuracy"]) - float(record["confidence"])) for record in records)
        / total
    )


def pooled_reliability(parts: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The reliability bins of disjoint sets of images (the folds of a cross-validation) as
    those of one set holding them all: counts summed, confidence and accuracy averaged by count."""
    merged: dict[tuple[float, float], tuple[int, float, float]] = {}
    for records in parts:
        for record in records:
            key = (float(record["low"]), float(record["high"]))
            count, confidence, right = merged.get(key, (0, 0.0, 0.0))
            n = int(record["count"])
            merged[key] = (
                count + n,
                confidence + n * float(record["confidence"]),
                right + n * float(record["accuracy"]),
            )
    return [
        {"low": low, "high": high, "count": count, "confidence": confidence / count, "accuracy": right / count}
        for (low, high), (count, confidence, right) in sorted(merged.items())
        if count
    ]


def chance_calibration_error(
    probabilities: np.ndarray, bins: int = ECE_BINS, *, draws: int = 1000, seed: int = 0
) -> float:
    """The median ECE of a perfectly calibrated network with these probabilities. ECE measured
    on a few hundred images is well above zero by chance alone (on 210 images, about 0.04), so
    a measured ECE is read against this. With labels drawn from the probabilities themselves,
    each image is right with its top probability, independently; its bin does not change. NaN
    without images."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = len(probabilities)
    if n == 0:
        return math.nan
    confidence = probabilities.max(axis=1)
    which = _bin_of(confidence, bins)
    members = np.zeros((n, bins))
    members[np.arange(n), which] = 1.0
    stated = confidence @ members
    rng = np.random.default_rng(seed)
    errors = []
    for start in range(0, draws, max(1, _DRAWN_VALUES // n)):
        right = rng.random((min(draws - start, max(1, _DRAWN_VALUES // n)), n)) < confidence
        errors.append(np.abs(right @ members - stated).sum(axis=1) / n)
    return float(np.median(np.concatenate(errors)))


def calibration_report(
    temperature: float, test_logits: np.ndarray, test_labels: np.ndarray, bins: int = ECE_BINS
) -> dict[str, Any]:
    """What metrics.json records of the calibration: the temperature, and on the test split the
    ECE and reliability bins with it and without it, and the ECE a perfectly calibrated network
    would show there by chance (None for the ECEs without test images)."""
    calibrated = calibrated_probabilities(test_logits, temperature)
    raw = calibrated_probabilities(test_logits)
    ece, ece_raw = (expected_calibration_error(p, test_labels, bins) for p in (calibrated, raw))
    chance = chance_calibration_error(calibrated, bins)
    return {
        "temperature": temperature,
        "ece": None if math.isnan(ece) else ece,
        "ece_uncalibrated": None if math.isnan(ece_raw) else ece_raw,
        "ece_chance": None if math.isnan(chance) else chance,
        "reliability": reliability_bins(calibrated, test_labels, bins),
        "reliability_uncalibrated": reliability_bins(raw, test_labels, bins),
    }


def recorded_temperature(metadata: Mapping[str, Any]) -> float:
    """The checkpoint's temperature; 1.0 for one saved before temperatures were recorded."""
    return float(metadata.get("temperature", 1.0))


def describe_calibration(metrics: Mapping[str, Any], *, brief: bool = False) -> str | None:
    """The calibration in words, as the CLI prints it beside the test metrics, or `brief`ly
    for the Train panel's narrow table; None for metrics recorded before calibration was
    measured or without images."""
    if metrics.get("ece") is None:
        return None
    before, chance = metrics.get("ece_uncalibrated"), metrics.get("ece_chance")
    temperature = float(metrics.get("temperature", 1.0))
    if brief:
        parts = [f"ECE {metrics['ece']:.3f}", f"T = {temperature:.2f}"]
        parts += [] if before is None else [f"softmax {before:.3f}"]
        parts += [] if chance is None else [f"chance level {chance:.3f}"]
        return " · ".join(part.replace(" ", "\u00a0") for part in parts)  # each part unbroken when wrapped
    raw = "" if before is None else f"{before:.3f} before "
    floor = "" if chance is None else f"; a perfectly calibrated model would show about {chance:.3f} by chance"
    return (
        f"calibration error (ECE, {ECE_BINS} bins) {metrics['ece']:.3f} ({raw}temperature scaling, "
        f"T = {temperature:.2f}{floor})"
    )
