"""Writing a distillation run's results from the Distill tab: the prototypes (a .npz archive,
PNG grids, a FITS cube) or their evolution (an animated GIF, a PNG strip).

Exports run in their own worker, one at a time, so that a GIF of thousands of snapshots
neither blocks the window nor waits for a running distillation. `written` and `failed` carry
the sentence to show."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from galaxy_studio.count_text import counted
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.worker import Job, JobRunner

_SAVE_FILTERS = {"npz": "NumPy archive (*.npz)", "fits": "FITS (*.fits)"}


class DistillExports(JobRunner):
    written = Signal(str)
    failed = Signal(str)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window

    def export_synthetic(self, run_dir: Path, kind: str, target: str | Path | None = None) -> None:
        """`kind` "npz", "png" (a grid per class into a folder) or "fits"; without `target`
        a dialog asks where."""
        if self.running:
            return
        if target is None:
            if kind == "png":
                target = QFileDialog.getExistingDirectory(self._window, "Folder for the PNG grids")
            else:
                target, _ = QFileDialog.getSaveFileName(
                    self._window, "Export the synthetic set", f"{run_dir.name}.{kind}", _SAVE_FILTERS[kind]
                )
            if not target:
                return
        destination = Path(target)

        def job(emit: EventSink, cancel: CancelToken) -> str:
            from galaxy_studio.distill.export import export_fits_cube, export_png_grids, load_synthetic, save_synthetic

            synthetic = load_synthetic(run_dir / "synthetic.npz")
            if kind == "npz":
                save_synthetic(destination, synthetic)
            elif kind == "fits":
                export_fits_cube(synthetic, destination)
            else:
                return f"{counted(len(export_png_grids(synthetic, destination)), 'PNG file')} in {destination}"
            return f"wrote {destination}"

        self._write(job)

    def export_evolution(self, run_dir: Path, kind: str, target: str | Path | None = None) -> None:
        """`kind` "gif" or "strip"; without `target` a dialog asks where."""
        if self.running:
            return
        if target is None:
            suffix = "gif" if kind == "gif" else "png"
            target, _ = QFileDialog.getSaveFileName(
                self._window,
                "Export the evolution",
                f"{run_dir.name}-evolution.{suffix}",
                f"{suffix.upper()} (*.{suffix})",
            )
            if not target:
                return
        destination = Path(target)

        def job(emit: EventSink, cancel: CancelToken) -> str:
            from galaxy_studio.distill.evolution import write_evolution_gif, write_evolution_strip

            if kind == "gif":
                return f"wrote {destination}: {counted(write_evolution_gif(run_dir, destination), 'frame')}"
            return f"wrote {destination}: {counted(write_evolution_strip(run_dir, destination), 'snapshot')}"

        self._write(job)

    def _write(self, job: Job[str]) -> None:
        self.start(job, on_success=self.written.emit, on_failure=self.failed.emit)
