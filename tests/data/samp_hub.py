"""A real SAMP hub on loopback for tests, and a second client that plays TOPCAT or DS9.

The hub is astropy's SAMPHubServer with its own lock file under the test's tmp_path, named
to the code under test through $SAMP_HUB, so the tests never see (or disturb) a hub the
user is running. `use_internet` is off so that astropy does not look up an outside host.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from astropy import samp

HUB_SCRIPT = """
import sys, time, warnings
warnings.simplefilter("ignore")
from astropy import samp
with samp.conf.set_temp("use_internet", False):
    hub = samp.SAMPHubServer(web_profile=False, addr="127.0.0.1", lockfile=sys.argv[1])
    hub.start(wait=False)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def start_hub(lockfile: Path) -> Any:
    with samp.conf.set_temp("use_internet", False):
        hub = samp.SAMPHubServer(web_profile=False, addr="127.0.0.1", lockfile=str(lockfile))
        hub.start(wait=False)
    return hub


@pytest.fixture
def lockfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own hub lock file, named to the code under test through $SAMP_HUB."""
    path = tmp_path / "samp-lock"
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{path.as_uri()}")
    return path


@pytest.fixture
def hub(lockfile: Path) -> Iterator[Any]:
    hub = start_hub(lockfile)
    yield hub
    if hub.is_running:
        hub.stop()


@contextmanager
def hub_process(lockfile: Path) -> Iterator[subprocess.Popen[str]]:
    """A hub in its own process, which a test can freeze with SIGSTOP (a hung hub)."""
    process = subprocess.Popen([sys.executable, "-c", HUB_SCRIPT, str(lockfile)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        while process.stdout.readline().strip() != "ready":  # astropy logs to stdout first
            assert process.poll() is None, "the hub process exited"
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


class Peer:
    """Another SAMP application on the hub: records what it receives, sends what a test says."""

    def __init__(self, lockfile: Path, mtypes: tuple[str, ...], name: str = "Peer") -> None:
        from astropy.samp.lockfile_helpers import read_lockfile

        self.received: list[tuple[str, dict[str, Any]]] = []
        self.arrived = threading.Event()
        with samp.conf.set_temp("use_internet", False):
            self.client = samp.SAMPIntegratedClient(name=name, addr="127.0.0.1")
            self.client.connect(hub_params=read_lockfile(str(lockfile)))
        for mtype in mtypes:
            self.client.bind_receive_message(mtype, self._receive)

    def _receive(self, private_key: str, sender: str, msg_id: str | None, mtype: str, params: Any, extra: Any) -> None:
        self.received.append((mtype, params))
        self.arrived.set()
        if msg_id is not None:
            self.client.reply(msg_id, {"samp.status": "samp.ok", "samp.result": {}})

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

    def notify_all(self, mtype: str, **params: Any) -> None:
        self.client.notify_all({"samp.mtype": mtype, "samp.params": params})

    def call_all_and_wait(self, mtype: str, timeout: int = 5, **params: Any) -> dict[str, Any]:
        """Each recipient's response, by recipient id."""
        responses = {}
        for recipient in self.client.get_subscribed_clients(mtype):
            responses[recipient] = self.client.call_and_wait(
                recipient, {"samp.mtype": mtype, "samp.params": params}, str(timeout)
            )
        return responses

    def close(self) -> None:
        try:
            self.client.disconnect()
        except (OSError, samp.SAMPClientError, samp.SAMPProxyError, samp.SAMPHubError):
            # The hub may already be gone; the test is over either way.
            if self.client.client is not None and self.client.client.is_running:
                self.client.client.stop()
