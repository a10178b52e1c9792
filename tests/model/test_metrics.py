"""Metrics against values worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from galaxy_studio.model.metrics import (
    average_ranks,
    balanced_accuracy,
    classification_report,
    confusion_matrix,
    macro_roc_auc,
    roc_auc,
    wilson_interval,
)


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([0.3, 0.1, 0.3, 0.7, 0.3])).tolist() == [3.0, 1.0, 3.0, 5.0, 3.0]


def test_auc_without_ties_counts_ordered_pairs() -> None:
    # Positives 0.9, 0.4; negatives 0.5, 0.1: of the 4 pairs, 3 put the positive above.
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.5, 0.1])) == pytest.approx(0.75)


def test_auc_counts_a_tie_as_one_half() -> None:
    # Positives 0.8, 0.5; negatives 0.5, 0.2. Pairs: (0.8>0.5) 1, (0.8>0.2) 1, (0.5=0.5) 1/2,
    # (0.5>0.2) 1 -> 3.5 of 4.
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.5, 0.5, 0.2])) == pytest.approx(0.875)
    assert roc_auc(np.array([1, 0, 1, 0]), np.full(4, 0.5)) == pytest.approx(0.5)


def test_auc_is_nan_without_both_kinds() -> None:
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_macro_auc_averages_one_vs_rest_over_present_classes() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.4, 0.3, 0.3],
            [0.5, 0.4, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.1, 0.8],
            [0.3, 0.3, 0.4],
        ]
    )
    # Class 0 scores: positives 0.8, 0.4 vs negatives 0.5, 0.1, 0.1, 0.3 -> 7 of 8 pairs.
    # Class 1: positives 0.4, 0.8 vs 0.1, 0.3, 0.1, 0.3 -> 8 of 8.
    # Class 2: positives 0.8, 0.4 vs 0.1, 0.3, 0.1, 0.1 -> 8 of 8.
    assert macro_roc_auc(y, p) == pytest.approx((7 / 8 + 1 + 1) / 3)
    # A class absent from y_true has no AUC and does not drag the mean down.
    assert (
        macro_roc_auc(np.array([0, 0, 1, 1]), np.array([[0.9, 0.1, 0], [0.6, 0.4, 0], [0.3, 0.7, 0], [0.2, 0.8, 0]]))
        == 1.0
    )


def test_confusion_has_true_rows_and_predicted_columns() -> None:
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_balanced_accuracy_is_mean_recall() -> None:
    # Recalls: class 0 1/2, class 1 1/1, class 2 2/3.
    y_true, y_pred = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2])
    assert balanced_accuracy(y_true, y_pred, 3) == pytest.approx((0.5 + 1 + 2 / 3) / 3)


def test_report_is_json_with_per_class_precision_and_recall() -> None:
    y = np.array([0, 0, 0, 1])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    report = classification_report(y, p, ["smooth", "spiral"])
    json.dumps(report, allow_nan=False)
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert report["confusion"] == [[2, 1], [0, 1]]
    assert report["per_class"]["smooth"] == {
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "recall_ci95": pytest.approx([0.2077, 0.9385], abs=5e-5),
        "support": 3,
    }
    assert report["per_class"]["spiral"] == {
        "precision": 0.5,
        "recall": 1.0,
        "recall_ci95": pytest.approx([0.2065, 1.0], abs=5e-5),
        "support": 1,
    }
    assert report["n"] == 4 and report["accuracy_ci95"] == pytest.approx(list(wilson_interval(3, 4)))
    # spiral scores: positive 0.6 vs negatives 0.1, 0.8, 0.3 -> 2 of 3 pairs.
    assert report["macro_auc"] == pytest.approx(2 / 3)


def test_report_marks_undefined_values_as_none() -> None:
    report = classification_report(np.array([0, 0]), np.array([[0.9, 0.1], [0.8, 0.2]]), ["a", "b"])
    assert report["per_class"]["b"]["precision"] is None and report["per_class"]["b"]["recall"] is None
    assert report["macro_auc"] is None
    assert report["per_class"]["b"]["recall_ci95"] is None


def test_a_report_of_no_images_has_no_interval() -> None:
    report = classification_report(np.zeros(0, np.int64), np.zeros((0, 2)), ["a", "b"])
    assert report["n"] == 0 and report["accuracy"] is None and report["accuracy_ci95"] is None


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [
        # As scipy.stats.binomtest(k, n).proportion_ci(method="wilson") gives them.
        (2, 2, (0.3424, 1.0)),
        (75, 100, (0.6570, 0.8245)),
        (0, 5, (0.0, 0.4345)),
        (1050, 1400, (0.7267, 0.7720)),
    ],
)
def test_wilson_interval_matches_known_values(successes: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(successes, n) == pytest.approx(expected, abs=5e-5)


def test_wilson_interval_of_all_right_ends_at_exactly_one_and_of_nothing_is_none() -> None:
    assert wilson_interval(7, 7)[1] == 1.0 and wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="0..3"):
        wilson_interval(4, 3)
