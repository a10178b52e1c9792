"""Train panel: a weights file to start from is checked against the chosen network as soon
as it is chosen and again when the network changes; Clear goes back to random weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from PySide6.QtWidgets import QMessageBox

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.text_styles import WARNING_STYLE
from galaxy_studio.gui.widgets.weights_file import NO_FILE_TEXT


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_a_chosen_file_is_checked_against_the_network_and_can_be_cleared(
    window: MainWindow, resnet18_file: Path
) -> None:
    train = window.train
    picker = train.form.weights
    assert picker.report.text() == NO_FILE_TEXT and not picker.clear_button.isEnabled()
    assert not train.form.backbone_lr_scale.isEnabled(), "the backbone's rate means nothing without a file"
    train.form.arch.setCurrentText("resnet18")
    train.form.size.setValue(64)
    picker.set_path(str(resnet18_file))
    assert picker.name_edit.text() == "resnet18-imagenet.pth" and picker.fits()
    text = picker.report.text()
    assert text.startswith("Fits resnet18: 120 tensors of a ResNet-18; new last layer (fc); conv1: stride 1")
    assert "stride 1 instead of ImageNet's 2, for 64 px images" in text
    assert train.form.backbone_lr_scale.isEnabled() and train.form.backbone_lr_scale.value() == pytest.approx(0.1)
    config = train.form.config(Path("out"))
    assert config.pretrained == str(resnet18_file) and config.backbone_lr_scale == pytest.approx(0.1)

    train.form.arch.setCurrentText("convnext-tiny")
    assert not picker.fits() and picker.report.styleSheet() == WARNING_STYLE
    brief = "holds 122 tensors of a ResNet-18; convnext-tiny expects the 182 tensors of a ConvNeXt-Tiny."
    assert picker.report.text() == brief, "the file's name is above; which tensors differ is in the tooltip"
    details = picker.report.toolTip()
    assert str(resnet18_file) in details and "missing classifier.0.bias" in details
    assert "pass Pretrained weights a state dict" in details, "the hint names the control, not the CLI flag"

    picker.clear_button.click()
    assert picker.path() is None and picker.report.text() == NO_FILE_TEXT and picker.fits()
    assert picker.name_edit.text() == "" and not train.form.backbone_lr_scale.isEnabled()
    assert train.form.config(Path("out")).pretrained is None


def test_a_file_for_a_network_that_takes_none_stops_before_training(
    window: MainWindow, resnet18_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = window.train
    train.form.data_edit.setText(str(tmp_path))
    train.form.arch.setCurrentText("galaxy-cnn")
    train.form.weights.set_path(str(resnet18_file))
    assert "galaxy-cnn cannot start from a weights file" in train.form.weights.report.text()
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    train.start()
    assert not train.runner.running
    assert len(shown) == 1 and "galaxy-cnn cannot start from a weights file" in shown[0]
    assert "Architecture" in shown[0], "the hint names the GUI's control"


def test_the_weights_report_is_shown_whole_with_every_setting_open(
    qtbot,  # noqa: ANN001
    window: MainWindow,
    resnet18_file: Path,
) -> None:
    """The settings column scrolls rather than squeezing the report of the file, which wraps
    over several lines, below the height its text needs."""
    train = window.train
    window.tabs.setCurrentWidget(train)
    window.resize(1440, 760)
    train.form.arch.setCurrentText("resnet18")
    train.form.advanced.setChecked(True)
    train.form.weights.set_path(str(resnet18_file))
    qtbot.waitUntil(lambda: train.form.weights.report.text().startswith("Fits resnet18"), timeout=10_000)
    report = train.form.weights.report
    # The form's layout settles first, the column's on the next pass of the event loop.
    qtbot.waitUntil(lambda: report.height() >= report.heightForWidth(report.width()), timeout=1_000)
    qtbot.wait(200)
    assert report.height() >= report.heightForWidth(report.width()), "and it stays whole"
