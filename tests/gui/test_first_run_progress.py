"""First-run work (the demo set, the Explore autoencoder) says how far it is and the time
left, and what it shows keeps moving while a stage reports nothing."""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from galaxy_studio.events import CancelToken, EventSink, Progressed
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.widgets.job_progress import JobProgressRow
from galaxy_studio.gui.worker import JobRunner


def test_a_named_bar_keeps_its_name_adds_the_time_left_and_gets_its_name_back(qtbot: QtBot) -> None:
    """Seen: the status bar's demo-set bar said "Demo galaxies 120/1000" and never how long."""
    runner = JobRunner()
    row = JobProgressRow(runner, describe=False)
    qtbot.addWidget(row)
    row.bar.setTextVisible(True)
    row.bar.setFormat("Demo galaxies %v/%m")
    release = threading.Event()

    def job(emit: EventSink, cancel: CancelToken) -> None:
        emit(Progressed(1, 10, "demo galaxies"))
        time.sleep(0.2)
        emit(Progressed(2, 10, "demo galaxies"))
        release.wait(10)

    runner.start(job, on_success=lambda _none: None, on_failure=pytest.fail)
    try:
        qtbot.waitUntil(lambda: row.bar.value() == 2, timeout=10_000)
        assert re.fullmatch(r"Demo galaxies 2/10 · \d+ s left", row.bar.text()), row.bar.text()
    finally:
        with qtbot.waitSignal(runner.finished, timeout=10_000):
            release.set()
    assert row.bar.format() == "Demo galaxies %v/%m"


def test_explores_empty_map_counts_the_time_while_the_autoencoder_prepares(
    qtbot: QtBot, window: MainWindow, demo_set: Path, tmp_path: Path
) -> None:
    """Seen: "starting…" for many seconds while torch loaded, so the panel looked hung."""
    data = shutil.copytree(demo_set, tmp_path / "fresh")  # no cached map or autoencoder for it
    panel = window.explore
    window.tabs.setCurrentWidget(panel)
    panel.data_edit.setText(str(data))
    panel.source.kind.setCurrentIndex(panel.source.kind.findData("autoencoder"))
    panel.source.size.setValue(32)
    panel.source.ae_epochs.setValue(500)
    panel.source.ae_latent.setValue(8)
    panel.source.device.setCurrentText("cpu")
    panel.compute_button.click()
    try:
        assert "Running for 0 s" in panel.map_area.empty.text() and "starting" not in panel.map_area.empty.text()
        qtbot.waitUntil(lambda: "Running for 2 s" in panel.map_area.empty.text(), timeout=10_000)
        qtbot.waitUntil(lambda: re.search(r"\d+/\d+ · ", panel.map_area.empty.text()) is not None, timeout=60_000)
        qtbot.waitUntil(lambda: "left" in panel.job_progress.bar.text(), timeout=60_000)
        assert re.fullmatch(r"\d+% · .+ left", panel.job_progress.bar.text()), panel.job_progress.bar.text()
    finally:
        panel.job_progress.cancel_button.click()
        qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30_000)
    assert "Running for" not in panel.map_area.empty.text()
