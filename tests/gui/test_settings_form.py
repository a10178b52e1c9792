"""Form controls generated from the declared settings: they start at the config's defaults,
and what a user changes in them is what the config gets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from galaxy_studio.distill.config import BufferConfig, DistillConfig
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.widgets.settings_form import SettingsForm
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.settings import settings_of


def test_controls_follow_the_value_type_range_and_help(qtbot) -> None:
    form = SettingsForm(TrainConfig, ("arch", "epochs", "lr", "augment", "ema"))
    arch, epochs, lr, augment, ema = (form.controls[name] for name in ("arch", "epochs", "lr", "augment", "ema"))
    assert isinstance(arch, QComboBox) and [arch.itemText(i) for i in range(arch.count())] == [
        "galaxy-cnn",
        "galaxy-cnn-d4",
        "vgg11",
        "convnet-d3",
        "resnet18",
        "convnext-tiny",
    ]
    assert isinstance(epochs, QSpinBox) and (epochs.minimum(), epochs.maximum(), epochs.value()) == (1, 1000, 100)
    assert isinstance(lr, QDoubleSpinBox) and (lr.decimals(), lr.value(), lr.singleStep()) == (6, 5e-4, 1e-5)
    assert isinstance(augment, QCheckBox) and augment.text() == "Rotations and flips" and augment.isChecked()
    assert augment.toolTip().startswith("Random rotations and flips")
    assert isinstance(ema, QDoubleSpinBox) and ema.maximum() == 0.9999
    layout = QFormLayout()
    holder = QWidget()
    holder.setLayout(layout)
    qtbot.addWidget(holder)
    form.add_rows(layout)
    captions = [layout.itemAt(row, QFormLayout.ItemRole.LabelRole).widget().text() for row in range(layout.rowCount())]
    assert captions == ["Architecture", "Epochs", "Learning rate", "Augment", "Weight average"]


def test_the_train_form_starts_at_the_config_defaults_and_changes_reach_the_config(window: MainWindow) -> None:
    train = window.train
    config = train.form.config(Path("run"))
    assert config == TrainConfig(data="", out_dir="run"), "the form starts at the CLI's recipe"
    train.form.patience.setValue(0)
    train.form.ema.setValue(0)
    train.form.augment.setChecked(False)
    train.form.balance.setCurrentText("sampler")
    train.form.crop.setValue(0.3)
    changed = train.form.config(Path("run"))
    assert changed == replace(config, patience=None, ema=None, augment=False, balance="sampler", crop_fraction=0.3)


def test_the_distill_form_starts_at_the_config_defaults_and_shows_a_past_run(window: MainWindow) -> None:
    form = window.distill.form
    assert form.distill_config(Path("run")) == DistillConfig(buffer="", data="", out_dir="run")
    assert form.buffer_config(Path("buf")) == BufferConfig(data="", out_dir="buf")
    assert form.width.specialValueText() == "native" and form.width.value() == 32
    form.width.setValue(64)
    form.expert_epochs_total.setValue(7)
    form.device.setCurrentText("cpu")
    assert form.buffer_config(Path("buf")) == BufferConfig(data="", out_dir="buf", width=64, epochs=7, device="cpu")
    past = DistillConfig(
        buffer="b",
        data="d",
        out_dir="r",
        method="mtt",
        ipc=3,
        memory="constant",
        lr_img=100.0,
        clamp=False,
        snapshot_every=5,
        device="cpu",
    )
    form.show_config(past)
    assert form.distill_config(Path("r")) == past
    assert form.memory.itemData(2, 3).startswith("TESLA"), "per-mode tips are kept"
    assert set(settings_of(DistillConfig)) >= {"method", "ipc", "lr_img", "clamp"}
