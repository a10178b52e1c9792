"""A zoomable, pannable view of one rendered cutout that reports the pixel under the cursor."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QResizeEvent, QTransform, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from galaxy_studio.gui.widgets.thumbnail_grid import rgb_to_qimage

MIN_ZOOM, MAX_ZOOM = 1 / 64, 64.0
ZOOM_STEP = 1.25


class ViewOverlay(Protocol):
    """Something drawn over the image (compass, grid), given the image-to-widget transform."""

    def paint(self, painter: QPainter, transform: QTransform, widget: QRectF) -> None: ...


class ImageView(QWidget):
    """Draws an RGB array. Wheel zooms about the cursor, drag pans, double-click fits.

    `hovered` carries image pixel coordinates (x along columns, y along rows; 0-based,
    pixel centres at integers) or (-1, -1) when the cursor leaves the image.
    """

    hovered = Signal(float, float)
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._image: QImage | None = None
        self._zoom = 1.0
        self._centre = QPointF(0, 0)
        self._fit = True
        self._rotation = 0
        self._drag_from: QPointF | None = None
        self.empty_text = "Select a cutout to view it"
        self.overlay: ViewOverlay | None = None

    @property
    def zoom(self) -> float:
        return self._zoom

    def has_image(self) -> bool:
        return self._image is not None

    def set_image(self, rgb: np.ndarray | None, *, keep_view: bool = False) -> None:
        """Show new pixels; keep_view keeps zoom and centre (re-stretching the same cutout)."""
        same_size = (
            self._image is not None
            and rgb is not None
            and (self._image.width(), self._image.height()) == (rgb.shape[1], rgb.shape[0])
        )
        self._image = None if rgb is None else rgb_to_qimage(rgb)
        if not (keep_view and same_size):
            self.fit()
        self.update()

    def image_rgb(self) -> np.ndarray | None:
        """The pixels currently shown (tests compare them)."""
        if self._image is None:
            return None
        image = self._image.convertToFormat(QImage.Format.Format_RGB888)
        stride = image.bytesPerLine()
        buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * image.height())
        return (
            buffer.reshape(image.height(), stride)[:, : image.width() * 3]
            .reshape(image.height(), image.width(), 3)
            .copy()
        )

    @property
    def rotation(self) -> int:
        return self._rotation

    def rotate_view(self, degrees: int = 90) -> None:
        """Turn the view (not the data) in 90 degree steps; galaxies have no preferred angle."""
        self._rotation = (self._rotation + degrees) % 360
        if self._fit:
            self.fit()
        self.update()

    def fit(self) -> None:
        self._fit = True
        if self._image is not None:
            self._centre = QPointF(self._image.width() / 2, self._image.height() / 2)
            width, height = self._image.width(), self._image.height()
            if self._rotation in (90, 270):
                width, height = height, width
            self._set_zoom(min(self.width() / width, self.height() / height))
        self.update()

    def centre_on(self, x: float, y: float) -> None:
        """Put image pixel (x, y) (x right, y down, pixel centres at integers) in the middle of
        the view at the present zoom: another program pointed at that sky position."""
        if self._image is None:
            return
        self._fit = False
        self._centre = QPointF(x + 0.5, y + 0.5)
        self.update()

    def image_centre(self) -> tuple[float, float]:
        """The image pixel (x, y) in the middle of the view."""
        return self._centre.x() - 0.5, self._centre.y() - 0.5

    def set_actual_size(self) -> None:
        self._fit = False
        self._set_zoom(1.0)
        self.update()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        if self._image is None:
            return
        self._fit = False
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        before = self.widget_to_image(anchor)
        self._set_zoom(self._zoom * factor)
        after = self.widget_to_image(anchor)
        self._centre += before - after
        self.update()

    def _set_zoom(self, zoom: float) -> None:
        self._zoom = float(np.clip(zoom, MIN_ZOOM, MAX_ZOOM))
        self.zoom_changed.emit(self._zoom)

    def _transform(self) -> QTransform:
        transform = QTransform()
        transform.translate(self.width() / 2, self.height() / 2)
        transform.rotate(self._rotation)
        transform.scale(self._zoom, self._zoom)
        transform.translate(-self._centre.x(), -self._centre.y())
        return transform

    def widget_to_image(self, point: QPointF) -> QPointF:
        inverse, _ = self._transform().inverted()
        return inverse.map(point)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(18, 19, 22))
        if self._image is None:
            painter.setPen(QColor(140, 140, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._zoom < 1.0)
        painter.setTransform(self._transform())
        painter.drawImage(QRectF(0, 0, self._image.width(), self._image.height()), self._image)
        if self.overlay is not None:
            painter.resetTransform()
            self.overlay.paint(painter, self._transform(), QRectF(self.rect()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._fit:
            self.fit()
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps, event.position())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.fit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            inverse, _ = self._transform().inverted()
            self._centre -= inverse.map(event.position()) - inverse.map(self._drag_from)
            self._drag_from = event.position()
            self._fit = False
            self.update()
        self._report_hover(event.position())

    def leaveEvent(self, event: object) -> None:
        self.hovered.emit(-1.0, -1.0)

    def _report_hover(self, position: QPointF) -> None:
        if self._image is None:
            return
        point = self.widget_to_image(position)
        x, y = point.x() - 0.5, point.y() - 0.5
        if -0.5 <= x < self._image.width() - 0.5 and -0.5 <= y < self._image.height() - 0.5:
            self.hovered.emit(x, y)
        else:
            self.hovered.emit(-1.0, -1.0)
