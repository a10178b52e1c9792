"""Distill panel: a tiny run draws its curves and moves its prototypes, pause parks it, cancel
keeps a checkpoint a new run resumes from, the timeline replays snapshots, exports write
files, and CUDA running out of memory ends with advice instead of a traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.distill.config import BufferConfig, DistillConfig
from galaxy_studio.distill.runs import distill_runs_dir, load_snapshot, read_distill_run, snapshot_steps
from galaxy_studio.events import StageAdvanced
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.panels.distill_panel import DistillPanel
from galaxy_studio.gui.worker import live_job_threads

CLASSES = ("Round Smooth", "Edge-on without Bulge", "Unbarred Loose Spiral")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data, buffer): 36 galaxies of 24 px in three classes, two width-8 experts of 3 epochs."""
    import torch

    from galaxy_studio.distill.experts import train_experts

    torch.set_num_threads(1)  # as the distill tests: two threads spin against each other on a loaded CPU
    root = tmp_path_factory.mktemp("distill-panel")
    data = root / "data"
    write_demo_set(data, per_class=12, size=24, seed=5)
    for folder in data.iterdir():
        if folder.is_dir() and folder.name not in CLASSES:
            shutil.rmtree(folder)
    buffer = root / "buffer"
    train_experts(
        BufferConfig(
            data=str(data),
            out_dir=str(buffer),
            experts=2,
            epochs=3,
            width=8,
            size=16,
            crop_fraction=1.0,
            batch_size=8,
            device="cpu",
            threads=2,
        )
    )
    return data, buffer


def configure(panel: DistillPanel, data: Path, buffer: Path, iterations: int) -> None:
    form = panel.form
    form.data_edit.setText(str(data))
    form.buffer_edit.setText(str(buffer))
    form.ipc.setValue(2)
    form.syn_steps.setValue(4)
    form.iterations.setValue(iterations)
    form.lr_img.setValue(100.0)
    form.snapshot_every.setValue(1)
    form.device.setCurrentText("cpu")
    panel.eval_nets.setValue(1)
    panel.eval_epochs.setValue(2)


def tiny_config(data: Path, buffer: Path, out: Path, **changes: object) -> DistillConfig:
    settings: dict[str, object] = {
        "ipc": 2,
        "syn_steps": 4,
        "iterations": 400,
        "lr_img": 100.0,
        "device": "cpu",
        "checkpoint_every": 2,
        "snapshot_every": 1,
    }
    settings.update(changes)
    return DistillConfig(buffer=str(buffer), data=str(data), out_dir=str(out), **settings)  # type: ignore[arg-type]


