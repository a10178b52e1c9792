"""Train panel: a tiny run draws its curves and ends with the confusion matrix; cancel keeps a
resumable run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.panels.train_results import CV_RESULTS_TITLE, RESULTS_TITLE
from galaxy_studio.gui.text_styles import WARNING_STYLE
from galaxy_studio.model.config import ARCHITECTURE_NAMES, ARCHITECTURE_SUMMARIES
from galaxy_studio.model.runs import runs_dir


def write_finished_run(name: str, metrics: dict) -> None:
    """A finished run folder as training leaves it, without training: only what lists read."""
    folder = runs_dir() / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"arch": "galaxy-cnn", "size": 64}))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "model.pt").write_bytes(b"weights")


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo_set(root, per_class=6, size=32)
    for folder in sorted(root.iterdir())[3:]:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    return root


def configure(window: MainWindow, data: Path, epochs: int) -> None:
    train = window.train
    window.tabs.setCurrentWidget(train)
    train.form.data_edit.setText(str(data))
    train.form.size.setValue(16)
    train.form.epochs.setValue(epochs)
    train.form.batch.setValue(8)
    train.form.device.setCurrentText("cpu")


def test_a_tiny_run_plots_curves_and_shows_the_confusion_matrix(qtbot, window: MainWindow, demo_data: Path) -> None:  # noqa: ANN001
    configure(window, demo_data, epochs=3)
    train = window.train
    train.start()
    assert train.cancel_button.isEnabled() and not train.start_button.isEnabled()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=120_000)
    assert train.curves.loss_plot.point_count("train") == 3
    assert train.curves.acc_plot.point_count("validation") == 3
    assert train.results.confusion.rowCount() == 3 and train.results.confusion.columnCount() == 3
    confusion = train.results.confusion
    assert sum(int(confusion.item(r, c).text()) for r in range(3) for c in range(3)) == train.result.metrics["n"]
    assert "Accuracy" in train.results.metrics_label.text()
    metrics = train.result.metrics
    shown = train.results.metrics_label.text().replace("\u00a0", " ")
    assert f"ECE {metrics['ece']:.3f} · T = {metrics['temperature']:.2f}" in shown
    bars = train.results.reliability.bars.opts
    assert list(bars["height"]) == [b["accuracy"] for b in metrics["reliability"]]
    assert sum(b["count"] for b in metrics["reliability"]) == metrics["n"]
    n = train.result.metrics["n"]
    assert f"(n={n}, 95% CI " in train.results.metrics_label.text()
    assert f"only {n} test images (fewer than 20)" in train.results.metrics_label.text() and WARNING_STYLE in (
        train.results.metrics_label.text()
    )
    assert train.past_runs.runs.count() == 1 and "finished" not in train.past_runs.runs.item(0).text()
    assert f"(n={n}, 95% CI " in train.past_runs.runs.item(0).text()
    assert Path(train.result.checkpoint).is_file()


def test_a_run_from_before_calibration_shows_an_empty_diagram(window: MainWindow) -> None:
    train = window.train
    train.results.show_confusion({"confusion": [[1, 0], [0, 1]], "classes": ["a", "b"]})
    reliability = train.results.reliability
    assert len(reliability.bars.opts["height"]) == 0 and len(reliability.raw.getData()[0] or []) == 0


def test_cancel_keeps_a_resumable_run(qtbot, window: MainWindow, demo_data: Path) -> None:  # noqa: ANN001
    configure(window, demo_data, epochs=200)
    train = window.train
    train.start()
    qtbot.waitUntil(lambda: train.curves.loss_plot.point_count("train") >= 1, timeout=120_000)
    assert window.statusBar().currentMessage().startswith("Training: epoch ")
    train.cancel_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    assert "Cancelled" in train.progress_label.text()
    assert window.statusBar().currentMessage().startswith("Cancelled. The last finished epoch (")
    assert train.past_runs.runs.count() == 1
    train.past_runs.runs.setCurrentRow(0)
    run = train.past_runs.runs.item(0).data(Qt.ItemDataRole.UserRole)
    assert run.status == "unfinished"
    assert train.past_runs.resume_button.isEnabled()
    done_before = train.curves.loss_plot.point_count("train")
    train.past_runs.resume_button.click()
    assert train.curves.loss_plot.point_count("train") == done_before, "the saved epochs are drawn again"
    qtbot.waitUntil(lambda: train.curves.loss_plot.point_count("train") > done_before, timeout=120_000)
    train.cancel_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    history = train.past_runs.runs.item(0).data(Qt.ItemDataRole.UserRole).history
    assert len(history) > done_before, "the resumed run continued after the saved epochs"


def test_past_runs_show_n_and_interval_and_rank_by_its_lower_bound(window: MainWindow) -> None:
    # The seen case: 19 labelled images gave "100%" on 2 test images without a spiral.
    write_finished_run(
        "lucky",
        {
            "accuracy": 1.0,
            "n": 2,
            "accuracy_ci95": [0.342, 1.0],
            "per_class": {"spiral": {"support": 0}, "non-spiral": {"support": 2, "recall_ci95": [0.342, 1.0]}},
        },
    )
    write_finished_run("large", {"accuracy": 0.75, "n": 1400, "accuracy_ci95": [0.727, 0.772]})
    write_finished_run("old", {"accuracy": 0.9})
    train = window.train
    train.refresh_runs()
    texts = [train.past_runs.runs.item(row).text() for row in range(train.past_runs.runs.count())]
    assert texts == [
        "large\n75% (n=1,400, 95% CI 73–77%)",
        "lucky\n100% (n=2, 95% CI 34–100%)",
        "old\n90% (n unknown)",
    ]
    train.past_runs.runs.setCurrentRow(1)
    shown = train.results.metrics_label.text()
    assert "100.0% (n=2, 95% CI 34.2–100.0%)" in shown
    assert "only 2 test images (fewer than 20)" in shown and "no test image of class spiral" in shown
    assert shown.index(WARNING_STYLE) < shown.index("Accuracy"), "the warning comes first"
    train.past_runs.runs.setCurrentRow(0)
    assert "fewer than 20" not in train.results.metrics_label.text()
    assert "64 px" in train.past_runs.runs.item(0).toolTip()
    train.past_runs.runs.setCurrentRow(2)
    assert "90.0% (n unknown)" in train.results.metrics_label.text()


def test_the_status_bar_names_the_running_job_and_cancel_says_what_was_kept(
    qtbot,  # noqa: ANN001
    window: MainWindow,
    demo_data: Path,
) -> None:
    """Seen: "Ready. Open a folder…" in the status bar through a whole training run, and
    "the last finished epoch is kept … press Resume" after a cancel that came before any epoch."""
    configure(window, demo_data, epochs=200)
    train = window.train
    train.start()
    assert window.statusBar().currentMessage().startswith(f"Preparing {demo_data.name}")
    train.cancel_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    assert train.curves.loss_plot.point_count("train") == 0
    assert "nothing to resume" in train.progress_label.text()
    assert "is kept" not in train.progress_label.text()
    assert window.statusBar().currentMessage() == "Training cancelled before its first epoch"


def test_every_architecture_is_listed_with_its_summary_under_the_choice(window: MainWindow) -> None:
    train = window.train
    window.tabs.setCurrentWidget(train)
    names = [train.form.arch.itemText(index) for index in range(train.form.arch.count())]
    assert names == list(ARCHITECTURE_NAMES) and "galaxy-cnn-d4" in names
    for index, name in enumerate(names):
        train.form.arch.setCurrentIndex(index)
        summary = train.form.arch_summary
        assert summary.isVisibleTo(train) and summary.text() == ARCHITECTURE_SUMMARIES[name]
        assert train.form.arch.itemData(index, Qt.ItemDataRole.ToolTipRole) == ARCHITECTURE_SUMMARIES[name]
    train.form.arch.setCurrentText("galaxy-cnn-d4")
    assert "turned" in train.form.arch_summary.text()


def test_use_its_settings_fills_the_form_with_a_past_run_for_a_new_one(window: MainWindow, demo_data: Path) -> None:
    from galaxy_studio.model.config import TrainConfig

    past = TrainConfig(
        data=str(demo_data), out_dir=str(runs_dir() / "tried"), arch="convnet-d3", size=48, epochs=7, lr=2e-3
    )
    folder = runs_dir() / "tried"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(past.to_dict()))
    (folder / "metrics.json").write_text(json.dumps({"accuracy": 0.8, "n": 30}))
    (folder / "model.pt").write_bytes(b"weights")
    train = window.train
    train.form.data_edit.setText("")
    train.form.advanced.setChecked(False)
    train.refresh_runs()
    assert not train.past_runs.reuse_button.isEnabled(), "nothing selected yet"
    runs = train.past_runs.runs
    names = [runs.item(row).data(Qt.ItemDataRole.UserRole).name for row in range(runs.count())]
    train.past_runs.runs.setCurrentRow(names.index("tried"))
    assert train.past_runs.reuse_button.isEnabled()
    train.past_runs.reuse_button.click()
    assert train.form.data_edit.text() == str(demo_data)
    assert (train.form.arch.currentText(), train.form.size.value(), train.form.epochs.value()) == ("convnet-d3", 48, 7)
    assert train.form.lr.value() == pytest.approx(2e-3) and train.form.advanced.isChecked(), (
        "a changed lr shows the advanced part"
    )
    fresh = train.form.config()
    assert fresh.out_dir != past.out_dir and fresh.recipe() == past.recipe(), "a new run of the same recipe"
    assert "tried" in window.statusBar().currentMessage()


def test_cross_validation_tests_every_image_once_and_cancel_keeps_the_finished_folds(  # noqa: ANN001
    qtbot, window: MainWindow, demo_data: Path
) -> None:
    configure(window, demo_data, epochs=60)
    train = window.train
    train.cv_folds.setValue(2)
    train.cross_validate()
    assert train.results.title() == CV_RESULTS_TITLE and not train.cv_button.isEnabled()
    qtbot.waitUntil(lambda: train._cv_progress is not None and train._cv_progress[0] == 2, timeout=180_000)
    qtbot.waitUntil(lambda: train.curves.loss_plot.point_count("train") >= 1, timeout=120_000)
    assert train.progress_label.text().startswith("Fold 2/2 · Epoch ")
    assert train.progress.format().startswith("%v / %m folds") and train.progress.maximum() == 2, "the bar counts folds"
    train.cancel_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    assert "Cancelled. 1 of 2 folds finished and are kept: select the cross-validation under Past runs" in (
        train.progress_label.text()
    )
    rows = [
        row
        for row in range(train.past_runs.runs.count())
        if "2-fold cross-validation\n1 of 2 done" in train.past_runs.runs.item(row).text()
    ]
    assert len(rows) == 1, "the unfinished cross-validation is listed"
    train.past_runs.runs.setCurrentRow(rows[0])
    run = train.past_runs.runs.item(rows[0]).data(Qt.ItemDataRole.UserRole)
    assert not (train.past_runs.runs.item(rows[0]).flags() & Qt.ItemFlag.ItemIsUserCheckable), "no curves of its own"
    assert "1 of 2 folds finished; Resume continues it" in train.results.metrics_label.text()
    folder = run.path
    first_fold = (folder / "fold_1" / "metrics.json").stat().st_mtime_ns

    train.past_runs.resume_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=180_000)
    assert (folder / "fold_1" / "metrics.json").stat().st_mtime_ns == first_fold, "the finished fold is reused"
    record = json.loads((folder / "cv.json").read_text())
    assert record["k"] == 2 and len(record["folds"]) == 2 and record["images"] == 18
    shown = train.results.metrics_label.text()
    assert "2-fold cross-validation</b> of 18 images" in shown and "(n=18, 95% CI " in shown
    total = sum(int(train.results.confusion.item(r, c).text()) for r in range(3) for c in range(3))
    assert total == 18, "the pooled matrix counts every image once"
    assert "(all folds)" in train.results.reliability.getPlotItem().titleLabel.text
    assert len(train.results.reliability.bars.opts["height"]) >= 1, "the folds' reliability bins, pooled"
    assert window.statusBar().currentMessage().startswith("Cross-validation finished: accuracy ")
    assert train.cv_button.isEnabled()
    write_finished_run("20260101-000000-single", {"accuracy": 0.5, "n": 4})
    train.refresh_runs()
    texts = [train.past_runs.runs.item(row).text() for row in range(train.past_runs.runs.count())]
    assert (
        texts[0].startswith(folder.name) and "2-fold cross-validation\n" in texts[0] and "(n=18, 95% CI" in texts[0]
    ), "the finished cross-validation ranks by its accuracy over all 18 images"
    train.past_runs.runs.setCurrentRow(texts.index(next(t for t in texts if t.startswith("20260101-000000-single"))))
    assert train.results.title() == RESULTS_TITLE, "a single run's results are its test split's"
    train.past_runs.runs.setCurrentRow(0)
    assert train.results.title() == CV_RESULTS_TITLE and "2-fold cross-validation" in train.results.metrics_label.text()
    train.past_runs.reuse_button.click()
    assert train.cv_folds.value() == 2
