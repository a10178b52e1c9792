"""Train panel: data too small to split is a failure message before any epoch, not a
traceback after training."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.panels.train_panel import TrainPanel


def _warnings_shown(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (title, text) of every warning box, instead of showing it."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text: shown.append((title, text)))
    return shown


def _train_tab_on_demo_data(window: MainWindow, tmp_path: Path, per_class: int) -> TrainPanel:
    """The Train tab on `per_class` demo galaxies of each class, one tiny epoch on the CPU."""
    write_demo_set(tmp_path / "data", per_class=per_class, size=24)
    train = window.train
    window.tabs.setCurrentWidget(train)
    train.form.data_edit.setText(str(tmp_path / "data"))
    train.form.size.setValue(16)
    train.form.epochs.setValue(1)
    train.form.device.setCurrentText("cpu")
    return train


def test_one_image_per_class_fails_with_the_minimum_before_training(
    qtbot,  # noqa: ANN001
    window: MainWindow,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings = _warnings_shown(monkeypatch)
    train = _train_tab_on_demo_data(window, tmp_path, per_class=1)
    train.start()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    assert len(warnings) == 1 and "4 per class are needed" in warnings[0][1] and "Traceback" not in warnings[0][1]
    assert train.progress_label.text().startswith("Failed: too few labelled images")
    assert train.curves.loss_plot.point_count("train") == 0


def test_too_few_images_for_the_folds_fail_with_the_minimum_before_any_fold(
    qtbot,  # noqa: ANN001
    window: MainWindow,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings = _warnings_shown(monkeypatch)
    train = _train_tab_on_demo_data(window, tmp_path, per_class=4)
    train.cv_folds.setValue(10)
    train.cross_validate()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=60_000)
    assert len(warnings) == 1 and warnings[0][0] == "Cross-validation failed"
    assert "10-fold cross-validation" in warnings[0][1] and "Traceback" not in warnings[0][1]
    assert train.curves.loss_plot.point_count("train") == 0 and train.cv_button.isEnabled()