def test_a_tiny_run_plots_moves_prototypes_evaluates_and_exports(
    qtbot, window: MainWindow, tiny: tuple[Path, Path], tmp_path: Path
) -> None:  # noqa: ANN001
    data, buffer = tiny
    panel = window.distill
    window.tabs.setCurrentWidget(panel)
    configure(panel, data, buffer, iterations=6)
    panel.start_button.click()
    assert panel.runner.running and panel.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel.evaluation is not None, timeout=180_000)
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=10_000)
    assert panel.curves.loss_plot.point_count("matching") == 6
    assert panel.results.live_readability["step"] == 6 and "colour_outside_fraction" in panel.results.live_readability
    assert "colours no real pixel has" in panel.results.readability_label.text()
    assert panel.curves.loss_plot.point_count("validation") == 6
    assert panel.curves.lr_plot.point_count("lr") == 6
    run_dir = panel.run_dir
    assert snapshot_steps(run_dir) == list(range(7))
    assert panel.prototypes.grid.updates >= 2 and panel.prototypes.grid.step == 6
    first, labels = load_snapshot(run_dir, 0)
    assert np.array_equal(panel.prototypes.grid.labels, labels)
    assert not np.array_equal(panel.prototypes.grid.pictures, first), "the prototypes changed while distilling"
    assert panel.prototypes.grid.class_names == tuple(sorted(CLASSES))

    n = read_distill_run(run_dir).metrics["test_images"]
    for row in range(4):
        assert f"% (n={n}, 95% CI " in panel.results.table.item(row, 3).text(), panel.results.table.item(row, 3).text()
    name, details = panel.runs_box.runs.item(0).text().split("\n")
    assert name == run_dir.name and f"(n={n}, 95% CI " in details, "the name on its own line, never cut off"
    assert (
        panel.results.readability_label.text().startswith("Prototypes ")
        and "percentile range" in panel.results.readability_label.text()
    )
    assert read_distill_run(run_dir).metrics["distilled"]["images"] == 6
    assert panel.runs_box.runs.count() == 1 and "finished" not in panel.runs_box.runs.item(0).text()
    assert window.statusBar().currentMessage().startswith("Evaluation finished: distilled "), "not 'Evaluating…'"

    panel.prototypes.timeline.setValue(0)
    assert panel.prototypes.grid.step == 0 and np.array_equal(panel.prototypes.grid.pictures, first)
    assert panel.prototypes.timeline_label.text() == "iteration 0"

    centre = panel.prototypes.grid.cell_rect(3).center()
    qtbot.mouseClick(panel.prototypes.grid, Qt.MouseButton.LeftButton, pos=centre)
    assert panel.prototypes.grid.selected == 3
    shown = panel.prototypes.view.image_rgb()
    assert shown is not None and shown.shape[:2] == first.shape[1:3]
    assert panel.prototypes.view_caption.text().startswith(sorted(CLASSES)[1]), panel.prototypes.view_caption.text()
    panel.prototypes.controls.invert.setChecked(True)
    assert np.array_equal(panel.prototypes.view.image_rgb(), 255 - shown), "the stretch controls apply to the prototype"

    for kind, target in (("npz", tmp_path / "set.npz"), ("fits", tmp_path / "set.fits"), ("png", tmp_path / "png")):
        panel.export_synthetic(kind, target)
        qtbot.waitUntil(lambda: not panel.exports.running, timeout=30_000)
    assert (tmp_path / "set.npz").is_file() and (tmp_path / "set.fits").is_file()
    assert (tmp_path / "png" / "all.png").is_file()
    panel.export_evolution("gif", tmp_path / "evolution.gif")
    qtbot.waitUntil(lambda: not panel.exports.running, timeout=30_000)
    panel.export_evolution("strip", tmp_path / "strip.png")
    qtbot.waitUntil(lambda: not panel.exports.running, timeout=30_000)
    with Image.open(tmp_path / "evolution.gif") as gif:
        assert gif.n_frames == 7
    with Image.open(tmp_path / "strip.png") as strip:
        assert strip.width > 6 * strip.height / 2, "seven snapshots side by side"


def test_pause_parks_the_run_resume_continues_and_closing_stops_it(
    qtbot, window: MainWindow, tiny: tuple[Path, Path]
) -> None:  # noqa: ANN001
    data, buffer = tiny
    panel = window.distill
    configure(panel, data, buffer, iterations=2000)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.curves.loss_plot.point_count("matching") >= 2, timeout=120_000)
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.runner.paused, timeout=30_000)
    assert panel.pause_button.text() == "Resume" and "Paused after iteration" in panel.progress_label.text()
    qtbot.wait(150)
    points, updates = panel.curves.loss_plot.point_count("matching"), panel.prototypes.grid.updates
    qtbot.wait(600)
    assert panel.curves.loss_plot.point_count("matching") == points and panel.prototypes.grid.updates == updates
    panel.pause_button.click()
    assert panel.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: panel.curves.loss_plot.point_count("matching") > points + 1, timeout=60_000)
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.runner.paused, timeout=30_000)
    window.close()
    assert live_job_threads() == 0, "closing the window cancels the parked job and waits for it"


def test_cancel_keeps_a_checkpoint_that_resume_continues(qtbot, window: MainWindow, tiny: tuple[Path, Path]) -> None:  # noqa: ANN001
    data, buffer = tiny
    panel = window.distill
    panel.evaluate_when_done.setChecked(False)
    out = distill_runs_dir() / "resumable"
    panel.start(tiny_config(data, buffer, out))
    qtbot.waitUntil(lambda: panel.curves.loss_plot.point_count("matching") >= 3, timeout=120_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=60_000)
    assert "Cancelled" in panel.progress_label.text()
    saved = read_distill_run(out)
    assert saved.status == "unfinished" and saved.iterations >= 2 and (out / "state.pt").is_file()

    window.close()
    reopened = MainWindow()
    qtbot.addWidget(reopened)
    reopened.show()
    panel = reopened.distill
    panel.evaluate_when_done.setChecked(False)
    rows = [
        panel.runs_box.runs.item(row).data(Qt.ItemDataRole.UserRole).path for row in range(panel.runs_box.runs.count())
    ]
    panel.runs_box.runs.setCurrentRow(rows.index(out))
    assert panel.runs_box.resume_button.isEnabled()
    panel.runs_box.resume_button.click()
    assert panel.curves.loss_plot.point_count("matching") == saved.iterations, "the saved iterations are drawn again"
    qtbot.waitUntil(lambda: panel.curves.loss_plot.point_count("matching") > saved.iterations + 1, timeout=120_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=60_000)
    history = read_distill_run(out).history
    assert [record["iteration"] for record in history] == list(range(1, len(history) + 1))
    assert len(history) > saved.iterations, "the new run continued after the checkpoint"
    reopened.close()


