"""Start the Qt application, optionally take a screenshot and exit."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from galaxy_studio.gui.collector import collect_on_gui_thread
from galaxy_studio.gui.indicator_style import VisibleIndicatorStyle
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.shown_report import report_shown_from_env
from galaxy_studio.resources import resource_path

SCREENSHOT_TIMEOUT_S = 180.0
DISTILL_SCREENSHOT_TIMEOUT_S = 600.0
SCREENSHOT_SIZE = (1440, 880)
# A distill screenshot waits for this many iterations: the prototypes have moved, the
# curves have a shape, and the run is still going.
DISTILL_SCREENSHOT_ITERATIONS = 25
# An explore screenshot lassoes about this many dots round the cutout it shows.
EXPLORE_SCREENSHOT_SELECTION = 25


def dark_palette() -> QPalette:
    """A dark theme: galaxies are judged against a dark sky, and a bright frame dazzles."""
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: QColor(37, 39, 44),
        QPalette.ColorRole.WindowText: QColor(220, 222, 228),
        QPalette.ColorRole.Base: QColor(27, 29, 33),
        QPalette.ColorRole.AlternateBase: QColor(44, 46, 52),
        QPalette.ColorRole.ToolTipBase: QColor(50, 52, 58),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 235),
        QPalette.ColorRole.Text: QColor(222, 224, 230),
        QPalette.ColorRole.Button: QColor(48, 50, 56),
        QPalette.ColorRole.ButtonText: QColor(222, 224, 230),
        QPalette.ColorRole.Highlight: QColor(66, 133, 214),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 142, 150),
        QPalette.ColorRole.Link: QColor(110, 170, 240),
    }
    for role, colour in colours.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 122, 128))
    return palette


def application() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Galaxy Studio")
    app.setOrganizationName("Galaxy Studio")
    app.setStyle(VisibleIndicatorStyle())
    app.setPalette(dark_palette())
    app.setWindowIcon(QIcon(str(resource_path("galaxy-studio.png"))))
    collect_on_gui_thread(app)
    return app


class ScreenshotTaker(QObject):
    """Waits until the window shows what its panel is for, grabs it and quits: the Library
    its first screenful of thumbnails, the Distill panel the demo's run in progress (or, with
    no demo started, the panel as it opens: there is no run to wait for), Explore its map, any
    other panel the moment the demo is open and no job runs (the Library's thumbnails, hidden
    behind it, are never drawn)."""

    def __init__(
        self, window: MainWindow, out: Path, app: QApplication, panel: str = "library", *, demo: bool = False
    ) -> None:
        super().__init__(window)
        self.window, self.out, self.app = window, out, app
        self.panel = "distill-demo" if panel == "distill" and demo else panel
        self.timeout = DISTILL_SCREENSHOT_TIMEOUT_S if panel in ("distill", "explore") else SCREENSHOT_TIMEOUT_S
        self.started = time.monotonic()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._poll)
        self.timer.start(100)

    def ready(self) -> bool:
        if self.panel == "distill-demo":
            distill = self.window.distill
            return (
                distill.runner.running
                and distill.iteration >= DISTILL_SCREENSHOT_ITERATIONS
                and distill.prototypes.grid.pictures is not None
                and distill.prototypes.grid.selected is not None
            )
        if self.panel == "explore":
            return self._explore_ready()
        library = self.window.library
        if library.opener.running or self.window.jobs.running:
            return False
        if self.panel != "library":
            return True
        if not library.catalog.items:
            return True
        return library.grid.visible_thumbnails_drawn() and library.cutout is not None

    def _explore_ready(self) -> bool:
        """The map is drawn; once it is, pick a cutout, lasso its neighbourhood and wait for the
        viewer and the neighbours' thumbnails, as a user would have it on screen."""
        explore = self.window.explore
        if self.window.jobs.running or explore.jobs.running:
            return False
        if explore.embeddings is None or explore.xy is None:
            return not self.window.library.catalog.items and not explore.data_edit.text()
        if explore.current is None:
            row = int(np.argmin(np.linalg.norm(explore.xy - np.median(explore.xy, axis=0), axis=1)))
            explore.show_point(row)
            distances = np.sort(np.linalg.norm(explore.xy - explore.xy[row], axis=1))
            radius = distances[min(EXPLORE_SCREENSHOT_SELECTION, len(distances) - 1)]
            angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            ring = explore.xy[row] + radius * np.column_stack([np.cos(angles), np.sin(angles)])
            explore.map_area.map.select_polygon(ring)
            return False
        tiles = explore.viewer.strip.tiles
        return (
            explore.viewer.view.has_image()
            and not explore.viewer.thumbnails.running
            and bool(tiles)
            and all(not tile.icon().isNull() for tile in tiles)
        )

    def _poll(self) -> None:
        self.window.library.grid.viewport().update()
        if self.panel == "distill-demo":
            self._pick_a_prototype()
        if self.ready():
            self.timer.stop()
            self.app.processEvents()
            saved = self.window.grab().save(str(self.out))
            if not saved:
                print(f"galaxy-studio: error: {self.out}: cannot write the screenshot", file=sys.stderr)
            self.window.close()
            self.app.exit(0 if saved else 1)
        elif time.monotonic() - self.started > self.timeout:
            self.timer.stop()
            waited = {"distill-demo": "a distillation in progress", "explore": "the embedding map"}.get(
                self.panel, "thumbnails"
            )
            print(f"galaxy-studio: error: screenshot timed out waiting for {waited}", file=sys.stderr)
            self.window.close()
            self.app.exit(1)
        elif self.panel == "explore" and self.window.explore.map_message.startswith("Failed"):
            self.timer.stop()
            print(f"galaxy-studio: error: {self.window.explore.map_message}", file=sys.stderr)
            self.window.close()
            self.app.exit(1)
        elif self.panel == "distill-demo" and self.window.distill.message.startswith("Failed"):
            self.timer.stop()
            print(f"galaxy-studio: error: {self.window.distill.message}", file=sys.stderr)
            self.window.close()
            self.app.exit(1)

    def _pick_a_prototype(self) -> None:
        """Open one prototype large, as a user would, so the screenshot shows the viewer."""
        distill = self.window.distill
        if distill.prototypes.grid.pictures is not None and distill.prototypes.grid.selected is None:
            distill.prototypes.grid.select(0)
            distill.prototypes.show_prototype(0)


def run_app(
    paths: list[str],
    *,
    demo: bool = False,
    screenshot: Path | None = None,
    panel: str = "library",
    samp: bool = False,
) -> int:
    """Open the window on `panel`. With `demo`, the Library opens the demo galaxies; on the
    Distill panel the demo is a short live distillation of them instead, and on the Explore
    panel they are also embedded and mapped. With `samp`, register with the SAMP hub (and
    again whenever it restarts)."""
    app = application()
    window = MainWindow()
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
    window.show_panel(panel)
    report_shown_from_env(window)
    window.show()
    if samp:
        window.samp.connect_hub()
    projects = [p for p in paths if p.endswith(".gsproj")]
    if demo and panel == "distill":
        window.distill.start_demo()
    elif demo:
        window.open_demo()
    elif projects:
        window.open_project(Path(projects[0]))
    elif paths:
        window.library.open_paths(paths, replace=True)
    if screenshot is not None:
        ScreenshotTaker(window, screenshot, app, panel, demo=demo)
    return app.exec()
