"""The Train panel's form: the data, the main settings, the advanced ones behind a checkbox and
the weights file to start from, read into a TrainConfig."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.errors import UserError
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.settings_form import SettingsForm, tooltip
from galaxy_studio.gui.widgets.weights_file import WeightsFilePicker
from galaxy_studio.model.config import ARCHITECTURE_SUMMARIES, TrainConfig
from galaxy_studio.model.runs import new_run_dir
from galaxy_studio.path_text import readable
from galaxy_studio.settings import control_label, settings_of

# The TrainConfig settings the form shows, in its order; the rest keep their defaults.
MAIN_SETTINGS = ("arch", "size", "epochs", "augment", "device")
ADVANCED_SETTINGS = (
    "batch_size",
    "lr",
    "weight_decay",
    "patience",
    "keep",
    "crop_fraction",
    "rotations",
    "balance",
    "ema",
    "seed",
)
# After the weights file's row, which the form does not generate (a file picker with a check).
FINE_TUNING_SETTINGS = ("backbone_lr_scale",)
NOTE_STYLE = "color: #a8adb8;"  # a line that explains the control above it


class TrainForm(QWidget):
    status = Signal(str)

    def __init__(self, library_data: LibraryData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_main_form(library_data))
        self._build_advanced_form()
        layout.addWidget(self.advanced)
        layout.addWidget(self.advanced_body)

    def _build_main_form(self, library_data: LibraryData) -> QFormLayout:
        self.data_edit = QLineEdit()
        self.data_buttons = DataSourceButtons(self.data_edit, library_data)
        self.data_buttons.status.connect(self.status)
        self.settings = SettingsForm(TrainConfig, MAIN_SETTINGS + ADVANCED_SETTINGS + FINE_TUNING_SETTINGS)
        controls = self.settings.controls
        self.arch = controls["arch"]
        self.size = controls["size"]
        self.epochs = controls["epochs"]
        self.augment = controls["augment"]
        self.device = controls["device"]
        form = QFormLayout()
        form.addRow("Data", self.data_edit)
        form.addRow("", self.data_buttons)
        self.settings.add_rows(form, MAIN_SETTINGS[:1])
        self.arch_summary = QLabel()
        self.arch_summary.setWordWrap(True)
        self.arch_summary.setStyleSheet(NOTE_STYLE)
        form.addRow("", self.arch_summary)
        self.settings.add_rows(form, MAIN_SETTINGS[1:])
        for index in range(self.arch.count()):
            summary = ARCHITECTURE_SUMMARIES.get(self.arch.itemText(index))
            if summary:
                self.arch.setItemData(index, summary, Qt.ItemDataRole.ToolTipRole)
        self.arch.currentTextChanged.connect(self._show_arch_summary)
        self._show_arch_summary(self.arch.currentText())
        return form

    def _show_arch_summary(self, arch: str) -> None:
        """What the chosen network is, under the choice (no line for one without a summary)."""
        summary = ARCHITECTURE_SUMMARIES.get(arch, "")
        self.arch_summary.setText(summary)
        self.arch_summary.setVisible(bool(summary))

    def _build_advanced_form(self) -> None:
        controls = self.settings.controls
        self.batch = controls["batch_size"]
        self.lr = controls["lr"]
        self.weight_decay = controls["weight_decay"]
        self.patience = controls["patience"]
        self.crop = controls["crop_fraction"]
        self.balance = controls["balance"]
        self.ema = controls["ema"]
        self.seed = controls["seed"]
        self.backbone_lr_scale = controls["backbone_lr_scale"]
        self.weights = WeightsFilePicker(self._check_weights)
        self.weights.setToolTip(tooltip(settings_of(TrainConfig)["pretrained"]))
        self.weights.changed.connect(self._weights_changed)
        self.arch.currentTextChanged.connect(lambda _name: self.weights.recheck())
        self.size.editingFinished.connect(self.weights.recheck)
        self._weights_changed()
        self.advanced = QCheckBox("Show advanced settings")
        advanced_form = QFormLayout()
        self.settings.add_rows(advanced_form, ADVANCED_SETTINGS)
        advanced_form.addRow(settings_of(TrainConfig)["pretrained"].label, self.weights)
        advanced_form.addRow(self.weights.report)
        self.settings.add_rows(advanced_form, FINE_TUNING_SETTINGS)
        self.advanced_body = QGroupBox("Advanced")
        self.advanced_body.setToolTip(
            "Defaults: the seed paper's optimiser, weights averaged; crop and rotations chosen from the data; "
            "random initial weights"
        )
        self.advanced_body.setLayout(advanced_form)
        self.advanced_body.setVisible(False)
        self.advanced.toggled.connect(self.advanced_body.setVisible)

    def _check_weights(self, path: str) -> str:
        """What the weights file gives the chosen network (a ModelError when it does not fit).
        torch is imported here, when a file is chosen, not when the panel is built."""
        from galaxy_studio.model.pretrained import check_weights_file

        arch = self.arch.currentText()
        start = check_weights_file(arch, path, size=self.size.value())
        changes = [f"new last layer ({start.new[0].split(':')[0]})", *start.adapted]
        return (
            f"Fits {arch}: {start.loaded} tensors of {start.network}; {'; '.join(changes)}. "
            "The first convolution adapts to the data's bands."
        )

    def _weights_changed(self) -> None:
        self.backbone_lr_scale.setEnabled(self.weights.path() is not None)

    def config(self, out_dir: Path | None = None) -> TrainConfig:
        values = self.settings.values()
        return TrainConfig(
            data=self.data_edit.text().strip(),
            out_dir=str(out_dir or new_run_dir(values["arch"])),
            pretrained=self.weights.path(),
            **values,
        )

    def config_or_message(self) -> TrainConfig | None:
        """The form's config, or None after saying why the form cannot train (a weights file
        for a network that takes none)."""
        try:
            return self.config()
        except UserError as error:
            QMessageBox.warning(self, "Cannot train", readable(error.text(control_label)))
            return None

    def show_config(self, config: TrainConfig) -> None:
        """A run's data and settings in the form, the advanced ones shown where they differ
        from the defaults, so that one change to a recipe is one edit."""
        self.data_edit.setText(config.data)
        self.settings.show_config(config)
        self.weights.set_path(config.pretrained)
        advanced = ADVANCED_SETTINGS + FINE_TUNING_SETTINGS
        if config.pretrained is not None or any(
            getattr(config, name) != self.settings.settings[name].default for name in advanced
        ):
            self.advanced.setChecked(True)
