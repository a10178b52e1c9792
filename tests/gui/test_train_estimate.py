"""Train panel: Estimate time names the device and counts the whole run; while training, the
time left follows the measured epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.events import EpochEnded
from galaxy_studio.gui.main_window import MainWindow


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo_set(root, per_class=6, size=32)
    return root


def test_the_estimate_names_the_device_and_the_whole_run(qtbot, window: MainWindow, demo_data: Path) -> None:  # noqa: ANN001
    train = window.train
    train.data_edit.setText(str(demo_data))
    train.size.setValue(16)
    train.epochs.setValue(7)
    train.batch.setValue(8)
    train.device.setCurrentText("cpu")
    train.estimate()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=120_000)
    text = train.progress_label.text()
    threads = torch.get_num_threads()
    assert text.startswith("About ") and f" per epoch on CPU, {threads} thread" in text
    assert " for 7 epochs, reading the images and testing (" in text and ") included." in text
    assert "\nCross-validating in 5 folds trains 5 such runs: about " in text
    assert train.progress_label.toolTip().startswith("Measured: decoding ")


def test_the_time_left_follows_the_mean_of_the_measured_epochs(window: MainWindow) -> None:
    train = window.train
    train._epoch_seconds = []
    train._on_event(EpochEnded(1, 5, 0.9, 0.8, 0.5, 0.6, 10.0))
    assert "Epoch 1/5 · 10.0 s per epoch · about 40 s left" in train.progress_label.text()
    train._on_event(EpochEnded(2, 5, 0.7, 0.6, 0.6, 0.7, 30.0))
    assert "Epoch 2/5 · 20.0 s per epoch · about 1 min 00 s left" in train.progress_label.text()
    train._on_event(EpochEnded(5, 5, 0.5, 0.5, 0.7, 0.7, 20.0))
    assert "about 0 s left" in train.progress_label.text()
