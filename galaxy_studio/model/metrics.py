"""Classification metrics in NumPy alone, returned as plain Python numbers for JSON and checkpoints.

Galaxy classes are unbalanced (Galaxy10 has 334 cigars and 2,645 round smooth galaxies), so
accuracy is always reported beside balanced accuracy and the macro one-vs-rest ROC AUC,
the seed paper's pair of headline numbers. Every accuracy comes with its sample size and a
Wilson 95% interval: 2 of 2 test images right is "100%" but only says the accuracy is above 34%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Z_95 = 1.959963984540054  # the standard normal quantile of 0.975


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion of `successes` in `n` trials, None when n is 0.

    Wilson's rather than the normal approximation because test splits are often small and
    accuracies near 1, where p +- z*sqrt(p(1-p)/n) collapses to the single point 100%."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..{n}, got {successes}")
    p, z2 = successes / n, z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes in rows and predicted classes in columns."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return matrix


def per_class_recall(matrix: np.ndarray) -> list[float | None]:
    """Recall of each class, None for a class with no true examples."""
    support = matrix.sum(axis=1)
    return [float(matrix[i, i] / support[i]) if support[i] else None for i in range(len(matrix))]


def per_class_precision(matrix: np.ndarray) -> list[float | None]:
    """Precision of each class, None for a class that was never predicted."""
    predicted = matrix.sum(axis=0)
    return [float(matrix[i, i] / predicted[i]) if predicted[i] else None for i in range(len(matrix))]


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present in `y_true`."""
    recalls = [r for r in per_class_recall(confusion_matrix(y_true, y_pred, n_classes)) if r is not None]
    return float(np.mean(recalls)) if recalls else float("nan")


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    boundaries = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(values)]))
    ranks = np.empty(len(values), dtype=np.float64)
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + 1 + end) / 2.0
    return ranks


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Exact area under the ROC curve (Mann-Whitney U): the probability that a random
    positive scores above a random negative, ties counting one half. NaN without both kinds."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def macro_roc_auc(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean one-vs-rest AUC over the classes that have both positives and negatives."""
    y_true = np.asarray(y_true)
    aucs = [roc_auc(y_true == k, probabilities[:, k]) for k in range(probabilities.shape[1])]
    finite = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(finite)) if finite else float("nan")


def classification_report(y_true: np.ndarray, probabilities: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Every metric the app shows, for predictions = argmax of `probabilities`, with the Wilson
    95% interval of the accuracy and of each class's recall ([low, high]). NaN (no data) and
    intervals of no data become None so that the report is valid JSON."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(classes)
    y_pred = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, np.int64)
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    precision, recall = per_class_precision(matrix), per_class_recall(matrix)
    correct = int(np.trace(matrix))
    return {
        "n": int(len(y_true)),
        "accuracy": _finite_or_none(accuracy(y_true, y_pred)),
        "accuracy_ci95": _interval_or_none(correct, int(len(y_true))),
        "balanced_accuracy": _finite_or_none(balanced_accuracy(y_true, y_pred, n_classes)),
        "macro_auc": _finite_or_none(macro_roc_auc(y_true, probabilities)) if len(y_true) else None,
        "classes": list(classes),
        "confusion": matrix.tolist(),
        "per_class": {
            name: {
                "precision": precision[i],
                "recall": recall[i],
                "recall_ci95": _interval_or_none(int(matrix[i, i]), int(matrix[i].sum())),
                "support": int(matrix[i].sum()),
            }
            for i, name in enumerate(classes)
        },
    }


def _interval_or_none(successes: int, n: int) -> list[float] | None:
    interval = wilson_interval(successes, n)
    return None if interval is None else list(interval)


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else value
