"""A place to drop cutouts (files or folders) from the file manager, with buttons for those
who prefer a dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from galaxy_studio.data.formats import IMAGE_SUFFIXES
from galaxy_studio.path_text import path_of_file_url

IMAGE_FILTER = "Cutouts ({});;All files (*)".format(" ".join(f"*{s}" for s in IMAGE_SUFFIXES))
_IDLE_STYLE = "DropZone { border: 2px dashed #5a5f6b; border-radius: 8px; background: #24262b; }"
_HOVER_STYLE = "DropZone { border: 2px dashed #7fb4ff; border-radius: 8px; background: #2b3442; }"


def paths_of_urls(urls: list[QUrl]) -> list[str]:
    """The local files among dropped URLs, names that are not UTF-8 included (path_text)."""
    return [
        path_of_file_url(bytes(url.toEncoded()).decode("ascii"), url.toLocalFile()) for url in urls if url.isLocalFile()
    ]


def local_paths(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> list[str]:
    mime = event.mimeData()
    return paths_of_urls(mime.urls()) if mime.hasUrls() else []


class DropZone(QFrame):
    """Emits `paths_dropped` with the local paths of what was dropped or picked; whether they
    are images is for the receiver to find out (and to say, when they are not)."""

    paths_dropped = Signal(list)

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setStyleSheet(_IDLE_STYLE)
        self.label = QLabel(text)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setStyleSheet("color: #b8bcc6; border: none; background: transparent;")
        self.files_button = QPushButton("Add files…")
        self.folder_button = QPushButton("Add folder…")
        self.files_button.clicked.connect(self.choose_files)
        self.folder_button.clicked.connect(self.choose_folder)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.files_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(self.label)
        layout.addLayout(buttons)

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Cutouts to classify", "", IMAGE_FILTER)
        if files:
            self.paths_dropped.emit(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of cutouts to classify")
        if folder:
            self.paths_dropped.emit([folder])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event):
            self.setStyleSheet(_HOVER_STYLE)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.setStyleSheet(_IDLE_STYLE)

    def dropEvent(self, event: QDropEvent) -> None:
        self.setStyleSheet(_IDLE_STYLE)
        paths = local_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.paths_dropped.emit(paths)
