"""The library's thumbnail grid: a Qt model/view that decodes only what is on screen.

The view asks the model for decorations only of the items it paints, so the model
requests a thumbnail from a worker pool when one is missing. Before each paint the view
tells the model which items are on screen; a queued request that has scrolled out of
sight by the time a worker picks it up is dropped, so fast scrolling through 20,000
items never builds a backlog. Workers return numpy arrays; QImages are made here, on the
GUI thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRectF,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from galaxy_studio.data.catalog import Catalog, CatalogItem
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.thumbnails import ThumbnailCache, make_thumbnail
from galaxy_studio.path_text import readable

LabelRole = Qt.ItemDataRole.UserRole + 1
KeepItem = Callable[[int, CatalogItem], bool]
PIXMAP_CACHE_ENTRIES = 600


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of the pixels (the numpy buffer may be freed after)."""
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ThumbnailLoader(QObject):
    """Renders thumbnails on a private thread pool; newest requests run first."""

    loaded = Signal(int, int, object)
    failed = Signal(int, int, str)
    dropped = Signal(int, int)

    def __init__(self, cache: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(2, QThreadPool.globalInstance().maxThreadCount() - 1))
        self._lock = threading.Lock()
        self._wanted: set[int] = set()
        self._priority = 0
        self._closed = False

    def set_wanted(self, keys: set[int]) -> None:
        with self._lock:
            self._wanted = set(keys)

    def is_wanted(self, key: int) -> bool:
        with self._lock:
            return key in self._wanted

    def request(self, generation: int, key: int, item: CatalogItem, size: int) -> None:
        if self._closed:
            return
        self._priority = (self._priority + 1) % 2_000_000_000
        self.pool.start(_ThumbnailTask(self, generation, key, item, size), self._priority)

    def shutdown(self) -> None:
        self._closed = True
        self.pool.clear()
        self.pool.waitForDone()


class _ThumbnailTask(QRunnable):
    def __init__(self, loader: ThumbnailLoader, generation: int, key: int, item: CatalogItem, size: int) -> None:
        super().__init__()
        self.loader, self.generation, self.key, self.item, self.size = loader, generation, key, item, size

    def run(self) -> None:
        loader = self.loader
        if not loader.is_wanted(self.key):
            loader.dropped.emit(self.generation, self.key)
            return
        cache = loader.cache
        rgb = cache.lookup(self.item, self.size)
        if rgb is not None:
            loader.loaded.emit(self.generation, self.key, rgb)
            return
        try:
            rgb = make_thumbnail(self.item, self.size)
        except CutoutError as error:
            loader.failed.emit(self.generation, self.key, str(error))
        except (OSError, ValueError, MemoryError) as error:
            loader.failed.emit(self.generation, self.key, f"{self.item.path}: {error}")
        else:
            loader.loaded.emit(self.generation, self.key, rgb)
            cache.store(self.item, self.size, None, rgb)


