"""Classification metrics in NumPy alone, returned as plain Python numbers for JSON and checkpoints.

Galaxy classes are unbalanced (Galaxy10 has 334 cigars and 2,645 round smooth galaxies), so
accuracy is always reported beside balanced accuracy and the macro one-vs-rest ROC AUC,
the seed paper's pair of headline numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


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
    """Every metric the app shows, for predictions = argmax of `probabilities`. NaN (no data)
    becomes None so that the report is valid JSON."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(classes)
    y_pred = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, np.int64)
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    precision, recall = per_class_precision(matrix), per_class_recall(matrix)
    return {
        "n": int(len(y_true)),
        "accuracy": _finite_or_none(accuracy(y_true, y_pred)),
        "balanced_accuracy": _finite_or_none(balanced_accuracy(y_true, y_pred, n_classes)),
        "macro_auc": _finite_or_none(macro_roc_auc(y_true, probabilities)) if len(y_true) else None,
        "classes": list(classes),
        "confusion": matrix.tolist(),
        "per_class": {
            name: {"precision": precision[i], "recall": recall[i], "support": int(matrix[i].sum())}
            for i, name in enumerate(classes)
        },
    }


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else value
