"""SAMP in the window, against a real astropy hub on loopback and a second client playing
DS9 and TOPCAT: connecting, sending, receiving, row selection both ways, and a hub that
stops or hangs without freezing the window."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from PIL import Image
from PySide6.QtCore import QElapsedTimer, QTimer

from galaxy_studio.data.samp_tables import write_votable
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.samp_link import CONNECTED, WAITING
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project
from tests.data.fits_makers import sky_wcs, write_sky_image
from tests.data.samp_hub import Peer, hub_process, start_hub

PEER_MTYPES = ("image.load.fits", "table.load.votable", "table.highlight.row", "table.select.rowList")


@pytest.fixture
def cutouts(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "cutouts"
    folder.mkdir()
    paths = [write_sky_image(folder / f"g{k}.fits") for k in range(3)]
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:5] = 255  # a bright top band: it must be at the top in DS9 too
    Image.fromarray(rgb).save(folder / "g3.png")
    return paths + [folder / "g3.png"]


@pytest.fixture
def connected(qtbot, window: MainWindow, hub: Any, lockfile: Path) -> Iterator[Peer]:  # noqa: ANN001
    window.samp.connect_hub()
    qtbot.waitUntil(lambda: window.samp.state_label.text() == CONNECTED, timeout=10_000)
    peer = Peer(lockfile, PEER_MTYPES, name="Peer")
    yield peer
    peer.close()


def open_library(qtbot, window: MainWindow, paths: list[Path]) -> None:  # noqa: ANN001
    window.library.open_paths([str(paths[0].parent)], replace=True)
    qtbot.waitUntil(lambda: window.library.model.rowCount() == len(paths), timeout=10_000)
    qtbot.waitUntil(lambda: window.library.cutout is not None, timeout=10_000)


def wait_received(qtbot, peer: Peer, count: int) -> list[tuple[str, dict[str, Any]]]:  # noqa: ANN001
    qtbot.waitUntil(lambda: len(peer.received) >= count, timeout=10_000)
    return peer.received


def test_connect_shows_state_and_enables_sending(qtbot, window: MainWindow, connected: Peer) -> None:  # noqa: ANN001
    assert window.samp.send_table_action.isEnabled() and window.samp.send_cutout_action.isEnabled()
    assert window.samp.connect_action.isChecked()
    names = [connected.client.get_metadata(c).get("samp.name") for c in connected.client.get_registered_clients()]
    assert "Galaxy Studio" in names
    window.samp.connect_action.setChecked(False)
    qtbot.waitUntil(lambda: window.samp.state_label.text() == "SAMP: off", timeout=10_000)
    assert not window.samp.send_table_action.isEnabled()


def test_send_cutouts_to_ds9(qtbot, window: MainWindow, connected: Peer, cutouts: list[Path]) -> None:  # noqa: ANN001
    open_library(qtbot, window, cutouts)
    window.samp.send_cutout()
    ((mtype, params),) = wait_received(qtbot, connected, 1)
    assert mtype == "image.load.fits" and urlparse(params["url"]).path == str(cutouts[0])
    qtbot.waitUntil(lambda: "Sent g0.fits to Peer" in window.statusBar().currentMessage(), timeout=5_000)
    window.library.select_row(3)
    qtbot.waitUntil(lambda: window.library.cutout.source.endswith("g3.png"), timeout=10_000)
    window.samp.send_cutout()
    params = wait_received(qtbot, connected, 2)[1][1]
    written = fits.getdata(urlparse(params["url"]).path)
    assert written.shape == (3, 20, 30)
    assert written[0, -1].min() == 255 and written[0, 0].max() == 0  # top band is the last FITS row


def test_library_table_to_topcat_and_rows_both_ways(
    qtbot,
    window: MainWindow,
    connected: Peer,
    cutouts: list[Path],  # noqa: ANN001
) -> None:
    open_library(qtbot, window, cutouts)
    window.samp.send_table()
    ((mtype, params),) = wait_received(qtbot, connected, 1)
    assert mtype == "table.load.votable"
    table = Table.read(urlparse(params["url"]).path, format="votable")
    assert list(table["name"]) == ["g0.fits", "g1.fits", "g2.fits", "g3.png"]
    table_id = params["table-id"]

    # Selecting here highlights the row there.
    window.library.select_row(2)
    mtype, highlighted = wait_received(qtbot, connected, 2)[1]
    assert mtype == "table.highlight.row" and highlighted == {"table-id": table_id, "url": params["url"], "row": "2"}

    # A row highlighted there selects the cutout here, without echoing back.
    connected.notify_all("table.highlight.row", **{"table-id": table_id, "url": params["url"], "row": "1"})
    qtbot.waitUntil(lambda: window.library.selected_item().path == str(cutouts[1]), timeout=5_000)
    connected.notify_all("table.select.rowList", **{"table-id": table_id, "url": "", "row-list": ["3", "0"]})
    grid = window.library.grid
    qtbot.waitUntil(lambda: len(grid.selectionModel().selectedIndexes()) == 2, timeout=5_000)
    assert {index.row() for index in grid.selectionModel().selectedIndexes()} == {0, 3}
    assert grid.currentIndex().row() == 3
    qtbot.wait(300)
    assert len(connected.received) == 2


def test_a_table_from_topcat_opens_its_cutouts(
    qtbot,
    window: MainWindow,
    connected: Peer,
    cutouts: list[Path],
    tmp_path: Path,  # noqa: ANN001
) -> None:
    url = write_votable(Table({"path": [str(cutouts[2]), str(cutouts[0])]}), tmp_path / "sel.xml").as_uri()
    connected.notify_all("table.load.votable", url=url, name="my selection", **{"table-id": "topcat-1"})
    qtbot.waitUntil(lambda: window.library.model.rowCount() == 2, timeout=10_000)
    assert window.library.model.item_at(0).path == str(cutouts[2])
    assert "my selection: 2 of 2 rows are cutouts" in window.statusBar().currentMessage()
    connected.notify_all("table.highlight.row", **{"table-id": "topcat-1", "row": "1"})
    qtbot.waitUntil(lambda: window.library.selected_item().path == str(cutouts[0]), timeout=5_000)


def test_a_table_from_topcat_never_replaces_an_open_project(
    qtbot,
    window: MainWindow,
    connected: Peer,
    cutouts: list[Path],
    tmp_path: Path,  # noqa: ANN001
) -> None:
    project = tmp_path / "p.gsproj"
    Project.create(project, BUILTIN_SCHEMES["spiral"]).close()
    assert window.open_project(project)
    url = write_votable(Table({"path": [str(cutouts[2])]}), tmp_path / "sel.xml").as_uri()
    connected.notify_all("table.load.votable", url=url, name="sel", **{"table-id": "topcat-2"})
    qtbot.waitUntil(lambda: "a project is open" in window.statusBar().currentMessage(), timeout=10_000)
    assert window.library.model.rowCount() == 0
    assert window.samp.tables[0].table_id == "topcat-2"


def test_point_at_sky_centres_the_viewer(qtbot, window: MainWindow, connected: Peer, cutouts: list[Path]) -> None:  # noqa: ANN001
    open_library(qtbot, window, cutouts)
    ra, dec = sky_wcs(size=64).all_pix2world([[12.0, 40.0]], 0)[0]
    connected.notify_all("coord.pointAt.sky", ra=str(ra), dec=str(dec))
    qtbot.waitUntil(lambda: "centred on" in window.statusBar().currentMessage(), timeout=5_000)
    x, y = window.library.view.image_centre()
    assert (x, y) == pytest.approx((12.0, 63 - 40.0), abs=1e-6)
    connected.notify_all("coord.pointAt.sky", ra=str((ra + 90) % 360), dec=str(dec))
    qtbot.waitUntil(lambda: "does not contain it" in window.statusBar().currentMessage(), timeout=5_000)


def test_malformed_message_changes_nothing_and_is_logged(
    qtbot,
    window: MainWindow,
    connected: Peer,
    cutouts: list[Path],
    caplog: pytest.LogCaptureFixture,  # noqa: ANN001
) -> None:
    open_library(qtbot, window, cutouts)
    with caplog.at_level(logging.WARNING, logger="galaxy_studio.samp"):
        connected.notify_all("table.select.rowList", **{"table-id": "t", "row-list": "not a list"})
        qtbot.waitUntil(lambda: any("malformed" in r.getMessage() for r in caplog.records), timeout=5_000)
    assert "row-list is missing or not a list" in caplog.text
    assert window.library.grid.currentIndex().row() == 0
    assert window.samp.state_label.text() == CONNECTED


def test_hub_stopped_then_back_reconnects(
    qtbot,
    window: MainWindow,
    hub: Any,
    lockfile: Path,
    cutouts: list[Path],  # noqa: ANN001
) -> None:
    window.samp.connect_hub()
    qtbot.waitUntil(lambda: window.samp.state_label.text() == CONNECTED, timeout=10_000)
    hub.stop()
    qtbot.waitUntil(lambda: window.samp.state_label.text() == WAITING, timeout=10_000)
    assert "SAMP hub shut down" in window.statusBar().currentMessage()
    assert not window.samp.send_table_action.isEnabled()
    again = start_hub(lockfile)
    try:
        qtbot.waitUntil(lambda: window.samp.state_label.text() == CONNECTED, timeout=10_000)
        peer = Peer(lockfile, PEER_MTYPES)
        open_library(qtbot, window, cutouts)
        window.samp.send_table()
        assert wait_received(qtbot, peer, 1)[0][0] == "table.load.votable"
        peer.close()
    finally:
        window.close()
        again.stop()


def test_a_hung_hub_never_freezes_the_window(qtbot, lockfile: Path, cutouts: list[Path]) -> None:  # noqa: ANN001
    """The hub process is frozen (SIGSTOP) while the user sends: the event loop keeps turning
    (a 50 ms timer keeps firing), the sends fail with a message after the timeout."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.samp.link.client.timeout = 2.0  # the link makes its client on first use
    window.show()
    with hub_process(lockfile) as process:
        window.samp.connect_hub()
        qtbot.waitUntil(lambda: window.samp.state_label.text() == CONNECTED, timeout=10_000)
        open_library(qtbot, window, cutouts)
        os.kill(process.pid, signal.SIGSTOP)
        try:
            gaps: list[int] = []
            clock = QElapsedTimer()
            clock.start()

            def tick() -> None:
                gaps.append(clock.restart())

            timer = QTimer()
            timer.timeout.connect(tick)
            timer.start(50)
            said: list[str] = []
            window.samp.link.said.connect(said.append)
            started = time.monotonic()
            window.samp.send_table()
            window.samp.send_cutout()
            qtbot.waitUntil(lambda: len(said) >= 2, timeout=10_000)
            timer.stop()
            assert "stopped answering (no answer within the timeout); nothing was sent" in said[0]
            assert "not connected" in said[1]
            assert time.monotonic() - started < 10.0
            # A send on the GUI thread would stall the loop for the whole 2 s timeout.
            assert max(gaps) < 1000, gaps
            assert window.samp.state_label.text() == WAITING
        finally:
            os.kill(process.pid, signal.SIGCONT)
        qtbot.waitUntil(lambda: window.samp.state_label.text() == CONNECTED, timeout=10_000)
        started = time.monotonic()
        window.close()
        assert time.monotonic() - started < 5.0


def test_the_cli_samp_flag_connects_at_launch(qtbot, hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """`galaxy-studio --samp` opens the window already registering with the hub."""
    from galaxy_studio.cli import build_parser, main
    from galaxy_studio.gui import app as gui_app

    assert build_parser().parse_args(["--samp"]).samp is True
    shown: list[MainWindow] = []

    def exec_until_connected() -> int:
        window = next(w for w in gui_app.application().topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        shown.append(window)
        qtbot.waitUntil(lambda: window.samp.state_label.text() == CONNECTED, timeout=10_000)
        window.close()
        return 0

    monkeypatch.setattr(gui_app.application(), "exec", exec_until_connected)
    assert main(["--samp"]) == 0
    assert shown and shown[0].samp.connect_action.isChecked()
