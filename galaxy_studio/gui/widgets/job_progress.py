"""Every progress bar and Cancel button of the app, following one JobRunner."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QSizePolicy, QWidget

from galaxy_studio.eta import Eta, format_duration
from galaxy_studio.events import Event, Progressed
from galaxy_studio.gui.worker import JobRunner


class JobProgress(QObject):
    """A progress bar and its Cancel button, wherever a panel lays them out. The bar shows
    while a job runs: busy until the job reports how far it is, then done of total and the time
    left (with what it does when `describe`; else after the format the caller gave the bar),
    and hidden when the job ends however it ended. Cancel cancels the running job and is
    enabled only while one runs. A panel that knows the time left better than the mean pace
    since the start gives it (`give_time_left`), so that the bar and the panel's own readout
    never show two different times."""

    def __init__(self, jobs: JobRunner, parent: QObject | None = None, *, describe: bool = False) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(jobs.cancel)
        self._jobs = jobs
        self._describe = describe
        self._eta = Eta()
        self._given_left: str | None = None
        self._format = self._shown_format = self._label = self.bar.format()
        jobs.started.connect(self._begin)
        jobs.event.connect(self._on_event)
        jobs.finished.connect(self._end)

    @Slot()
    def _begin(self) -> None:
        self._eta = Eta()
        self._given_left = None
        if self.bar.format() != self._shown_format:  # the caller named this job (else: as before)
            self._format = self.bar.format()
        self.bar.setRange(0, 0)
        self.bar.show()
        self.cancel_button.setEnabled(True)

    @Slot(object)
    def _on_event(self, event: Event) -> None:
        if isinstance(event, Progressed) and event.total > 0:
            self.bar.setRange(0, event.total)
            self.bar.setValue(event.done)
            _, left = self._eta.update(event)
            self._label = f"{event.what} %v/%m" if self._describe else self._format
            self._show(self._given_left or (None if left is None else f"{format_duration(left)} left"))

    def give_time_left(self, text: str) -> None:
        """Show `text` (e.g. 'at most 1 min 34 s left') as the time left until the job ends."""
        self._given_left = text
        if self._jobs.running and self.bar.maximum() > 0:
            self._show(text)

    def _show(self, left: str | None) -> None:
        self._shown_format = self._label + ("" if left is None else f" · {left}")
        self.bar.setFormat(self._shown_format)

    @Slot()
    def _end(self) -> None:
        if self._jobs.running:  # a follow-up job was started from an earlier `finished` slot
            return
        self.bar.hide()
        self._shown_format = self._format
        self.bar.setFormat(self._format)
        self.cancel_button.setEnabled(False)


class JobProgressRow(QWidget):
    """The bar and its Cancel button side by side, shown only while a job runs (a panel's
    top row, the status bar)."""

    def __init__(
        self, jobs: JobRunner, parent: QWidget | None = None, *, width: int = 260, describe: bool = True
    ) -> None:
        super().__init__(parent)
        self.progress = JobProgress(jobs, self, describe=describe)
        self.bar, self.cancel_button = self.progress.bar, self.progress.cancel_button
        self.bar.setFixedWidth(width)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)  # a status bar would widen Cancel
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self._jobs = jobs
        jobs.started.connect(self.show)
        jobs.finished.connect(self._end)
        self.hide()

    @Slot()
    def _end(self) -> None:
        if not self._jobs.running:
            self.hide()
