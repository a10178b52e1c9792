"""The Explore tab's embedding source: where the vectors come from (an autoencoder trained
here, a trained classifier, a pretrained backbone) with the options of the one chosen, the
image size and the device.

The source only holds these choices; the panel reads them as an EmbedConfig when it computes
the map, and hears `changed` whenever one that decides whether it can compute changes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from galaxy_studio.gui.widgets.model_picker import ModelPicker
from galaxy_studio.model.config import DEVICES

if TYPE_CHECKING:
    from galaxy_studio.explore.embeddings import EmbedConfig

SOURCES = (
    ("Autoencoder (trained here)", "autoencoder"),
    ("Trained classifier", "model"),
    ("Pretrained backbone", "backbone"),
)
BACKBONES = ("resnet18", "resnet50", "vgg11", "efficientnet_b0", "convnext_tiny")
CHECKPOINT_FILTER = "Classifier checkpoints (*.pt);;All files (*)"
WEIGHTS_FILTER = "Network weights (*.pt *.pth *.safetensors);;All files (*)"


def options_row(*widgets: QWidget) -> QWidget:
    """One source's options side by side, without margins: they sit in the panel's top row."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget)
    return box


class EmbeddingSource(QWidget):
    """`changed` when the source, the classifier or the backbone's weights file changes: each
    decides whether Compute can start."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = QComboBox()
        for title, key in SOURCES:
            self.kind.addItem(title, key)
        self.kind.setToolTip(
            "Where the vectors come from: an autoencoder trained on these cutouts (no labels "
            "needed), a classifier's penultimate layer, or a pretrained network's features"
        )
        self.options = QStackedWidget()
        self.options.addWidget(self._autoencoder_options())
        self.options.addWidget(self._model_options())
        self.options.addWidget(self._backbone_options())
        self._show_options(0)
        self.kind.currentIndexChanged.connect(self._show_options)
        self.kind.currentIndexChanged.connect(self.changed)
        self.size = QSpinBox()
        self.size.setRange(16, 512)
        self.size.setSingleStep(8)
        self.size.setValue(64)
        self.size.setSuffix(" px")
        self.size.setToolTip(
            "Images are centre-cropped and resized to this size (autoencoder: a multiple of 8; "
            "a classifier reads images as it was trained)"
        )
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setToolTip("auto: the GPU when there is one (CUDA or Apple), else the processor")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Embedding"))
        row.addWidget(self.kind)
        row.addWidget(self.options)
        row.addWidget(self.size)
        row.addWidget(self.device)

    def _show_options(self, position: int) -> None:
        """Only the shown options take room: a stack is otherwise as wide as its widest page."""
        for page in range(self.options.count()):
            policy = QSizePolicy.Policy.Preferred if page == position else QSizePolicy.Policy.Ignored
            self.options.widget(page).setSizePolicy(policy, policy)
        self.options.setCurrentIndex(position)
        self.options.adjustSize()

    def _autoencoder_options(self) -> QWidget:
        self.ae_epochs = QSpinBox()
        self.ae_epochs.setRange(1, 1000)
        self.ae_epochs.setValue(30)
        self.ae_epochs.setPrefix("epochs ")
        self.ae_epochs.setToolTip("Training epochs of the autoencoder (trained once, then reused from the cache)")
        self.ae_latent = QSpinBox()
        self.ae_latent.setRange(2, 1024)
        self.ae_latent.setValue(64)
        self.ae_latent.setPrefix("latent ")
        self.ae_latent.setToolTip("Length of the embedding vector")
        return options_row(self.ae_epochs, self.ae_latent)

    def _model_options(self) -> QWidget:
        self.model_combo = ModelPicker(
            26,
            "Finished training runs (best first), or a checkpoint opened from a file; "
            "the embedding is the network's penultimate layer",
        )
        self.model_combo.currentIndexChanged.connect(self.changed)
        open_button = QPushButton("Open checkpoint…")
        open_button.clicked.connect(self.open_checkpoint_dialog)
        return options_row(self.model_combo, open_button)

    def _backbone_options(self) -> QWidget:
        self.backbone = QComboBox()
        self.backbone.setEditable(True)
        self.backbone.addItems(list(BACKBONES))
        self.backbone.setToolTip("A torchvision network name; its weights come from the file on the right")
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("weights file (.pth)")
        self.weights_edit.setToolTip("Weights you have locally (nothing is downloaded)")
        self.weights_edit.textChanged.connect(self.changed)
        weights_button = QPushButton("Weights…")
        weights_button.clicked.connect(self.choose_weights)
        return options_row(self.backbone, self.weights_edit, weights_button)

    def refresh_models(self) -> None:
        """The Train tab may have finished a run since: list it (the picker stays quiet, so
        `changed` says the choice may be another now)."""
        self.model_combo.refresh_runs()
        self.changed.emit()

    def add_checkpoint(self, path: str | Path) -> None:
        self.model_combo.add_checkpoint(path)
        self.kind.setCurrentIndex(self.kind.findData("model"))

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a classifier checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.add_checkpoint(path)

    def choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights of the backbone", "", WEIGHTS_FILTER)
        if path:
            self.weights_edit.setText(path)

    def config(self, data: str) -> EmbedConfig:
        """How to embed `data` with the choices made here (raises ModelError for a bad one)."""
        from galaxy_studio.explore.embeddings import EmbedConfig

        source = self.kind.currentData()
        return EmbedConfig(
            data=data,
            source=source,
            model=self.model_combo.currentData() if source == "model" else None,
            backbone=self.backbone.currentText().strip() if source == "backbone" else None,
            weights_path=(self.weights_edit.text().strip() or None) if source == "backbone" else None,
            size=self.size.value(),
            device=self.device.currentText(),
            latent=self.ae_latent.value(),
            autoencoder_epochs=self.ae_epochs.value(),
        )

    def problem(self) -> str | None:
        """What the chosen source still lacks before it can embed anything, in words, or None."""
        source = self.kind.currentData()
        if source == "model" and self.model_combo.currentData() is None:
            return "Choose a classifier: train one in the Train tab, or Open checkpoint…"
        if source == "backbone" and not self.weights_edit.text().strip():
            return "Choose the backbone's weights file (nothing is downloaded)"
        return None
