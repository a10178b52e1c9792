"""The SAMP client for the window: every hub call off the GUI thread, every result back on it.

astropy's client listens on its own thread and the hub may hang or vanish, so the window
never calls the hub itself: requests go to one background thread (in order, each bounded
by the client's socket timeout), and what comes back (results, failures, received
messages) is delivered as Qt signals, queued onto the GUI thread. A timer pings the hub
every few seconds while the link is wanted, which notices a hub that died and registers
again when a hub (the same or a new one) is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from galaxy_studio.data.samp_messages import HubConnected, HubLost, SampEvent
from galaxy_studio.errors import UserError
from galaxy_studio.resources import resource_path

if TYPE_CHECKING:
    from galaxy_studio.data.samp_client import SampClient, Sent

log = logging.getLogger("galaxy_studio.samp")

CHECK_INTERVAL_MS = 2000

OFF = "SAMP: off"
CONNECTED = "SAMP: connected"
CONNECTING = "SAMP: connecting…"
WAITING = "SAMP: no hub, retrying"


class SampLink(QObject):
    """Connect, send and receive; `state` is one line for the status bar."""

    state_changed = Signal(str)
    said = Signal(str)
    received = Signal(object)
    _event = Signal(object)
    _finished = Signal(object, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client: SampClient | None = None
        self.wanted = False
        self.state = OFF
        self._checking = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samp")
        self._event.connect(self._on_event)
        self._finished.connect(self._on_finished)
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self._check)

    @property
    def client(self) -> SampClient:
        """Made on first use: astropy loads with the first connection, not with the window."""
        if self._client is None:
            from galaxy_studio.data.samp_client import SampClient

            self._client = SampClient(self._event.emit, icon_url=resource_path("galaxy-studio.png").as_uri())
        return self._client

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def connect_hub(self) -> None:
        """Register now, and keep registering again whenever the hub comes back."""
        self.wanted = True
        self._set_state(CONNECTING)
        self._timer.start()
        self.run(self.client.connect, self._on_connected, self._on_connect_failed)

    def disconnect_hub(self) -> None:
        self.wanted = False
        self._timer.stop()
        self.run(self.client.disconnect, lambda _: self._set_state(OFF))

    def run(
        self,
        work: Callable[[], Any],
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """`work` on the SAMP thread; the callbacks on the GUI thread. A UserError (no hub,
        a hub that stopped answering, an unreadable table) goes to `on_failure`, or to the
        status bar."""
        future = self._executor.submit(work)
        future.add_done_callback(lambda done: self._finished.emit(done, on_success, on_failure))

    def report_sent(self, sent: Sent, what: str, takers: str) -> None:
        if sent.recipients:
            self.said.emit(f"Sent {what} to {', '.join(sent.recipients)}")
        else:
            self.said.emit(f"No SAMP application takes {takers}; start {_programs(sent.mtype)} and connect it")

    def shutdown(self) -> None:
        """Unregister (bounded by the timeout) and stop the thread; called when the window closes."""
        self._timer.stop()
        if self._client is not None and (self.wanted or self._client.connected):
            self._executor.submit(self._client.disconnect)
        self.wanted = False
        self._executor.shutdown(wait=True)

    # GUI thread ----------------------------------------------------------------------

    def _check(self) -> None:
        if self._checking:
            return
        self._checking = True
        self.run(self.client.check, self._on_checked, self._on_check_failed)

    def _on_checked(self, event: SampEvent | None) -> None:
        self._checking = False
        if event is not None:
            self._on_event(event)

    def _on_check_failed(self, message: str) -> None:
        self._checking = False
        log.info("SAMP check failed: %s", message)

    def _on_connected(self, event: HubConnected) -> None:
        self._on_event(event)

    def _on_connect_failed(self, message: str) -> None:
        if self.wanted:
            self._set_state(WAITING)
        self.said.emit(f"SAMP: {message}")

    def _on_event(self, event: SampEvent) -> None:
        if isinstance(event, HubConnected):
            if not self.wanted:
                self.run(self.client.disconnect)
                return
            self._set_state(CONNECTED)
            self.said.emit(f"Connected to the SAMP hub at {event.hub}")
        elif isinstance(event, HubLost):
            self._set_state(WAITING if self.wanted else OFF)
            self.said.emit(f"SAMP: {event.reason}; Galaxy Studio reconnects when a hub is back")
        else:
            self.received.emit(event)

    def _on_finished(self, future: Future[Any], on_success: Any, on_failure: Any) -> None:
        error = future.exception()
        if error is None:
            if on_success is not None:
                on_success(future.result())
            return
        if not isinstance(error, UserError):
            log.error("SAMP: unexpected failure", exc_info=error)
        message = error.message if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        if self.wanted and not self.connected:
            self._set_state(WAITING)
        if on_failure is not None:
            on_failure(message)
        else:
            self.said.emit(f"SAMP: {message}")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)


def _programs(mtype: str) -> str:
    return "TOPCAT" if mtype.startswith("table.") else "DS9 or Aladin"
