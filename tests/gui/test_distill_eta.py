"""Distill: building a buffer (or any job but the distillation itself, which shows its measured
pace per iteration) shows how far it is and the time it has left, updated as it runs."""

from __future__ import annotations

import time

from galaxy_studio.eta import Eta
from galaxy_studio.events import Progressed
from galaxy_studio.gui.main_window import MainWindow


def test_a_buffer_build_shows_its_time_left_as_it_runs(window: MainWindow) -> None:
    panel = window.distill
    panel._eta = Eta()
    panel._on_event(Progressed(1, 40, "training experts"))
    assert panel.progress_label.text() == "training experts 1/40 · 0 s"
    time.sleep(0.3)
    panel._on_event(Progressed(11, 40, "training experts"))
    first = panel.progress_label.text()
    assert first.startswith("training experts 11/40 · 0 s, about ") and first.endswith(" s left")
    time.sleep(0.3)
    panel._on_event(Progressed(40, 40, "training experts"))
    last = panel.progress_label.text()
    assert last.startswith("training experts 40/40 · ") and "left" not in last
