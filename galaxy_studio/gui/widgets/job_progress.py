"""A progress bar with its Cancel button, following one JobRunner."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from galaxy_studio.eta import Eta, format_duration
from galaxy_studio.events import Progressed
from galaxy_studio.gui.worker import JobRunner


class JobProgress(QWidget):
    """Hidden until `begin`; busy until the job reports how far it is; hidden again when the
    runner finishes, however the job ended. Panels that run one job at a time share it."""

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(jobs.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        jobs.event.connect(self._on_event)
        jobs.finished.connect(self.hide)
        self._eta = Eta()
        self.hide()

    def begin(self) -> None:
        self._eta = Eta()
        self.bar.setRange(0, 0)
        self.show()

    def _on_event(self, event: object) -> None:
        if isinstance(event, Progressed) and event.total > 0:
            self.bar.setRange(0, event.total)
            self.bar.setValue(event.done)
            _, left = self._eta.update(event)
            self.bar.setFormat(f"{event.what} %v/%m" + ("" if left is None else f" · {format_duration(left)} left"))
