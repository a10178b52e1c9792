"""Train panel: a tiny run draws its curves and ends with the confusion matrix; cancel keeps a
resumable run."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.gui.main_window import MainWindow


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
    train.data_edit.setText(str(data))
    train.size.setValue(16)
    train.epochs.setValue(epochs)
    train.batch.setValue(8)
    train.device.setCurrentText("cpu")


def test_a_tiny_run_plots_curves_and_shows_the_confusion_matrix(qtbot, window: MainWindow, demo_data: Path) -> None:  # noqa: ANN001
    configure(window, demo_data, epochs=3)
    train = window.train
    train.start()
    assert train.cancel_button.isEnabled() and not train.start_button.isEnabled()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=120_000)
    assert train.loss_plot.point_count("train") == 3
    assert train.acc_plot.point_count("validation") == 3
    assert train.confusion.rowCount() == 3 and train.confusion.columnCount() == 3
    assert sum(int(train.confusion.item(r, c).text()) for r in range(3) for c in range(3)) == train.result.metrics["n"]
    assert "Accuracy" in train.metrics_label.text()
    assert train.runs.count() == 1 and "finished" not in train.runs.item(0).text()
    assert Path(train.result.checkpoint).is_file()


def test_cancel_keeps_a_resumable_run(qtbot, window: MainWindow, demo_data: Path) -> None:  # noqa: ANN001
    configure(window, demo_data, epochs=200)
    train = window.train
    train.start()
    qtbot.waitUntil(lambda: train.loss_plot.point_count("train") >= 1, timeout=120_000)
    train.cancel_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    assert "Cancelled" in train.progress_label.text()
    assert train.runs.count() == 1
    train.runs.setCurrentRow(0)
    run = train.runs.item(0).data(Qt.ItemDataRole.UserRole)
    assert run.status == "unfinished"
    assert train.resume_button.isEnabled()
    done_before = train.loss_plot.point_count("train")
    train.resume_button.click()
    assert train.loss_plot.point_count("train") == done_before, "the saved epochs are drawn again"
    qtbot.waitUntil(lambda: train.loss_plot.point_count("train") > done_before, timeout=120_000)
    train.cancel_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    history = train.runs.item(0).data(Qt.ItemDataRole.UserRole).history
    assert len(history) > done_before, "the resumed run continued after the saved epochs"
