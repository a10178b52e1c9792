"""Temperature scaling: the fit finds a known temperature, ECE has its textbook values on
hand-made cases, training records T in the checkpoint and metrics.json, and every consumer of
class probabilities (classify, suggest, evaluate) divides the logits by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.special import log_softmax

from galaxy_studio.cli import main
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.events import Warned
from galaxy_studio.labels.store import Project
from galaxy_studio.model.calibration import (
    calibrated_probabilities,
    chance_calibration_error,
    describe_calibration,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)
from galaxy_studio.model.classification import classify_items, open_classifier
from galaxy_studio.model.training import TrainResult, train_classifier

from .conftest import tiny_config
from .test_suggestions import make_project


def _sampled_labels(true_logits: np.ndarray, seed: int) -> np.ndarray:
    """Labels drawn from softmax(true_logits): the probabilities those logits state are right."""
    probabilities = calibrated_probabilities(true_logits)
    draws = np.random.default_rng(seed).random(len(probabilities))
    return (draws[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1)


@pytest.mark.parametrize("temperature", [0.5, 2.5])
def test_the_fit_recovers_the_temperature_that_made_the_logits_over_or_under_confident(temperature: float) -> None:
    true_logits = np.random.default_rng(0).normal(0.0, 2.0, size=(20000, 4))
    labels = _sampled_labels(true_logits, seed=1)
    fitted = fit_temperature(true_logits * temperature, labels)
    assert fitted == pytest.approx(temperature, rel=0.03)
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.03)


def test_a_few_validation_images_all_right_do_not_sharpen_the_probabilities_to_certainty() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 10)
    logits = rng.normal(0.0, 0.5, (10, 3))
    logits[np.arange(10), labels] += 1.5  # every image right, at about 70% confidence
    fitted = fit_temperature(logits, labels)
    assert 0.3 < fitted < 1.0, "sharpened, but not to the range's end (0.05: 99.9999% on average)"
    assert calibrated_probabilities(logits, fitted).max(axis=1).mean() < 0.95


def test_the_fit_without_images_keeps_the_softmax() -> None:
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, np.int64)) == 1.0


def test_ece_of_hand_made_cases() -> None:
    right_nine_of_ten = np.tile([0.9, 0.1], (10, 1))
    labels = np.array([0] * 9 + [1])
    assert expected_calibration_error(right_nine_of_ten, labels) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(np.tile([0.2, 0.8], (4, 1)), np.ones(4, np.int64)) == pytest.approx(0.2)
    # Two bins: 0.95 said, half right (gap 0.45); 0.62 said, all right (gap 0.38).
    mixed = np.array([[0.95, 0.05], [0.95, 0.05], [0.62, 0.38], [0.38, 0.62]])
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(mixed, labels) == pytest.approx((2 * 0.45 + 2 * 0.38) / 4)
    bins = reliability_bins(mixed, labels)
    assert [(b["count"], b["accuracy"]) for b in bins] == [(2, 1.0), (2, 0.5)]
    assert bins[0]["low"] == pytest.approx(9 / 15) and bins[0]["high"] == pytest.approx(10 / 15)
    assert bins[1]["low"] == pytest.approx(14 / 15) and bins[1]["high"] == pytest.approx(1.0)
    assert bins[0]["confidence"] == pytest.approx(0.62) and bins[1]["confidence"] == pytest.approx(0.95)
    certain = reliability_bins(np.array([[1.0, 0.0, 0.0]]), np.array([0]))
    assert [(b["high"], b["count"]) for b in certain] == [(1.0, 1)], "a top probability of 1 is in the last bin"
    assert np.isnan(expected_calibration_error(np.zeros((0, 2)), np.zeros(0, np.int64)))


def test_the_chance_level_of_ece_is_that_of_a_perfectly_calibrated_model() -> None:
    certain = np.tile([1.0, 0.0], (50, 1))
    assert chance_calibration_error(certain) == 0.0
    # 100 images at 90%: |Binomial(100, 0.9) / 100 - 0.9| has a median near 0.6745 x 0.03.
    assert chance_calibration_error(np.tile([0.9, 0.1], (100, 1))) == pytest.approx(0.02, abs=0.004)
    assert chance_calibration_error(np.tile([0.9, 0.1], (10000, 1))) < 0.003, "it shrinks as 1 / sqrt(n)"
    assert np.isnan(chance_calibration_error(np.zeros((0, 2))))


def test_temperature_scaling_keeps_the_predicted_class_and_scales_the_log_odds() -> None:
    logits = np.random.default_rng(2).normal(0.0, 3.0, size=(50, 5))
    scaled = calibrated_probabilities(logits, 2.0)
    assert (scaled.argmax(axis=1) == logits.argmax(axis=1)).all()
    np.testing.assert_allclose(np.log(scaled[:, 0] / scaled[:, 1]), (logits[:, 0] - logits[:, 1]) / 2.0)


def test_training_records_the_temperature_and_the_test_calibration(trained_run: TrainResult) -> None:
    payload = torch.load(trained_run.checkpoint, map_location="cpu", weights_only=True)
    temperature = payload["metadata"]["temperature"]
    assert type(temperature) is float and 0 < temperature < np.inf
    recorded = json.loads((Path(trained_run.run_dir) / "metrics.json").read_text())
    assert recorded["temperature"] == temperature
    assert 0 <= recorded["ece"] <= 1 and 0 <= recorded["ece_uncalibrated"] <= 1 and 0 < recorded["ece_chance"] < 1
    for key in ("reliability", "reliability_uncalibrated"):
        assert sum(b["count"] for b in recorded[key]) == recorded["n"]
    gaps = sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in recorded["reliability"])
    assert recorded["ece"] == pytest.approx(gaps / recorded["n"])
    assert open_classifier(trained_run.run_dir).temperature == temperature
    assert f"T = {temperature:.2f}" in (describe_calibration(recorded) or "")


def test_a_run_without_validation_images_keeps_the_softmax_and_says_so(demo_set: Path, tmp_path: Path) -> None:
    events: list[Any] = []
    config = tiny_config(demo_set, tmp_path / "run", epochs=1, split=(0.8, 0.0, 0.2))
    result = train_classifier(config, emit=events.append)
    assert result.metrics["temperature"] == 1.0
    assert result.metrics["ece"] == result.metrics["ece_uncalibrated"]
    assert any(isinstance(e, Warned) and "calibrate the probabilities" in e.text for e in events)


def _with_temperature(checkpoint: str, folder: Path, temperature: float | None) -> Path:
    """A copy of the checkpoint with another temperature, or with none (as saved before them)."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if temperature is None:
        payload["metadata"].pop("temperature")
    else:
        payload["metadata"]["temperature"] = temperature
    folder.mkdir()
    torch.save(payload, folder / "model.pt")
    return folder / "model.pt"


