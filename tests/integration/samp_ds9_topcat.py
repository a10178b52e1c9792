"""Galaxy Studio's SAMP against the real SAOImage DS9 and TOPCAT, on an X server of its own.

Run by samp_ds9_topcat.sh (which installs the programs and starts Xvfb). Not part of CI:
Java and Tk take minutes to install and seconds to start. Steps, each checked:

1. a hub (astropy, loopback, its own lock file), DS9, TOPCAT and Galaxy Studio's window
   start, and all three register;
2. the selected cutout (a FITS file) goes to DS9, and DS9 says (`ds9.get file`) it holds it;
   then a JPEG, sent as a FITS file written for it;
3. the Library's table goes to TOPCAT, and TOPCAT says it knows the table (a
   `table.highlight.row` *call* naming the table-id is answered samp.ok; an unknown id is not);
4. selecting a cutout in Galaxy Studio highlights its row in TOPCAT (TOPCAT's table browser
   shows it), and clicking a row in TOPCAT's table browser selects that cutout here;
5. screenshots of DS9, TOPCAT and Galaxy Studio are written to --out.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "samples"
CUTOUTS = ("1_15_SDSS_gband.fits", "4_100000_SDSS_gband.fits", "100610.img.fits", "img_1_15.jpeg")
STEP_TIMEOUT_S = 60.0


def say(text: str) -> None:
    print(f"[samp-integration] {text}", flush=True)


def fail(text: str) -> None:
    say(f"FAILED: {text}")
    raise SystemExit(1)


def wait_for(what: str, condition: Callable[[], Any], timeout: float = STEP_TIMEOUT_S, pump: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if pump is not None:
            pump()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def write_catalogue(folder: Path) -> Path:
    """The sample cutouts with their labels and the RA/Dec of their centres, as a CSV list."""
    from galaxy_studio.data.catalog import CatalogItem, read_item

    rows = []
    positions = {"img_1_15.jpeg": (210.927048, -1.137346)}  # the JPEG has no WCS: its catalogue position
    for name, label in zip(CUTOUTS, ("spiral", "elliptical", "irregular", "spiral")):
        shutil.copy(SAMPLES / name, folder / name)
        cutout = read_item(CatalogItem(str(folder / name)))
        ra, dec = cutout.centre_sky_position() or positions[name]
        rows.append({"path": name, "label": label, "ra": f"{ra:.6f}", "dec": f"{dec:.6f}"})
    path = folder / "cutouts.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "ra", "dec"])
        writer.writeheader()
        writer.writerows(rows)
    return path


class Checker:
    """A plain SAMP client that asks DS9 and TOPCAT what they hold."""

    def __init__(self) -> None:
        from astropy import samp

        with samp.conf.set_temp("use_internet", False):
            self.client = samp.SAMPIntegratedClient(name="integration-checker", addr="127.0.0.1")
            self.client.connect()
        self.highlights: list[dict[str, Any]] = []
        self.client.bind_receive_notification("table.highlight.row", self._highlighted)

    def _highlighted(self, private_key: str, sender: str, mtype: str, params: dict[str, Any], extra: Any) -> None:
        self.highlights.append(params)

    def client_id(self, name: str) -> str | None:
        for client_id in self.client.get_registered_clients():
            if str(self.client.get_metadata(client_id).get("samp.name", "")).lower() == name.lower():
                return client_id
        return None

    def call(self, client_id: str, mtype: str, **params: Any) -> dict[str, Any]:
        return self.client.call_and_wait(client_id, {"samp.mtype": mtype, "samp.params": params}, "20")

    def ds9(self, verb: str, command: str) -> str:
        ds9 = self.client_id("SAOImageDS9")
        assert ds9 is not None
        response = self.call(ds9, f"ds9.{verb}", cmd=command)
        if response.get("samp.status") != "samp.ok":
            fail(f"DS9 refused `{verb} {command}`: {response}")
        return str(response.get("samp.result", {}).get("value", ""))


def xdotool(*args: str) -> str:
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, check=False).stdout.strip()


def window_ids(name: str) -> list[str]:
    return xdotool("search", "--onlyvisible", "--name", name).split()


def screenshot(window_id: str, path: Path) -> None:
    subprocess.run(["import", "-window", window_id, str(path)], check=True)
    say(f"screenshot {path}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gs-samp-"))
    lockfile = work / "samp-lock"
    os.environ["SAMP_HUB"] = f"std-lockurl:{lockfile.as_uri()}"
    os.environ["GALAXY_STUDIO_HOME"] = str(work / "home")
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    warnings.simplefilter("ignore")
    from astropy import samp

    with samp.conf.set_temp("use_internet", False):
        hub = samp.SAMPHubServer(web_profile=False, addr="127.0.0.1", lockfile=str(lockfile))
        hub.start(wait=False)
    say(f"hub at {hub.params['samp.hub.xmlrpc.url']} (lock file {lockfile})")
    logs = work / "logs"
    logs.mkdir()
    programs = [
        subprocess.Popen(
            ["ds9", "-samp", "connect", "-geometry", "760x720+0+0"],
            stdout=(logs / "ds9.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            ["topcat", "-samp", "-nohub"],
            stdout=(logs / "topcat.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    try:
        return run(out, work, hub, Checker())
    finally:
        subprocess.run(["import", "-window", "root", str(work / "last-screen.png")], check=False)
        say(f"the screen at the end: {work / 'last-screen.png'}")
        # Each program in its own session: the wrappers (/usr/bin/ds9, /usr/bin/topcat) start
        # wish and java as children, which must go too.
        for program in programs:
            stop_session(program)
        hub.stop()
        say(f"logs of DS9 and TOPCAT: {logs}")


def run(out: Path, work: Path, hub: Any, checker: Checker) -> int:
    from galaxy_studio.gui.app import application
    from galaxy_studio.gui.main_window import MainWindow
    from galaxy_studio.gui.samp_link import CONNECTED

    wait_for("DS9 and TOPCAT to register", lambda: checker.client_id("SAOImageDS9") and checker.client_id("topcat"))
    say("DS9 and TOPCAT registered")
    folder = work / "cutouts"
    folder.mkdir()
    catalogue = write_catalogue(folder)

    app = application()
    window = MainWindow()
    window.resize(1420, 620)
    window.move(770, 0)
    window.show()
    pump = app.processEvents
    window.samp.connect_hub()
    wait_for("Galaxy Studio to connect", lambda: window.samp.state_label.text() == CONNECTED, pump=pump)
    say("Galaxy Studio registered: " + window.samp.state_label.text())
    library = window.library
    library.open_paths([str(catalogue)], replace=True)
    wait_for("the catalogue", lambda: library.model.rowCount() == len(CUTOUTS) and library.cutout, pump=pump)

    # 2. Cutouts to DS9.
    window.samp.send_cutout()
    first = str(folder / CUTOUTS[0])
    wait_for("DS9 to load the FITS cutout", lambda: checker.ds9("get", "file").startswith(first), pump=pump)
    say(f"DS9 holds {checker.ds9('get', 'file')} ({checker.ds9('get', 'fits size')} pixels)")
    library.select_row(3)
    wait_for("the JPEG", lambda: library.cutout is not None and library.cutout.source.endswith(".jpeg"), pump=pump)
    window.samp.send_cutout()
    wait_for(
        "DS9 to load the FITS written for the JPEG",
        lambda: "img_1_15.jpeg.fits" in checker.ds9("get", "file"),
        pump=pump,
    )
    say(f"DS9 holds {checker.ds9('get', 'file')} ({checker.ds9('get', 'fits size')} pixels)")
    library.select_row(0)
    wait_for("the first cutout", lambda: library.cutout is not None and library.cutout.source == first, pump=pump)
    window.samp.send_cutout()
    wait_for("DS9 to load the first cutout again", lambda: checker.ds9("get", "file").startswith(first), pump=pump)
    say(f"DS9 frames: {checker.ds9('get', 'frame all')} (one per image sent); showing the current one")
    checker.ds9("set", "tile no")
    checker.ds9("set", "scale zscale")
    checker.ds9("set", "cmap grey")
    checker.ds9("set", "zoom to fit")

    # 3. The Library's table to TOPCAT.
    messages: list[str] = []
    window.samp.link.said.connect(messages.append)
    window.samp.send_table()
    wait_for(
        "the table to be sent", lambda: any(m.startswith("Sent Galaxy Studio cutouts") for m in messages), pump=pump
    )
    say(next(m for m in messages if m.startswith("Sent Galaxy Studio cutouts")))
    table = window.samp.tables[0]
    topcat = checker.client_id("topcat")
    assert topcat is not None

    def topcat_knows(table_id: str) -> bool:
        return (
            checker.call(topcat, "table.highlight.row", **{"table-id": table_id, "row": "0"}).get("samp.status")
            == "samp.ok"
        )

    wait_for("TOPCAT to hold the table", lambda: topcat_knows(table.table_id), pump=pump)
    if topcat_knows("no-such-table"):
        fail("TOPCAT answers samp.ok for a table it does not have, so the check above proves nothing")
    say(f"TOPCAT holds table {table.table_id} ({len(table.keys)} rows); an unknown table-id is refused")

    # 4. Row selection both ways, seen in TOPCAT's table browser. DS9 took the table too
    # (it subscribes to table.load.votable) and opened its catalogue tool: close it.
    wait_for("DS9's catalogue tool", lambda: window_ids("Catalog"), pump=pump)
    checker.ds9("set", "catalog close")
    browser = open_table_browser(pump)
    library.select_row(2)
    wait_for(
        "Galaxy Studio to broadcast the highlight of row 2",
        lambda: {"table-id": table.table_id, "url": table.url, "row": "2"} in checker.highlights,
        pump=pump,
    )
    pump_for(2.0, pump)
    say("selected row 2 in Galaxy Studio: table.highlight.row broadcast (TOPCAT's browser shows it)")
    screenshot(browser, out / "samp-topcat-highlight.png")
    click_row(browser, 1, pump)
    wait_for(
        "a click on TOPCAT's row 1 to select the cutout in Galaxy Studio",
        lambda: library.selected_item() is not None and library.selected_item().path == str(folder / CUTOUTS[1]),
        pump=pump,
    )
    say(f"TOPCAT row 1 clicked -> Galaxy Studio selected {library.selected_item().name}")
    wait_for("the cutout", lambda: library.cutout is not None and library.cutout.source.endswith(CUTOUTS[1]), pump=pump)
    pump_for(1.5, pump)

    # 5. Screenshots.
    screenshot(window_ids("SAOImage")[0], out / "samp-ds9.png")
    screenshot(browser, out / "samp-topcat.png")
    window.grab().save(str(out / "samp-galaxy-studio.png"))
    subprocess.run(["import", "-window", "root", str(out / "samp-desktop.png")], check=True)
    window.close()
    say("all checks passed")
    return 0


def stop_session(program: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(program.pid, sig)
        except ProcessLookupError:
            return
        try:
            program.wait(timeout=10)
            time.sleep(1.0)
        except subprocess.TimeoutExpired:
            continue


def pump_for(seconds: float, pump: Callable[[], Any]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pump()
        time.sleep(0.05)


def open_table_browser(pump: Callable[[], Any]) -> str:
    """TOPCAT's Table Browser, opened with its toolbar button (the fourth), beside DS9."""
    (main_window,) = wait_for("TOPCAT's window", lambda: window_ids("^TOPCAT$"), pump=pump)
    xdotool("windowmove", main_window, "770", "650")
    pump_for(1.0, pump)
    enable_send_row_index(main_window, pump)
    xdotool("mousemove", "--window", main_window, *TABLE_BROWSER_BUTTON)
    xdotool("click", "1")
    browser = wait_for("TOPCAT's table browser", lambda: window_ids("Table Browser"), pump=pump)[0]
    xdotool("windowmove", browser, "0", "740")
    xdotool("windowsize", browser, "760", "260")
    pump_for(2.0, pump)
    return browser