class CatalogModel(QAbstractListModel):
    """Items of a catalogue, filtered; thumbnails arrive asynchronously."""

    item_failed = Signal(str)

    def __init__(self, loader: ThumbnailLoader, size: int = 128, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.size = size
        self.catalog = Catalog(items=[], classes=[], skipped=[], source="")
        self.rows: list[int] = []
        self._row_of: dict[int, int] = {}
        self.errors: dict[int, str] = {}
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._pending: set[int] = set()
        self._frame: set[int] = set()
        self._generation = 0
        self._filter: KeepItem | None = None
        self.labels: dict[int, str] = {}
        self.badges: dict[str, tuple[str, QColor, QColor]] = {}
        self._placeholder = self._make_placeholder()
        self._broken = self._make_broken()
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        loader.dropped.connect(self._on_dropped)

    def _make_placeholder(self) -> QPixmap:
        pixmap = QPixmap(self.size, self.size)
        pixmap.fill(QColor(40, 42, 48))
        return pixmap

    def _make_broken(self) -> QPixmap:
        pixmap = QPixmap(self.size, self.size)
        pixmap.fill(QColor(60, 30, 30))
        painter = QPainter(pixmap)
        painter.setPen(QPen(QColor(220, 80, 80), max(2, self.size // 32)))
        margin = self.size // 3
        painter.drawLine(margin, margin, self.size - margin, self.size - margin)
        painter.drawLine(self.size - margin, margin, margin, self.size - margin)
        painter.end()
        return pixmap

    def _reset_thumbnails(self) -> None:
        self._generation += 1
        self._pixmaps.clear()
        self._pending.clear()
        self.errors.clear()

    def set_catalog(self, catalog: Catalog, labels: dict[int, str] | None = None) -> None:
        """Show `catalog`; `labels` (key -> class) overrides the labels the items carry."""
        self.beginResetModel()
        self.catalog = catalog
        if labels is None:
            labels = {key: item.label for key, item in enumerate(catalog.items) if item.label}
        self.labels = labels
        self._reset_thumbnails()
        self._apply_filter()
        self.endResetModel()

    def set_badges(self, badges: dict[str, tuple[str, QColor, QColor]]) -> None:
        """Class name -> (key text, colour, text colour) for the label badge drawn on thumbnails."""
        self.badges = badges
        if self.rows:
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1), [LabelRole])

    def set_label(self, key: int, label: str | None) -> None:
        if label:
            self.labels[key] = label
        else:
            self.labels.pop(key, None)
        self._row_changed(key, LabelRole)

    def row_of(self, key: int) -> int | None:
        return self._row_of.get(key)

    def set_filter(self, keep: KeepItem | None) -> None:
        self.beginResetModel()
        self._filter = keep
        self._apply_filter()
        self.endResetModel()

    def set_thumbnail_size(self, size: int) -> None:
        self.beginResetModel()
        self.size = size
        self._placeholder, self._broken = self._make_placeholder(), self._make_broken()
        self._reset_thumbnails()
        self.endResetModel()

    def _apply_filter(self) -> None:
        items = self.catalog.items
        self.rows = [i for i, item in enumerate(items) if self._filter is None or self._filter(i, item)]
        self._row_of = {key: row for row, key in enumerate(self.rows)}

    def item_at(self, row: int) -> CatalogItem:
        return self.catalog.items[self.rows[row]]

    def key_at(self, row: int) -> int:
        return self.rows[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        key = self.rows[index.row()]
        item = self.catalog.items[key]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(key, item)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [readable(item.path) if item.index is None else f"{readable(item.path)} [{item.index}]"]
            if key in self.labels:
                lines.append(f"class: {self.labels[key]}")
            if key in self.errors:
                lines.append(self.errors[key])
            return "\n".join(lines)
        if role == LabelRole:
            return self.labels.get(key)
        return None

    def _decoration(self, key: int, item: CatalogItem) -> QPixmap:
        if key in self.errors:
            return self._broken
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        if key not in self._pending:
            self._pending.add(key)
            self.loader.request(self._generation, key, item, self.size)
        return self._placeholder

    def set_visible_rows(self, rows: list[int]) -> None:
        """The rows on screen now: only these are worth decoding."""
        self._frame = {self.rows[r] for r in rows if 0 <= r < len(self.rows)}
        self.loader.set_wanted(self._frame)

    def visible_count(self) -> int:
        return len(self._frame)

    def all_visible_drawn(self) -> bool:
        return bool(self._frame) and all(k in self._pixmaps or k in self.errors for k in self._frame)

    def _on_loaded(self, generation: int, key: int, rgb: np.ndarray) -> None:
        if generation != self._generation:
            return
        self._pending.discard(key)
        self._pixmaps[key] = QPixmap.fromImage(rgb_to_qimage(rgb))
        while len(self._pixmaps) > PIXMAP_CACHE_ENTRIES:
            self._pixmaps.popitem(last=False)
        self._row_changed(key, Qt.ItemDataRole.DecorationRole)

    def _on_failed(self, generation: int, key: int, message: str) -> None:
        if generation != self._generation:
            return
        self._pending.discard(key)
        self.errors[key] = message
        self.item_failed.emit(message)
        self._row_changed(key, Qt.ItemDataRole.DecorationRole)

    def _on_dropped(self, generation: int, key: int) -> None:
        if generation == self._generation:
            self._pending.discard(key)

    def _row_changed(self, key: int, role: int) -> None:
        row = self._row_of.get(key)
        if row is None:
            return
        index = self.index(row)
        self.dataChanged.emit(index, index, [role])


class ThumbnailDelegate(QStyledItemDelegate):
    """Draws the thumbnail as usual, plus a coloured badge with the class key when labelled."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().paint(painter, option, index)
        label = index.data(LabelRole)
        model = index.model()
        if not label or not isinstance(model, CatalogModel):
            return
        key_text, colour, ink = model.badges.get(label, ("•", QColor(160, 160, 170), QColor(10, 10, 12)))
        size = model.size
        icon_left = option.rect.x() + (option.rect.width() - size) // 2
        radius = max(9, size // 9)
        badge = QRectF(icon_left + 4, option.rect.y() + 4, 2 * radius, 2 * radius)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(15, 15, 18), 1.5))
        painter.setBrush(colour)
        painter.drawEllipse(badge)
        painter.setPen(ink)
        font = painter.font()
        font.setBold(True)
        font.setPixelSize(int(radius * 1.2))
        painter.setFont(font)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, key_text)
        painter.restore()


class ThumbnailGrid(QListView):
    """Icon-mode list view that tells its model which items each paint pass showed."""

    def __init__(self, model: CatalogModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSpacing(4)
        self.setModel(model)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.apply_thumbnail_size(model.size)

    def catalog_model(self) -> CatalogModel:
        model = self.model()
        assert isinstance(model, CatalogModel)
        return model

    def apply_thumbnail_size(self, size: int) -> None:
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 12, size + self.fontMetrics().height() + 14))

    def visible_rows(self) -> list[int]:
        """Rows whose cells intersect the viewport, found by probing the centre of each grid cell."""
        grid = self.gridSize()
        viewport = self.viewport().rect()
        rows: set[int] = set()
        probes_y = [0, *range(grid.height() // 2, viewport.height() + grid.height(), grid.height())]
        for y in probes_y:
            for x in range(grid.width() // 2, viewport.width(), grid.width()):
                index = self.indexAt(QPoint(x, min(y, viewport.height() - 1)))
                if index.isValid():
                    rows.add(index.row())
        return sorted(rows)

    def visible_thumbnails_drawn(self) -> bool:
        """True once every item now on screen has its thumbnail (or its error mark)."""
        model = self.catalog_model()
        model.set_visible_rows(self.visible_rows())
        return model.all_visible_drawn()

    def paintEvent(self, event: QPaintEvent) -> None:
        self.catalog_model().set_visible_rows(self.visible_rows())
        super().paintEvent(event)
