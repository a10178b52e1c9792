"""Galaxy Studio's SAMP client against a real astropy hub on loopback and a second client."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from galaxy_studio.data.samp_client import SampClient, SampUnavailable, read_hub_params
from galaxy_studio.data.samp_messages import HubConnected, HubLost, RowsChosen, SkyPointed, TableOffered
from tests.data.samp_hub import Peer, hub_process, start_hub

TIMEOUT = 1.0


@pytest.fixture
def events() -> list[object]:
    return []


@pytest.fixture
def client(hub: Any, events: list[object]) -> Iterator[SampClient]:
    client = SampClient(events.append, icon_url="file:///icon.png", timeout=TIMEOUT)
    client.connect()
    yield client
    client.disconnect()


@pytest.fixture
def peer(lockfile: Path, client: SampClient) -> Iterator[Peer]:
    peer = Peer(lockfile, ("image.load.fits", "table.load.votable", "table.highlight.row", "table.select.rowList"))
    yield peer
    peer.close()


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_registers_with_name_icon_and_description(client: SampClient, peer: Peer) -> None:
    ids = [cid for cid in peer.client.get_registered_clients() if cid != "hub"]
    names = {peer.client.get_metadata(cid).get("samp.name"): peer.client.get_metadata(cid) for cid in ids}
    ours = names["Galaxy Studio"]
    assert ours["samp.icon.url"] == "file:///icon.png"
    assert "galaxy cutouts" in ours["samp.description.text"]
    assert client.hub_url.startswith("http://127.0.0.1:")


def test_subscribes_to_tables_rows_and_sky_points(client: SampClient, peer: Peer) -> None:
    for mtype in (
        "table.load.votable",
        "table.load.fits",
        "table.highlight.row",
        "table.select.rowList",
        "coord.pointAt.sky",
    ):
        subscribed = peer.client.get_subscribed_clients(mtype)
        assert any(peer.client.get_metadata(cid).get("samp.name") == "Galaxy Studio" for cid in subscribed), mtype


def test_sends_image_table_and_rows(client: SampClient, peer: Peer) -> None:
    sent = client.send_image("file:///data/ngc.fits", "ngc.fits")
    assert sent.recipients == ("Peer",)
    client.send_table("file:///data/t.xml", "t-1", "predictions")
    client.highlight_row("t-1", "file:///data/t.xml", 4)
    client.select_rows("t-1", "file:///data/t.xml", [1, 3])
    received = dict(peer.wait_for(4))  # one of each; the hub delivers them in no set order
    assert received["image.load.fits"] == {
        "url": "file:///data/ngc.fits",
        "name": "ngc.fits",
        "image-id": "file:///data/ngc.fits",
    }
    assert received["table.load.votable"] == {"url": "file:///data/t.xml", "table-id": "t-1", "name": "predictions"}
    assert received["table.highlight.row"] == {"table-id": "t-1", "url": "file:///data/t.xml", "row": "4"}
    assert received["table.select.rowList"]["row-list"] == ["1", "3"]


def test_no_recipient_is_reported_not_raised(client: SampClient) -> None:
    assert client.send_image("file:///data/ngc.fits", "ngc.fits").recipients == ()


def test_receives_tables_rows_and_sky_points_as_notifications_and_calls(
    client: SampClient, peer: Peer, events: list[object]
) -> None:
    peer.notify_all("table.load.votable", url="file:///data/t.xml", name="sel")
    peer.notify_all("table.highlight.row", **{"table-id": "t-9", "url": "", "row": "7"})
    responses = peer.call_all_and_wait("table.select.rowList", **{"table-id": "t-9", "row-list": ["2", "5"]})
    peer.call_all_and_wait("coord.pointAt.sky", ra="150.25", dec="-2.5")
    wait_until(lambda: len(events) >= 4)
    sender = events[0].sender  # type: ignore[attr-defined]
    # The hub delivers each message on its own thread: SAMP promises no order between them.
    assert set(events) == {
        TableOffered(sender, "file:///data/t.xml", "file:///data/t.xml", "sel", "votable"),
        RowsChosen(sender, "t-9", "", (7,)),
        RowsChosen(sender, "t-9", "", (2, 5)),
        SkyPointed(sender, 150.25, -2.5),
    }
    assert len(events) == 4
    assert [response["samp.status"] for response in responses.values()] == ["samp.ok"]


def test_malformed_message_is_logged_answered_and_ignored(
    client: SampClient, peer: Peer, events: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="galaxy_studio.samp"):
        peer.notify_all("coord.pointAt.sky", ra="north", dec="1")
        responses = peer.call_all_and_wait("table.load.votable", url="http://example.org/t.xml")
        peer.notify_all("table.highlight.row", **{"table-id": "t", "row": "-3"})
        peer.notify_all("coord.pointAt.sky", ra="10", dec="20")
        wait_until(lambda: len(events) >= 1)
    assert events == [SkyPointed(events[0].sender, 10.0, 20.0)]  # type: ignore[attr-defined]
    warnings = [record.getMessage() for record in caplog.records]
    assert any("ra: 'north' is not a number" in line for line in warnings)
    assert any("is neither a file nor served from this computer" in line for line in warnings)
    assert any("row: -3 is negative" in line for line in warnings)
    (response,) = responses.values()
    assert response["samp.status"] == "samp.error"
    assert "http://example.org" in response["samp.error"]["samp.errortxt"]


def test_hub_stopped_midway_then_restarted(lockfile: Path, hub: Any, events: list[object]) -> None:
    client = SampClient(events.append, timeout=TIMEOUT)
    client.connect()
    hub.stop()
    wait_until(lambda: any(isinstance(event, HubLost) for event in events))
    assert not client.connected
    started = time.monotonic()
    with pytest.raises(SampUnavailable, match="not connected"):
        client.send_image("file:///x.fits", "x")
    assert client.check() is None  # no hub yet: nothing to report, no exception
    assert time.monotonic() - started < 2 * TIMEOUT
    again = start_hub(lockfile)
    try:
        event = client.check()
        assert isinstance(event, HubConnected) and client.connected
        peer = Peer(lockfile, ("image.load.fits",))
        assert client.send_image("file:///x.fits", "x").recipients == ("Peer",)
        assert peer.wait_for(1)[0][1]["url"] == "file:///x.fits"
        peer.close()
        client.disconnect()
    finally:
        again.stop()


def test_hub_that_dies_without_a_word_is_noticed_by_check(lockfile: Path, events: list[object]) -> None:
    with hub_process(lockfile) as process:
        client = SampClient(events.append, timeout=TIMEOUT)
        client.connect()
        process.kill()
        process.wait()
        event = client.check()
    assert isinstance(event, HubLost) and "stopped answering" in event.reason
    assert not client.connected


def test_hung_hub_costs_at_most_the_timeout(lockfile: Path, events: list[object]) -> None:
    """A hub that accepts connections but never answers (here: frozen with SIGSTOP)."""
    with hub_process(lockfile) as process:
        client = SampClient(events.append, timeout=TIMEOUT)
        client.connect()
        os.kill(process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(SampUnavailable, match="no answer within the timeout"):
                client.send_table("file:///t.xml", "t", "t")
            assert time.monotonic() - started < 3 * TIMEOUT
            started = time.monotonic()
            assert client.check() is None  # the lock file is still there, but the hub is mute
            assert time.monotonic() - started < 3 * TIMEOUT
            assert not client.connected
        finally:
            os.kill(process.pid, signal.SIGCONT)
        assert isinstance(client.check(), HubConnected)
        client.disconnect()


def test_no_hub_says_so(lockfile: Path, events: list[object]) -> None:
    with pytest.raises(SampUnavailable, match="no SAMP hub is running"):
        SampClient(events.append).connect()


def test_only_a_loopback_hub_is_used(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text("samp.secret=abc\nsamp.hub.xmlrpc.url=http://192.0.2.7:21012/xmlrpc\n")
    with pytest.raises(SampUnavailable, match="not on this computer"):
        read_hub_params(lock)


def test_a_silent_socket_as_hub_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listening but never accepting: connecting must give up after the timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        lock = tmp_path / "lock"
        lock.write_text(f"samp.secret=abc\nsamp.hub.xmlrpc.url=http://127.0.0.1:{port}/xmlrpc\n")
        monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{lock.as_uri()}")
        started = time.monotonic()
        with pytest.raises(SampUnavailable, match="does not answer"):
            SampClient(lambda event: None, timeout=TIMEOUT).connect()
        assert time.monotonic() - started < 3 * TIMEOUT