def test_cuda_out_of_memory_stops_with_advice(
    qtbot, window: MainWindow, tiny: tuple[Path, Path], isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    import torch

    import galaxy_studio.distill.runner as runner

    def out_of_memory(config: DistillConfig, *_: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(runner, "_distill", out_of_memory)
    data, buffer = tiny
    panel = window.distill
    panel.start(tiny_config(data, buffer, isolated_home / "oom", syn_steps=40, memory="full"))
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=30_000)
    text = panel.progress_label.text()
    assert text.startswith("Failed: The GPU ran out of memory"), text
    assert "checkpointed or constant" in text and "fewer syn steps (e.g. 20)" in text
    assert "Traceback" not in text and panel.start_button.isEnabled()


def test_stage_changes_are_labelled_markers(window: MainWindow) -> None:
    panel = window.distill
    panel._on_event(StageAdvanced(2, "validation loss still falling (r=-0.95 < -5se=-1.77)"))
    assert panel.curves.loss_plot.marker_texts() == ["stage 2: validation loss still falling"]
    assert panel.curves.lr_plot.marker_texts() == ["stage 2: validation loss still falling"]
    panel.curves.smoothing.setChecked(True)
    for step, value in enumerate([1.0, 3.0, 5.0], start=1):
        panel.curves.loss_plot.append("matching", step, value)
    assert np.allclose(panel.curves.loss_plot.series_values("matching"), [1.0, 2.0, 3.0])


def test_build_buffer_shows_its_planned_size_then_uses_it(qtbot, window: MainWindow, tiny: tuple[Path, Path]) -> None:  # noqa: ANN001
    data, _ = tiny
    panel = window.distill
    panel.form.data_edit.setText(str(data))
    panel.form.experts.setValue(1)
    panel.form.expert_epochs_total.setValue(1)
    panel.form.size.setValue(16)
    panel.form.width.setValue(8)
    panel.form.device.setCurrentText("cpu")
    # What the label said right after the panel handled each event: a build this small can
    # end (and replace the plan with the built buffer's summary) before a poll sees the plan.
    shown: list[str] = []
    panel.runner.event.connect(lambda _event: shown.append(panel.form.buffer_info.text()))
    panel.form.build_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=120_000)
    planned = next(text for text in shown if text.startswith("Planned"))
    assert "1 expert × 2 snapshots ×" in planned and "MB on disk" in planned
    built = Path(panel.form.buffer_edit.text())
    assert (built / "buffer.json").is_file() and (built / "expert_000.npy").is_file()
    assert panel.form.buffer_info.text().startswith(
        "1 expert × 1 epoch · batch 32 · 3 classes · 16 px · ZCA-whitened ·"
    )
    assert "Buffer ready" in panel.progress_label.text()


def test_estimate_measures_seconds_per_iteration(qtbot, window: MainWindow, tiny: tuple[Path, Path]) -> None:  # noqa: ANN001
    data, buffer = tiny
    panel = window.distill
    configure(panel, data, buffer, iterations=1000)
    panel.estimate_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=60_000)
    assert panel.progress_label.text().startswith("About ") and "per iteration on cpu" in panel.progress_label.text()
    note = panel.device_note.text()
    assert "s per iteration measured; 1000 iterations ≈" in note, note
    panel.form.iterations.setValue(4000)
    assert "s per iteration measured; 4000 iterations ≈" in panel.device_note.text(), "the total follows Iterations"
    panel.form.syn_steps.setValue(panel.form.syn_steps.value() + 5)
    note = panel.device_note.text()
    assert "measured" not in note and "Press Estimate" in note, "a pace measured for other syn steps is not quoted"


