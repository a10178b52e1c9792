"""The Distill panel's settings: data, buffer, method and device, turned into the configs of
the distillation engine.

The controls are generated from the settings declared on DistillConfig and BufferConfig
(torch-free), defaults included, so the form and the CLI never disagree; the fields not
shown keep their paper values.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.distill.config import MEMORY_MODE_NAMES, BufferConfig, DistillConfig
from galaxy_studio.distill.runs import buffers_dir
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.settings_form import SettingsForm
from galaxy_studio.model.errors import ModelError
from galaxy_studio.run_folders import new_run_folder

# The settings the form shows, in its order; the rest keep the papers' values.
BUFFER_SETTINGS = ("experts", "epochs", "size", "width")
RUN_SETTINGS = (
    "method",
    "ipc",
    "syn_steps",
    "memory",
    "iterations",
    "lr_img",
    "clamp",
    "smooth",
    "snapshot_every",
    "device",
)
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
    epochs = metadata.get("epochs")
    trained = counted(epochs, "epoch") if isinstance(epochs, int) else "? epochs"
    config = metadata.get("config", {})
    whitened = " · ZCA-whitened" if metadata.get("zca") else ""
    # The batch is chosen from the data unless asked for, so the line says which it was.
    batch = f" · batch {config['batch_size']}" if config.get("batch_size") else ""
    return (
        f"{counted(experts, 'expert')} × {trained}{batch} · {counted(classes, 'class', 'classes')} · "
        f"{config.get('size', '?')} px{whitened} · {metadata.get('parameters', 0):,} parameters"
    )


def buffer_config_of(folder: str | Path) -> BufferConfig | None:
    """The settings a buffer folder was built with (None: not a readable buffer)."""
    try:
        metadata = json.loads((Path(folder) / "buffer.json").read_text(encoding="utf-8"))
        return BufferConfig.from_dict(metadata["config"])
    except (OSError, ValueError, KeyError, TypeError, ModelError):
        return None


def buffer_classes(folder: str | Path) -> tuple[str, ...]:
    try:
        metadata = json.loads((Path(folder) / "buffer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(str(name) for name in metadata.get("classes", []))


class DistillForm(QWidget):
    """Emits `buffer_changed` when the buffer folder is edited or chosen."""

    buffer_changed = Signal(str)
    status = Signal(str)

    def __init__(self, library_data: LibraryData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library_data = library_data
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_data_box())
        layout.addWidget(self._build_buffer_box())
        layout.addWidget(self._build_method_box())

    def _build_data_box(self) -> QGroupBox:
        self.data_edit = QLineEdit()
        self.data_buttons = DataSourceButtons(self.data_edit, self.library_data)
        self.data_buttons.status.connect(self.status)
        data_box = QGroupBox("Data")
        data_layout = QVBoxLayout(data_box)
        data_layout.addWidget(self.data_edit)
        data_layout.addWidget(self.data_buttons)
        return data_box

    def _build_buffer_box(self) -> QGroupBox:
        """A buffer folder to pick, or the few settings to build one (in pairs on a row)."""
        self.buffer_edit = QLineEdit()
        self.buffer_edit.setPlaceholderText("a buffer folder (expert trajectories)")
        self.buffer_edit.textChanged.connect(self.refresh_buffer)
        choose_buffer = QPushButton("Choose…")
        choose_buffer.clicked.connect(self._choose_buffer)
        self.build_button = QPushButton("Build buffer")
        self.build_button.setToolTip("Train experts on the data above into a new buffer folder")
        buffer_row = QHBoxLayout()
        buffer_row.addWidget(self.buffer_edit, 1)
        buffer_row.addWidget(choose_buffer)
        self.buffer_settings = SettingsForm(BufferConfig, BUFFER_SETTINGS)
        controls = self.buffer_settings.controls
        self.experts = controls["experts"]
        self.expert_epochs_total = controls["epochs"]
        self.size = controls["size"]
        self.width = controls["width"]
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
        return buffer_box

    def _build_method_box(self) -> QGroupBox:
        self.run_settings = SettingsForm(DistillConfig, RUN_SETTINGS)
        controls = self.run_settings.controls
        self.method = controls["method"]
        self.ipc = controls["ipc"]
        self.syn_steps = controls["syn_steps"]
        self.memory = controls["memory"]
        for index, mode in enumerate(MEMORY_MODE_NAMES):
            self.memory.setItemData(index, MEMORY_TIPS[mode], Qt.ItemDataRole.ToolTipRole)
        self.memory.setToolTip("; ".join(f"{mode}: {tip}" for mode, tip in MEMORY_TIPS.items()))
        self.iterations = controls["iterations"]
        self.lr_img = controls["lr_img"]
        self.clamp = controls["clamp"]
        self.snapshot_every = controls["snapshot_every"]
        self.device = controls["device"]
        settings = QFormLayout()
        self.run_settings.add_rows(settings)
        method_box = QGroupBox("Distillation")
        method_box.setLayout(settings)
        return method_box

    # Choices --------------------------------------------------------------------------

    def _choose_buffer(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A buffer folder (holds buffer.json)", str(buffers_dir()))
        if folder:
            self.buffer_edit.setText(folder)

    def show_buffer(self, folder: str | Path) -> None:
        """Show `folder` as the buffer, described as it is on disk now, even when its path
        was already shown (a buffer built or rebuilt in the same folder)."""
        self.buffer_edit.blockSignals(True)
        self.buffer_edit.setText(str(folder))
        self.buffer_edit.blockSignals(False)
        self.refresh_buffer()

    def refresh_buffer(self) -> None:
        """The buffer line and the build settings from the buffer folder: a picked buffer shows
        the experts × epochs, size and width it was built with, not the form's defaults."""
        text = self.buffer_edit.text().strip()
        self.buffer_info.setText(describe_buffer(text) if text else "Pick a buffer, or build one from the data.")
        built_with = buffer_config_of(text) if text else None
        if built_with is not None:
            self.buffer_settings.show_config(built_with)
        self.buffer_changed.emit(text)

    # Configs --------------------------------------------------------------------------

    def buffer_config(self, out_dir: Path | None = None) -> BufferConfig:
        out = out_dir or new_run_folder(buffers_dir(), Path(self.data_edit.text().strip() or "data").stem)
        return BufferConfig(
            data=self.data_edit.text().strip(),
            out_dir=str(out),
            device=self.device.currentText(),
            **self.buffer_settings.values(),
        )

    def distill_config(self, out_dir: Path) -> DistillConfig:
        return DistillConfig(
            buffer=self.buffer_edit.text().strip(),
            data=self.data_edit.text().strip(),
            out_dir=str(out_dir),
            **self.run_settings.values(),
        )

    def show_config(self, config: DistillConfig) -> None:
        """Fill the form from the config a run really uses (a past run resumed, the demo)."""
        self.data_edit.setText(config.data)
        self.show_buffer(config.buffer)
        self.run_settings.show_config(config)

    def show_buffer_config(self, config: BufferConfig) -> None:
        """Show the buffer a job is about to use and the settings it is built with (the demo's
        own), before it exists."""
        self.data_edit.setText(config.data)
        self.show_buffer(config.out_dir)
        self.buffer_settings.show_config(config)
        if buffer_config_of(config.out_dir) is None:
            self.buffer_info.setText("Not built yet: it is built with the settings above first.")
