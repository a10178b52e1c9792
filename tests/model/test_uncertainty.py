"""Accuracies with their sample size and interval, from new records and old ones."""

from __future__ import annotations

import pytest

from galaxy_studio.model.uncertainty import AccuracyEstimate, mean_accuracy_text, sample_warnings


def test_a_record_with_its_interval_reads_as_written() -> None:
    estimate = AccuracyEstimate.of({"accuracy": 0.75, "n": 210, "accuracy_ci95": [0.687, 0.804]})
    assert estimate == AccuracyEstimate(0.75, 210, (0.687, 0.804))
    assert estimate.lower_bound == 0.687
    assert estimate.text() == "75.0% (n=210, 95% CI 68.7–80.4%)"
    assert estimate.text(digits=0) == "75% (n=210, 95% CI 69–80%)"


def test_an_old_record_gets_its_interval_from_accuracy_and_n() -> None:
    estimate = AccuracyEstimate.of({"accuracy": 1.0, "n": 2})
    assert estimate.ci95 == pytest.approx((0.3424, 1.0), abs=5e-5)
    assert estimate.text() == "100.0% (n=2, 95% CI 34.2–100.0%)"


def test_a_record_without_n_says_so_and_has_no_bound() -> None:
    estimate = AccuracyEstimate.of({"accuracy": 0.9})
    assert estimate.text() == "90.0% (n unknown)" and estimate.lower_bound is None
    assert AccuracyEstimate.of(None).text() == "–" and AccuracyEstimate.of({"n": 0}).text() == "– (n=0)"
    assert AccuracyEstimate.of({"accuracy": "high", "n": True}) == AccuracyEstimate(None, None, None)


def test_large_numbers_get_thousands_separators() -> None:
    assert AccuracyEstimate.of({"accuracy": 0.75, "n": 1400}).text() == "75.0% (n=1,400, 95% CI 72.7–77.2%)"


def test_a_small_test_split_missing_a_class_is_warned_about() -> None:
    # The seen case: 19 labelled images, 2 test images, no spiral among them.
    metrics = {
        "accuracy": 1.0,
        "n": 2,
        "per_class": {"spiral": {"support": 0}, "non-spiral": {"support": 2}},
    }
    first, second = sample_warnings(metrics)
    assert first == "only 2 test images (fewer than 20): too few to trust or compare the accuracy; label more images"
    assert second == "no test image of class spiral: the accuracy says nothing about it"


def test_a_large_test_split_with_every_class_gets_no_warning() -> None:
    metrics = {"accuracy": 0.75, "n": 20, "per_class": {"a": {"support": 10}, "b": {"support": 10}}}
    assert sample_warnings(metrics) == []
    assert sample_warnings({"accuracy": None, "n": 0}, "evaluated")[0].startswith("no evaluated image (fewer than 20)")


def test_a_mean_over_nets_carries_its_spread_n_and_interval() -> None:
    assert mean_accuracy_text(0.7, 0.02, 210) == "70.0% ± 2.0% (n=210, 95% CI 63–76%)"
    assert mean_accuracy_text(0.7, 0.02, None) == "70.0% ± 2.0% (n unknown)"
