"""Train panel: Estimate time names the device and counts the whole run; while training, the
time left follows the measured epochs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.events import CancelToken, EpochEnded, EventSink, Progressed
from galaxy_studio.gui.main_window import MainWindow


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo_set(root, per_class=6, size=32)
    return root


def test_the_estimate_names_the_device_and_the_whole_run(qtbot, window: MainWindow, demo_data: Path) -> None:  # noqa: ANN001
    train = window.train
    train.form.data_edit.setText(str(demo_data))
    train.form.size.setValue(16)
    train.form.epochs.setValue(7)
    train.form.batch.setValue(8)
    train.form.device.setCurrentText("cpu")
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


def test_the_bar_shows_the_runs_time_left_as_the_readout_does(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    """The bar counts the batches of the epoch under way; its time left is the whole run's, the
    readout's, not the few seconds left in that epoch."""
    train = window.train
    train._epoch_seconds = []
    go_on = threading.Event()

    def job(emit: EventSink, cancel: CancelToken) -> None:
        emit(EpochEnded(1, 5, 0.9, 0.8, 0.5, 0.6, 10.0))
        emit(Progressed(5, 16, "epoch 2/5"))
        go_on.wait(10)

    train._start_job(job, "Training…", lambda _none: None)
    try:
        qtbot.waitUntil(lambda: train.progress.value() == 5, timeout=10_000)
        assert train.progress.text() == "5 / 16 · about 40 s left"
        assert "about 40 s left unless it stops early" in train.progress_label.text()
    finally:
        with qtbot.waitSignal(train.runner.finished, timeout=10_000):
            go_on.set()
