"""Reads and renders the cutout shown large, off the GUI thread; the newest request wins.

A few recent renders are kept, and the next cutout can be prefetched, so that stepping
through galaxies while labelling shows each one without waiting for the disk.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from galaxy_studio.data.catalog import CatalogItem, read_item
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.display import DisplaySettings, default_settings, render_rgb
from galaxy_studio.data.formats import read_cutout

RENDER_CACHE_ENTRIES = 8
PREFETCH = 0
# (HDU, plane) of a FITS file; None: the reader's default choice.
Layer = tuple[int, int | None] | None
CacheKey = tuple[CatalogItem, Layer, DisplaySettings | None]


class CutoutLoader(QObject):
    """`shown(request, cutout, rgb, settings)` or `failed(request, message)` per request.

    Requests are numbered; results of superseded requests are still delivered with their
    number so the receiver can ignore them. One worker thread keeps them in order.
    """

    shown = Signal(int, object, object, object)
    failed = Signal(int, str)
    _rendered = Signal(int, object, object, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.latest = 0
        self._closed = False
        self._cache: OrderedDict[CacheKey, tuple[Cutout, np.ndarray, DisplaySettings]] = OrderedDict()
        self._rendered.connect(self._on_rendered)

    def load(self, item: CatalogItem, settings: DisplaySettings | None, layer: Layer = None) -> int:
        """Read `item` (its `layer`, for a FITS file) and render it (settings None: the
        cutout's own defaults)."""
        self.latest += 1
        key = (item, layer, settings)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.shown.emit(self.latest, *cached)
            return self.latest
        self._start(_RenderTask(self, self.latest, item, None, settings, layer), replace=True)
        return self.latest

    def prefetch(self, item: CatalogItem, settings: DisplaySettings | None) -> None:
        """Render `item` into the cache in the background, unless it is there already."""
        if (item, None, settings) not in self._cache:
            self._start(_RenderTask(self, PREFETCH, item, None, settings, None), replace=False)

    def render(self, cutout: Cutout, settings: DisplaySettings) -> int:
        """Re-render an already read cutout with new settings."""
        self.latest += 1
        self._start(_RenderTask(self, self.latest, None, cutout, settings, None), replace=True)
        return self.latest

    def _start(self, task: _RenderTask, *, replace: bool) -> None:
        """Queue a task; `replace` drops queued ones first. Nothing starts after shutdown."""
        if self._closed:
            return
        if replace:
            self.pool.clear()
        self.pool.start(task)

    def _on_rendered(
        self, request: int, key: CacheKey | None, cutout: Cutout, rgb: np.ndarray, settings: DisplaySettings
    ) -> None:
        if key is not None:
            self._cache[key] = (cutout, rgb, settings)
            while len(self._cache) > RENDER_CACHE_ENTRIES:
                self._cache.popitem(last=False)
        if request != PREFETCH:
            self.shown.emit(request, cutout, rgb, settings)

    def forget(self) -> None:
        """Drop cached renders (the files may have changed on disk)."""
        self._cache.clear()

    def shutdown(self) -> None:
        self._closed = True
        self.pool.clear()
        self.pool.waitForDone()


class _RenderTask(QRunnable):
    def __init__(
        self,
        loader: CutoutLoader,
        request: int,
        item: CatalogItem | None,
        cutout: Cutout | None,
        settings: DisplaySettings | None,
        layer: Layer,
    ) -> None:
        super().__init__()
        self.loader, self.request, self.item, self.cutout, self.settings = loader, request, item, cutout, settings
        self.layer = layer

    def _read(self) -> Cutout:
        if self.cutout is not None:
            return self.cutout
        assert self.item is not None
        if self.layer is not None:
            return read_cutout(self.item.path, hdu=self.layer[0], plane=self.layer[1])
        return read_item(self.item)

    def run(self) -> None:
        source = self.item.path if self.item is not None else (self.cutout.source if self.cutout else "")
        try:
            cutout = self._read()
            settings = self.settings or default_settings(cutout)
            rgb = render_rgb(cutout, settings)
        except CutoutError as error:
            if self.request != PREFETCH:
                self.loader.failed.emit(self.request, str(error))
        except (OSError, ValueError, MemoryError) as error:
            if self.request != PREFETCH:
                self.loader.failed.emit(self.request, f"{source}: {error or type(error).__name__}")
        else:
            key = (self.item, self.layer, self.settings) if self.item is not None else None
            self.loader._rendered.emit(self.request, key, cutout, rgb, settings)
