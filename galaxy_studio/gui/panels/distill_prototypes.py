"""The Distill tab's prototypes: a row per class, a timeline over the run's saved snapshots whose
right end follows the live run, and the clicked prototype large under the display controls.

The browser reads snapshots from the run folder itself; the panel tells it which run to show
and hands it the live snapshots, and hears back through `export_requested` ("gif" or "strip")
and `failed` (a snapshot that could not be read)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSplitter, QVBoxLayout, QWidget

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings, render_rgb
from galaxy_studio.distill.runs import load_snapshot, snapshot_steps
from galaxy_studio.events import SnapshotTaken
from galaxy_studio.gui.widgets.display_controls import DisplayControls
from galaxy_studio.gui.widgets.image_view import ImageView
from galaxy_studio.gui.widgets.prototype_grid import PrototypeGrid
from galaxy_studio.model.errors import ModelError


def prototype_cutout(picture: np.ndarray, name: str) -> Cutout:
    """A prototype as a three-band cutout, so the stretch controls apply to it as to any image."""
    return Cutout(picture.astype(np.float32) / 255.0, ["R", "G", "B"], name, "png")


class PrototypeBrowser(QSplitter):
    """`is_live` says whether a job runs now: the newest snapshot is then called live, and the
    timeline's right end shows the pictures in memory rather than reading the folder."""

    export_requested = Signal(str)
    failed = Signal(str)

    def __init__(self, is_live: Callable[[], bool], parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._is_live = is_live
        self.run_dir: Path | None = None
        self.steps: list[int] = []
        self._snapshot_every = 1
        self._live_pictures: tuple[np.ndarray, np.ndarray, int] | None = None
        self._follow_live = True
        self._viewed: int | None = None
        self._exporting = False
        self.addWidget(self._build_prototype_box())
        self.addWidget(self._build_viewer_box())
        self.setSizes([340, 680])

    def _build_prototype_box(self) -> QGroupBox:
        self.grid = PrototypeGrid()
        self.grid.picked.connect(self.show_prototype)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setRange(0, 0)
        self.timeline.setToolTip("Scrub through the saved snapshots; the right end follows the live run")
        self.timeline.valueChanged.connect(self._on_timeline)
        self.timeline_label = QLabel("no snapshot")
        self.timeline_label.setMinimumWidth(150)
        self.gif_button = QPushButton("GIF…")
        self.gif_button.setToolTip("Export the evolution as an animated GIF")
        self.gif_button.clicked.connect(lambda: self.export_requested.emit("gif"))
        self.strip_button = QPushButton("PNG strip…")
        self.strip_button.setToolTip("Export evenly spaced snapshots side by side")
        self.strip_button.clicked.connect(lambda: self.export_requested.emit("strip"))
        timeline_row = QHBoxLayout()
        timeline_row.addWidget(self.timeline, 1)
        timeline_row.addWidget(self.timeline_label)
        timeline_row.addWidget(self.gif_button)
        timeline_row.addWidget(self.strip_button)
        grid_box = QGroupBox("Prototypes (a row per class)")
        grid_layout = QVBoxLayout(grid_box)
        grid_layout.addWidget(self.grid, 1)
        grid_layout.addLayout(timeline_row)
        return grid_box

    def _build_viewer_box(self) -> QGroupBox:
        self.view = ImageView()
        self.view.empty_text = "Click a prototype to see it large"
        self.view.setMinimumSize(120, 120)
        self.controls = DisplayControls()
        self.controls.set_settings(DisplaySettings(stretch="linear", interval="minmax", linked=True))
        self.controls.hide_band_choice()
        self.controls.changed.connect(lambda _settings: self._render_viewed())
        self.view_caption = QLabel("")
        view_box = QGroupBox("Prototype")
        view_layout = QVBoxLayout(view_box)
        view_layout.addWidget(self.view, 1)
        view_layout.addWidget(self.view_caption)
        view_layout.addWidget(self.controls)
        return view_box

    def reset(self, classes: tuple[str, ...]) -> None:
        self.grid.clear()
        self.grid.set_class_names(classes)
        self._live_pictures = None
        self.view.set_image(None)
        self._viewed = None
        self.view_caption.setText("")

    def follow_run(self, run_dir: Path, snapshot_every: int) -> None:
        """A run that starts (or resumes) now: its saved snapshots, then each new one as it comes."""
        self.run_dir = run_dir
        self._snapshot_every = snapshot_every
        self.steps = snapshot_steps(run_dir)
        self._follow_live = True
        self._sync_timeline()

    def open_run(self, run_dir: Path) -> None:
        """A past run, at its last snapshot."""
        self.run_dir = run_dir
        self.steps = snapshot_steps(run_dir)
        self._follow_live = False
        self._sync_timeline()
        self.timeline.setValue(self.timeline.maximum())
        self._on_timeline(self.timeline.value())

    def set_exporting(self, busy: bool) -> None:
        self._exporting = busy
        self._enable_exports()

    def _enable_exports(self) -> None:
        for button in (self.gif_button, self.strip_button):
            button.setEnabled(bool(self.steps) and not self._exporting)

    def add_snapshot(self, event: SnapshotTaken) -> None:
        self._live_pictures = (event.images_uint8_nhwc, event.labels, event.step)
        if not self.steps or event.step > self.steps[-1]:
            self._note_snapshot_step(event.step)
        if self._follow_live:
            self._show_pictures(event.images_uint8_nhwc, event.labels, event.step, live=True)
            self._sync_timeline()

    def _note_snapshot_step(self, step: int) -> None:
        """Put a newly saved snapshot on the timeline. The snapshot that follows the last one
        listed is appended; only when the worker coalesced snapshots away (a gap) is the
        folder listed again. Listing it for every snapshot cost the GUI thread time that grew
        with the run (a folder of thousands of files, several times a second)."""
        if self.steps and step == self.steps[-1] + self._snapshot_every:
            self.steps.append(step)
            return
        self.steps = snapshot_steps(self.run_dir) if self.run_dir is not None else [step]
        if not self.steps or self.steps[-1] < step:
            self.steps.append(step)

    def _show_pictures(self, pictures: np.ndarray, labels: np.ndarray, step: int, live: bool) -> None:
        self.grid.set_pictures(pictures, labels, step)
        self.timeline_label.setText(f"iteration {step}" + (" (live)" if live and self._is_live() else ""))
        if self._viewed is not None:
            self._render_viewed()

    def _sync_timeline(self) -> None:
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, max(len(self.steps) - 1, 0))
        if self._follow_live:
            self.timeline.setValue(self.timeline.maximum())
        self.timeline.blockSignals(False)
        self._enable_exports()

    def _on_timeline(self, position: int) -> None:
        if not self.steps or self.run_dir is None:
            return
        self._follow_live = position >= self.timeline.maximum()
        if self._follow_live and self._live_pictures is not None and self._is_live():
            self._show_pictures(*self._live_pictures, live=True)
            return
        step = self.steps[min(position, len(self.steps) - 1)]
        try:
            pictures, labels = load_snapshot(self.run_dir, step)
        except ModelError as error:
            self.failed.emit(str(error))
            return
        self._show_pictures(pictures, labels, step, live=False)

    def show_prototype(self, index: int) -> None:
        self._viewed = index
        self._render_viewed()

    def _render_viewed(self) -> None:
        picture = self.grid.picture(self._viewed) if self._viewed is not None else None
        if picture is None or self._viewed is None:
            return
        labels = self.grid.labels
        names = self.grid.class_names
        label = int(labels[self._viewed]) if labels is not None and self._viewed < len(labels) else -1
        name = names[label] if 0 <= label < len(names) else f"class {label}"
        self.view.set_image(render_rgb(prototype_cutout(picture, name), self.controls.settings()), keep_view=True)
        self.view_caption.setText(
            f"{name} · prototype {self._viewed + 1} · iteration {self.grid.step} · "
            f"{picture.shape[1]}×{picture.shape[0]} px"
        )
