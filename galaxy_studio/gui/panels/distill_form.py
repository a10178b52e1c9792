"""The Distill panel's settings: data, buffer, method and device, turned into the configs of
the distillation engine.

Defaults come from DistillConfig and BufferConfig themselves (torch-free), so the form and
the CLI never disagree; the fields not shown keep their paper values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.distill.config import DISTILL_METHODS, MEMORY_MODE_NAMES, BufferConfig, DistillConfig
from galaxy_studio.distill.runs import buffers_dir
from galaxy_studio.gui.widgets.data_source import DataSourceButtons
from galaxy_studio.model.config import DEVICES
from galaxy_studio.run_folders import new_run_folder

MEMORY_TIPS = {
    "full": "Keeps the whole unroll: fastest, memory grows with syn steps",
    "checkpointed": "Recomputes each step in the backward pass: same result, less memory",
    "constant": "TESLA: memory of one step whatever the syn steps, about 2x compute",
}


def describe_buffer(folder: str | Path) -> str:
    """One line about a buffer folder from its buffer.json, or why it is not usable."""
    path = Path(folder) / "buffer.json"
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{folder}: no buffer.json — not a buffer"
    except (OSError, ValueError) as exc:
        return f"{path}: unreadable ({exc})"
    experts = len(metadata.get("experts", []))
    classes = len(metadata.get("classes", []))
    config = metadata.get("config", {})
    return (f"{experts} expert(s) × {metadata.get('epochs', '?')} epochs · {classes} classes · "
            f"{config.get('size', '?')} px · {metadata.get('parameters', 0):,} parameters")


def buffer_classes(folder: str | Path) -> tuple[str, ...]:
    try:
        metadata = json.loads((Path(folder) / "buffer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(str(name) for name in metadata.get("classes", []))


def _spin(low: int, high: int, value: int, tip: str, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    spin.setToolTip(tip)
    return spin


class DistillForm(QWidget):
    """Emits `buffer_changed` when the buffer folder is edited or chosen."""

    buffer_changed = Signal(str)
    status = Signal(str)

    def __init__(self, current_project: Callable[[], Path | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current_project = current_project
        run = DistillConfig(buffer="", data="", out_dir="")
        buffer = BufferConfig(data="", out_dir="")

        self.data_edit = QLineEdit()
        data_buttons = DataSourceButtons(self.data_edit, current_project)
        data_buttons.status.connect(self.status)
        data_box = QGroupBox("Data")
        data_layout = QVBoxLayout(data_box)
        data_layout.addWidget(self.data_edit)
        data_layout.addWidget(data_buttons)

        self.buffer_edit = QLineEdit()
        self.buffer_edit.setPlaceholderText("a buffer folder (expert trajectories)")
        self.buffer_edit.textChanged.connect(self._on_buffer_text)
        choose_buffer = QPushButton("Choose…")
        choose_buffer.clicked.connect(self._choose_buffer)
        self.build_button = QPushButton("Build buffer")
        self.build_button.setToolTip("Train experts on the data above into a new buffer folder")
        buffer_row = QHBoxLayout()
        buffer_row.addWidget(self.buffer_edit, 1)
        buffer_row.addWidget(choose_buffer)
        self.experts = _spin(1, 1000, buffer.experts, "Experts to train (MTT: 100)")
        self.expert_epochs_total = _spin(1, 500, buffer.epochs, "Epochs per expert (MTT: 50)")
        self.size = _spin(8, 256, buffer.size, "Image size the experts (and prototypes) use", " px")
        self.width = _spin(0, 512, 0, "Channels per layer; 0: the architecture's (ConvNet-D3: 128)")
        self.width.setSpecialValueText("default")
        build_form = QFormLayout()
        build_pairs = QHBoxLayout()
        build_pairs.addWidget(self.experts)
        build_pairs.addWidget(QLabel("× epochs"))
        build_pairs.addWidget(self.expert_epochs_total)
        build_form.addRow("Experts", build_pairs)
        size_pairs = QHBoxLayout()
        size_pairs.addWidget(self.size)
        size_pairs.addWidget(QLabel("width"))
        size_pairs.addWidget(self.width)
        build_form.addRow("Image size", size_pairs)
        self.buffer_info = QLabel("Pick a buffer, or build one from the data.")
        self.buffer_info.setWordWrap(True)
        buffer_box = QGroupBox("Buffer")
        buffer_layout = QVBoxLayout(buffer_box)
        buffer_layout.addLayout(buffer_row)
        buffer_layout.addLayout(build_form)
        buffer_layout.addWidget(self.build_button)
        buffer_layout.addWidget(self.buffer_info)

        self.method = QComboBox()
        self.method.addItems(list(DISTILL_METHODS))
        self.method.setToolTip("stm: the matched part of the trajectory grows when the validation loss says so; "
                               "mtt: a fixed window of start epochs")
        self.ipc = _spin(1, 500, run.ipc, "Synthetic images per class")
        self.syn_steps = _spin(1, 500, run.syn_steps, "Unrolled SGD steps per iteration (memory grows with them "
                               "in full mode)")
        self.memory = QComboBox()
        for mode in MEMORY_MODE_NAMES:
            self.memory.addItem(mode)
            self.memory.setItemData(self.memory.count() - 1, MEMORY_TIPS[mode], 3)
        self.memory.setToolTip("; ".join(f"{mode}: {tip}" for mode, tip in MEMORY_TIPS.items()))
        self.iterations = _spin(1, 1_000_000, run.iterations, "At most this many iterations (STM may stop sooner)")
        self.lr_img = QDoubleSpinBox()
        self.lr_img.setRange(0.01, 1e6)
        self.lr_img.setDecimals(2)
        self.lr_img.setValue(run.lr_img)
        self.lr_img.setToolTip("Learning rate of the images (MTT/STM: 1000 on CIFAR, 10000 on GZ2); too high and "
                               "the prototypes turn to noise")
        self.clamp = QCheckBox("Keep pixels within the data's range")
        self.clamp.setChecked(run.clamp)
        self.clamp.setToolTip("After every step, clip each pixel to the real images' 0.1-99.9 percentile range of "
                              "its channel")
        self.snapshot_every = _spin(1, 10_000, run.snapshot_every, "Save the pictures every N iterations "
                                    "(the timeline replays them)")
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setToolTip("auto: CUDA, then Apple MPS, then the CPU")
        settings = QFormLayout()
        settings.addRow("Method", self.method)
        settings.addRow("Images per class", self.ipc)
        settings.addRow("Syn steps", self.syn_steps)
        settings.addRow("Memory mode", self.memory)
        settings.addRow("Iterations", self.iterations)
        settings.addRow("Image lr", self.lr_img)
        settings.addRow("", self.clamp)
        settings.addRow("Snapshot every", self.snapshot_every)
        settings.addRow("Device", self.device)
        method_box = QGroupBox("Distillation")
        method_box.setLayout(settings)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(data_box)
        layout.addWidget(buffer_box)
        layout.addWidget(method_box)

    # Choices --------------------------------------------------------------------------

    def _choose_buffer(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A buffer folder (holds buffer.json)", str(buffers_dir()))
        if folder:
            self.buffer_edit.setText(folder)

    def _on_buffer_text(self, text: str) -> None:
        text = text.strip()
        self.buffer_info.setText(describe_buffer(text) if text else "Pick a buffer, or build one from the data.")
        self.buffer_changed.emit(text)

    # Configs --------------------------------------------------------------------------

    def buffer_config(self, out_dir: Path | None = None) -> BufferConfig:
        out = out_dir or new_run_folder(buffers_dir(), Path(self.data_edit.text().strip() or "data").stem)
        return BufferConfig(data=self.data_edit.text().strip(), out_dir=str(out), experts=self.experts.value(),
                            epochs=self.expert_epochs_total.value(), size=self.size.value(),
                            width=self.width.value() or None, device=self.device.currentText())

    def distill_config(self, out_dir: Path) -> DistillConfig:
        return DistillConfig(
            buffer=self.buffer_edit.text().strip(), data=self.data_edit.text().strip(), out_dir=str(out_dir),
            method=self.method.currentText(), ipc=self.ipc.value(), syn_steps=self.syn_steps.value(),
            memory=self.memory.currentText(), iterations=self.iterations.value(), lr_img=self.lr_img.value(),
            clamp=self.clamp.isChecked(), snapshot_every=self.snapshot_every.value(), device=self.device.currentText(),
        )

    def show_config(self, config: DistillConfig) -> None:
        """Fill the form from a past run's config (before resuming it)."""
        self.data_edit.setText(config.data)
        self.buffer_edit.setText(config.buffer)
        self.method.setCurrentText(config.method)
        self.ipc.setValue(config.ipc)
        self.syn_steps.setValue(config.syn_steps)
        self.memory.setCurrentText(config.memory)
        self.iterations.setValue(config.iterations)
        self.lr_img.setValue(config.lr_img)
        self.clamp.setChecked(config.clamp)
        self.snapshot_every.setValue(config.snapshot_every)
        self.device.setCurrentText(config.device)