def _probabilities(model: Path, items: list[CatalogItem], tta: bool = False) -> np.ndarray:
    predictions, failures = classify_items(open_classifier(model), items, tta=tta, device="cpu")
    assert not failures
    return np.array([p.probabilities for p in predictions])


@pytest.mark.parametrize("tta", [False, True])
def test_classify_divides_the_logits_by_the_recorded_temperature(
    tta: bool, trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    items = [CatalogItem(str(path)) for path in sorted(demo_set.rglob("*.jpg"))[::9]]
    old = _with_temperature(trained_run.checkpoint, tmp_path / "old", None)
    assert open_classifier(old).temperature == 1.0, "a checkpoint without T is read with T = 1"
    raw = _probabilities(old, items)
    hot = _with_temperature(trained_run.checkpoint, tmp_path / "hot", 3.0)
    # log p = logits - const, and softmax ignores the constant: softmax(log p / T) = softmax(logits / T).
    np.testing.assert_allclose(_probabilities(hot, items), np.exp(log_softmax(np.log(raw) / 3.0, axis=1)), atol=1e-6)
    if tta:
        views = _probabilities(hot, items, tta=True)
        assert not np.allclose(views, _probabilities(old, items, tta=True)), "TTA views are scaled too"
        assert (views.argmax(axis=1) == raw.argmax(axis=1)).mean() > 0.7


def test_suggestions_store_the_calibrated_confidence(trained_run: TrainResult, demo_set: Path, tmp_path: Path) -> None:
    hot = _with_temperature(trained_run.checkpoint, tmp_path / "hot", 3.0)
    old = _with_temperature(trained_run.checkpoint, tmp_path / "old", None)
    project = tmp_path / "p.gsproj"
    files = make_project(project, demo_set)
    assert main(["project", "suggest", str(project), str(hot), "--device", "cpu"]) == 0
    with Project.open(project) as opened:
        stored = opened.suggestions()
        ids = [opened.image_id(path) for path in files[1:]]
    raw = _probabilities(old, [CatalogItem(str(path)) for path in files[1:]])
    expected = np.exp(log_softmax(np.log(raw) / 3.0, axis=1))
    np.testing.assert_allclose([stored[i].confidence for i in ids], expected.max(axis=1), atol=1e-6)
    assert not np.allclose(expected.max(axis=1), raw.max(axis=1), atol=1e-3)


def test_evaluate_applies_the_temperature_and_gives_back_the_recorded_calibration(
    trained_run: TrainResult, demo_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["evaluate", trained_run.checkpoint, str(demo_set), "--split", "test", "--json", "--device", "cpu"]
    assert main(command) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("temperature", "ece", "ece_uncalibrated", "ece_chance"):
        assert report[key] == pytest.approx(trained_run.metrics[key]), key
    for made, recorded in zip(report["reliability"], trained_run.metrics["reliability"], strict=True):
        assert made == pytest.approx(recorded)
    assert main(command[:-3] + ["--device", "cpu"]) == 0
    assert "calibration error (ECE, 15 bins)" in capsys.readouterr().out
