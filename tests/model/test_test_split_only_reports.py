"""The test split is only scored, never used to choose: early stopping, the kept epoch, the weight
average, the input statistics and the out-of-distribution calibration see train and validation
images alone. A run whose test images and labels are replaced by noise keeps the same epochs and
bit-identical weights; only its test metrics change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from galaxy_studio.model import training
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.training import TrainResult, train_classifier

from .conftest import tiny_config


def _without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key != "seconds"} for row in history]


def test_corrupted_test_images_and_labels_change_nothing_but_the_test_metrics(
    demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An averaged run, stopped early by a short patience: every choice made from validation.
    recipe = {"epochs": 10, "patience": 2, "ema": 0.9}
    clean = train_classifier(tiny_config(demo_set, tmp_path / "clean", **recipe))

    decoded = training._decoded
    corrupted: list[int] = []

    def noise_for_the_test_split(*args: Any) -> tuple[np.ndarray, np.ndarray]:
        pixels, labels = decoded(*args)
        what = args[5]
        if what == "decoding test images":
            corrupted.append(len(labels))
            rng = np.random.default_rng(0)
            pixels = rng.integers(0, 256, pixels.shape).astype(pixels.dtype)
            labels = (labels + 1) % 3
        return pixels, labels

    monkeypatch.setattr(training, "_decoded", noise_for_the_test_split)
    noisy = train_classifier(tiny_config(demo_set, tmp_path / "noisy", **recipe))

    assert corrupted == [12], "the test split was replaced"
    _same_choices(clean, noisy)
    assert noisy.metrics["accuracy"] < 0.5 < clean.metrics["accuracy"], "only the scoring saw the change"
    assert clean.stopped_early and clean.best_epoch < clean.epochs_run, "patience and the kept epoch were used"


def _same_choices(clean: TrainResult, noisy: TrainResult) -> None:
    assert _without_seconds(noisy.history) == _without_seconds(clean.history), "same validation curve"
    assert (noisy.best_epoch, noisy.epochs_run, noisy.stopped_early) == (
        clean.best_epoch,
        clean.epochs_run,
        clean.stopped_early,
    )
    first_model, first = load_classifier(clean.checkpoint)
    second_model, second = load_classifier(noisy.checkpoint)
    weights, other = first_model.state_dict(), second_model.state_dict()
    assert all(torch.equal(weights[key], other[key]) for key in weights), "bit-identical kept weights"
    for record in ("preprocessing", "out_of_distribution", "training_profile"):
        assert first[record] == second[record], record