def test_live_snapshots_extend_the_timeline_and_list_the_folder_only_after_a_gap(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing the snapshot folder for every snapshot cost the GUI thread time growing with
    the run; the next step in the schedule is appended, a gap (coalesced snapshots) re-lists."""
    from galaxy_studio.distill.runs import snapshot_file
    from galaxy_studio.events import SnapshotTaken
    from galaxy_studio.gui.panels import distill_prototypes

    panel = window.distill
    run_dir = tmp_path / "run"
    panel.prototypes.follow_run(run_dir, snapshot_every=2)
    listings: list[Path] = []
    monkeypatch.setattr(
        distill_prototypes, "snapshot_steps", lambda folder: listings.append(folder) or snapshot_steps(folder)
    )
    pictures, labels = np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1])

    def saved(step: int, delivered: bool = True) -> None:
        path = snapshot_file(run_dir, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=pictures, labels=labels)
        if delivered:
            panel._on_event(SnapshotTaken(step, pictures, labels))

    for step in (0, 2, 4):
        saved(step)
    assert panel.prototypes.timeline.maximum() == 2 and panel.prototypes.grid.step == 4
    assert listings == [run_dir], "listed once, for the first snapshot"
    saved(6, delivered=False)
    saved(8)
    assert listings == [run_dir, run_dir], "a gap lists the folder again"
    panel.prototypes.timeline.setValue(3)
    assert panel.prototypes.grid.step == 6, "the snapshot the GUI never received is on the timeline"


def test_cancel_before_the_first_checkpoint_says_nothing_was_saved(
    qtbot, window: MainWindow, tiny: tuple[Path, Path]
) -> None:  # noqa: ANN001
    """Seen: "the last checkpoint is kept … press Resume" while the run showed "0 it · empty"
    and Resume stayed disabled. The message is read from the run folder."""
    data, buffer = tiny
    panel = window.distill
    panel.evaluate_when_done.setChecked(False)
    out = distill_runs_dir() / "too-early"
    panel.start(tiny_config(data, buffer, out, checkpoint_every=1000))
    qtbot.waitUntil(lambda: panel.curves.loss_plot.point_count("matching") >= 1, timeout=120_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=60_000)
    text = panel.progress_label.text()
    assert read_distill_run(out).status == "empty"
    assert text.startswith("Cancelled") and "Nothing was saved" in text and "every 1000 iterations" in text, text
    assert "Resume" not in text and "checkpoint is kept" not in text
    assert not panel.runs_box.resume_button.isEnabled() and panel.start_button.isEnabled()


def test_cancel_after_a_checkpoint_names_it_and_enables_resume(
    qtbot, window: MainWindow, tiny: tuple[Path, Path]
) -> None:  # noqa: ANN001
    """With snapshots rarer than checkpoints the run was never selected in Past runs, so the
    message promised a Resume that was disabled."""
    data, buffer = tiny
    panel = window.distill
    panel.evaluate_when_done.setChecked(False)
    out = distill_runs_dir() / "kept"
    panel.start(tiny_config(data, buffer, out, checkpoint_every=2, snapshot_every=1000))
    qtbot.waitUntil(lambda: panel.curves.loss_plot.point_count("matching") >= 3, timeout=120_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=60_000)
    saved = read_distill_run(out)
    assert saved.status == "unfinished"
    text = panel.progress_label.text()
    assert f"checkpoint at iteration {saved.iterations} is kept" in text and "Resume" in text, text
    assert panel.runs_box.selected().path == out and panel.runs_box.resume_button.isEnabled()


def test_a_picked_buffer_shows_the_experts_and_epochs_it_was_built_with(
    window: MainWindow, tiny: tuple[Path, Path]
) -> None:
    _, buffer = tiny
    form = window.distill.form
    assert (form.experts.value(), form.expert_epochs_total.value()) == (100, 50), "the paper's defaults at first"
    form.buffer_edit.setText(str(buffer))
    shown = (form.experts.value(), form.expert_epochs_total.value(), form.size.value(), form.width.value())
    assert shown == (2, 3, 16, 8)
    assert form.buffer_info.text().startswith("2 experts × 3 epochs · batch 8 · 3 classes")


def test_the_demo_shows_the_settings_it_really_uses(
    qtbot, window: MainWindow, tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    """Seen: 100 experts × 50 epochs and 5000 iterations in the form while the demo built
    2 × 4 and ran 400. Preparing shows the demo's own settings; the run shows its buffer's."""
    import galaxy_studio.distill.demo as demo

    data, buffer = tiny
    prepared: list[bool] = []

    def prepare(*, emit: object, cancel: object) -> tuple[Path, Path]:
        prepared.append(True)
        return data, buffer

    monkeypatch.setattr(demo, "ensure_demo_buffer", prepare)
    panel = window.distill
    panel.evaluate_when_done.setChecked(False)
    form = panel.form
    panel.start_demo()
    expected = demo.demo_buffer_config(data)
    assert (form.experts.value(), form.expert_epochs_total.value()) == (expected.experts, expected.epochs) == (2, 4)
    assert (form.size.value(), form.width.value()) == (expected.size, expected.width)
    assert (form.iterations.value(), form.ipc.value(), form.syn_steps.value()) == (400, 1, 10)
    assert form.buffer_edit.text() == expected.out_dir and form.buffer_info.text().startswith("Not built yet")
    qtbot.waitUntil(lambda: panel._is_running(panel._distilling), timeout=60_000)
    assert prepared and panel.config is not None
    assert form.iterations.value() == panel.config.iterations == 400
    assert (form.experts.value(), form.expert_epochs_total.value()) == (2, 3), "the buffer the run uses"
    assert form.buffer_edit.text() == str(buffer) and form.buffer_info.text().startswith("2 experts × 3 epochs")
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=60_000)


def test_work_before_a_run_shows_its_count_and_time_left_and_the_status_bar_follows_the_jobs(
    qtbot, window: MainWindow, tiny: tuple[Path, Path]
) -> None:  # noqa: ANN001
    """Seen: building the demo buffer said only "Preparing…" (no count, no time left) while the
    status bar kept "Ready. Open a folder…" through the whole distillation."""
    data, _ = tiny
    panel = window.distill
    window.tabs.setCurrentWidget(panel)
    panel.form.data_edit.setText(str(data))
    panel.form.experts.setValue(1)
    panel.form.expert_epochs_total.setValue(2)
    panel.form.size.setValue(16)
    panel.form.width.setValue(8)
    panel.form.device.setCurrentText("cpu")
    shown: list[str] = []
    panel.runner.event.connect(lambda _event: shown.append(panel.progress_label.text()))
    panel.form.build_button.click()
    assert window.statusBar().currentMessage().startswith("Building a buffer in ")
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=120_000)
    counted = [text for text in shown if re.fullmatch(r"Building a buffer in .+: .+ \d+/\d+ · \d+ s.*", text)]
    assert counted, shown
    assert any("left" in text for text in counted), counted

    configure(panel, data, Path(panel.form.buffer_edit.text()), iterations=2)
    panel.evaluate_when_done.setChecked(False)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    panel.start_button.click()
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=120_000)
    loading, distilling = f"Loading {data.name} and the buffer…", f"Distilling {data.name}: 2 iterations"
    assert loading in messages and distilling in messages
    assert messages.index(loading) < messages.index(distilling)


def test_use_its_settings_fills_the_form_with_a_past_run_for_a_new_one(
    window: MainWindow, tiny: tuple[Path, Path]
) -> None:
    import json

    data, buffer = tiny
    panel = window.distill
    out = distill_runs_dir() / "tried-settings"
    out.mkdir(parents=True)
    past = tiny_config(data, buffer, out, ipc=3, syn_steps=6, lr_img=30.0, method="mtt", checkpoint_every=10)
    (out / "config.json").write_text(json.dumps(past.to_dict()))
    panel.form.data_edit.setText("")
    panel.refresh_runs()
    names = [
        panel.runs_box.runs.item(row).data(Qt.ItemDataRole.UserRole).name for row in range(panel.runs_box.runs.count())
    ]
    panel.runs_box.runs.setCurrentRow(names.index("tried-settings"))
    assert panel.runs_box.reuse_button.isEnabled()
    panel.runs_box.reuse_button.click()
    form = panel.form
    assert (form.data_edit.text(), form.buffer_edit.text()) == (str(data), str(buffer))
    assert (form.ipc.value(), form.syn_steps.value(), form.method.currentText()) == (3, 6, "mtt")
    assert form.lr_img.value() == pytest.approx(30.0)
    fresh = form.distill_config(distill_runs_dir() / "new")
    assert {**fresh.to_dict(), "out_dir": None} == {**past.to_dict(), "out_dir": None}
    assert "tried-settings" in window.statusBar().currentMessage()
