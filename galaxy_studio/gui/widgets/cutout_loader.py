"""Reads and renders the cutout shown large, off the GUI thread; the newest request wins."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from galaxy_studio.data.catalog import CatalogItem, read_item
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.display import DisplaySettings, default_settings, render_rgb


class CutoutLoader(QObject):
    """`shown(request, cutout, rgb, settings)` or `failed(request, message)` per request.

    Requests are numbered; results of superseded requests are still delivered with their
    number so the receiver can ignore them. One worker thread keeps them in order.
    """

    shown = Signal(int, object, object, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.latest = 0

    def load(self, item: CatalogItem, settings: DisplaySettings | None) -> int:
        """Read `item` and render it (settings None: the cutout's own defaults)."""
        self.latest += 1
        self.pool.clear()
        self.pool.start(_RenderTask(self, self.latest, item, None, settings))
        return self.latest

    def render(self, cutout: Cutout, settings: DisplaySettings) -> int:
        """Re-render an already read cutout with new settings."""
        self.latest += 1
        self.pool.clear()
        self.pool.start(_RenderTask(self, self.latest, None, cutout, settings))
        return self.latest

    def shutdown(self) -> None:
        self.pool.clear()
        self.pool.waitForDone()


class _RenderTask(QRunnable):
    def __init__(self, loader: CutoutLoader, request: int, item: CatalogItem | None,
                 cutout: Cutout | None, settings: DisplaySettings | None) -> None:
        super().__init__()
        self.loader, self.request, self.item, self.cutout, self.settings = loader, request, item, cutout, settings

    def run(self) -> None:
        source = self.item.path if self.item is not None else (self.cutout.source if self.cutout else "")
        try:
            cutout = self.cutout if self.cutout is not None else read_item(self.item)
            settings = self.settings or default_settings(cutout)
            rgb = render_rgb(cutout, settings)
        except CutoutError as error:
            self.loader.failed.emit(self.request, str(error))
        except (OSError, ValueError, MemoryError) as error:
            self.loader.failed.emit(self.request, f"{source}: {error or type(error).__name__}")
        else:
            self.loader.shown.emit(self.request, cutout, rgb, settings)