def enable_send_row_index(main_window: str, pump: Callable[[], Any]) -> None:
    """TOPCAT sends a clicked row to other programs only when its activation action "Send row
    index" is ticked (it is not by default): Views → Activation Actions, tick it, close."""
    xdotool("mousemove", "--window", main_window, *VIEWS_MENU)
    xdotool("click", "1")
    pump_for(0.7, pump)
    xdotool("mousemove", "--window", main_window, *ACTIVATION_ITEM)
    xdotool("click", "1")
    (actions,) = wait_for("TOPCAT's activation actions", lambda: window_ids("Activation Actions"), pump=pump)
    pump_for(1.5, pump)
    xdotool("mousemove", "--window", actions, *SEND_ROW_INDEX_BOX)
    xdotool("click", "1")
    pump_for(1.0, pump)
    subprocess.run(["import", "-window", actions, str(DEBUG_FOLDER / "topcat-activation.png")], check=False)
    xdotool("windowunmap", actions)


def click_row(browser: str, row: int, pump: Callable[[], Any]) -> None:
    """Click the `row`-th data row of TOPCAT's table browser (rows 16 px high under a header)."""
    geometry = dict(
        line.split("=", 1) for line in xdotool("getwindowgeometry", "--shell", browser).splitlines() if "=" in line
    )
    x, y = int(geometry["X"]), int(geometry["Y"])
    xdotool("mousemove", "--sync", str(x + 120), str(y + ROW_TOP + ROW_HEIGHT * row + ROW_HEIGHT // 2))
    xdotool("click", "1")
    pump_for(0.5, pump)


TABLE_BROWSER_BUTTON = ("161", "40")
VIEWS_MENU = ("63", "10")
ACTIVATION_ITEM = ("134", "181")
SEND_ROW_INDEX_BOX = ("40", "301")
DEBUG_FOLDER = Path(tempfile.gettempdir())
ROW_TOP = 105
ROW_HEIGHT = 16

if __name__ == "__main__":
    sys.exit(main())
