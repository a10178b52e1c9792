"""The window starts fast: building it imports none of the heavy libraries (they load with the
first image, plot or model that needs them), panels other than the Library are built the first
time their tab is shown, and GALAXY_STUDIO_REPORT_SHOWN times a real launch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.panels.explore_panel import ExplorePanel
from galaxy_studio.gui.panels.library_panel import LibraryPanel
from galaxy_studio.gui.panels.train_panel import TrainPanel

ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("torch", "astropy", "matplotlib", "h5py", "pyqtgraph", "scipy", "sklearn")
LAZY_PANELS = ("train", "distill", "classify", "explore")


def child_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "GALAXY_STUDIO_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }


def test_building_and_showing_the_window_imports_no_heavy_library(tmp_path: Path) -> None:
    script = f"""
import json, sys
from galaxy_studio.gui.app import application
from galaxy_studio.gui.main_window import MainWindow
app = application()
window = MainWindow()
window.show()
app.processEvents()
print(json.dumps([name for name in {HEAVY_MODULES!r} if name in sys.modules]))
window.close()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], env=child_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_panel_is_built_when_its_tab_is_first_shown(window: MainWindow) -> None:
    tabs = window.tabs
    assert isinstance(tabs.currentWidget(), LibraryPanel)
    assert all(tabs.built(name) is None for name in LAZY_PANELS)
    titles = [tabs.tabText(i) for i in range(tabs.count())]

    tabs.setCurrentIndex(titles.index("Explore"))  # as a click on the tab does

    explore = tabs.built("explore")
    assert isinstance(explore, ExplorePanel)
    assert tabs.currentWidget() is explore and tabs.current_name() == "explore"
    assert [tabs.tabText(i) for i in range(tabs.count())] == titles
    assert all(tabs.built(name) is None for name in ("train", "distill", "classify"))
    assert window.explore is explore, "the panel is built once"


def test_asking_for_a_panel_builds_it_without_changing_the_tab(window: MainWindow) -> None:
    train = window.train
    assert isinstance(train, TrainPanel)
    assert window.tabs.current_name() == "library"
    assert window.tabs.indexOf(train) == 1
    assert window.show_panel("train") is train
    assert window.tabs.currentWidget() is train


def test_the_go_to_shortcut_builds_the_panel(window: MainWindow) -> None:
    go_to_classify = next(a for a in window.findChildren(type(window.labelling_action)) if a.text() == "Go to Classify")
    go_to_classify.trigger()
    assert window.tabs.current_name() == "classify"
    assert window.tabs.currentWidget() is window.tabs.built("classify")


def test_closing_shuts_down_only_the_panels_that_were_built(qtbot: QtBot) -> None:
    main = MainWindow()
    qtbot.addWidget(main)
    main.show_panel("distill")
    main.close()
    assert main.tabs.built("explore") is None


def test_report_shown_writes_the_time_of_the_first_paint_and_quits(tmp_path: Path) -> None:
    stamp = tmp_path / "shown.txt"
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "galaxy_studio"],
        env={**child_env(tmp_path), "GALAXY_STUDIO_REPORT_SHOWN": str(stamp)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    finished = time.time()
    assert done.returncode == 0, done.stderr
    assert started < float(stamp.read_text()) < finished
