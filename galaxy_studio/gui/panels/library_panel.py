"""Library: browse a catalogue of cutouts as thumbnails and inspect one at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio import paths as app_paths
from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import Catalog, CatalogItem, catalog_from_paths
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings, explain_auto, pixel_readout
from galaxy_studio.data.thumbnails import ThumbnailCache
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.panels.labelling_mode import LabellingMode
from galaxy_studio.gui.panels.library_project import LibraryProject
from galaxy_studio.gui.session_signals import SessionSignals
from galaxy_studio.gui.widgets.class_legend import ClassLegend
from galaxy_studio.gui.widgets.class_mapping_dialog import confirm_class_mapping
from galaxy_studio.gui.widgets.class_swatch import style_colour
from galaxy_studio.gui.widgets.cutout_loader import CutoutLoader, Layer
from galaxy_studio.gui.widgets.details_view import DetailsView
from galaxy_studio.gui.widgets.display_controls import DisplayControls
from galaxy_studio.gui.widgets.image_view import ZOOM_STEP, ImageView
from galaxy_studio.gui.widgets.layer_picker import LayerPicker
from galaxy_studio.gui.widgets.sky_overlay import SkyOverlay
from galaxy_studio.gui.widgets.thumbnail_grid import CatalogModel, KeepItem, ThumbnailGrid, ThumbnailLoader
from galaxy_studio.gui.worker import JobRunner
from galaxy_studio.labels.store import AddedImages, Project
from galaxy_studio.path_text import readable

THUMBNAIL_SIZES = (64, 96, 128, 192, 256)
DEFAULT_THUMBNAIL_SIZE = 128
ALL_ITEMS = "All items"
READOUT_HINT = "Point at the image for pixel values and RA/Dec · wheel zooms · drag pans · double-click fits"


def _label_keys(classes: int) -> str:
    """The keys that label `classes` classes, as a hint says them."""
    if classes == 1:
        return "key 1"
    return f"keys 1–{classes}" if classes < 10 else "keys 1–9 and 0"


class LibraryPanel(QWidget):
    """Opens files, folders and catalogues; the grid decodes only what is visible."""

    status = Signal(str)
    cutout_shown = Signal()
    # What the Library shows changed: another folder, file or project (see shown_source).
    catalog_changed = Signal()

    def __init__(self, signals: SessionSignals, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = signals.session
        self.project_view = LibraryProject(self, signals)
        self.catalog = Catalog(items=[], classes=[], skipped=[], source="")
        self.problems: list[tuple[str, str]] = []
        self.cutout: Cutout | None = None
        self.user_settings: DisplaySettings | None = None
        self._pending_opens: list[tuple[list[str], bool]] = []

        self.thumbnails = ThumbnailLoader(ThumbnailCache(app_paths.thumbnail_cache_dir()), self)
        self.model = CatalogModel(self.thumbnails, DEFAULT_THUMBNAIL_SIZE, self)
        self.model.item_failed.connect(self._on_item_failed)
        self.grid = ThumbnailGrid(self.model)
        self.grid.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.loader = CutoutLoader(self)
        self.loader.shown.connect(self._on_cutout_shown)
        self.loader.failed.connect(self._on_cutout_failed)
        self.opener = JobRunner(self)
        # A scanned catalogue waiting to be added to the project (with its class mapping).
        self._to_add: tuple[Catalog, dict[str, str]] | None = None
        self.opener.finished.connect(self._start_next_open)

        self._build_layout()

    def _build_layout(self) -> None:
        self.filter = QComboBox()
        self.filter.setToolTip("Show one class or one sub-folder")
        self.filter.setMinimumContentsLength(18)
        self.filter.currentIndexChanged.connect(self._on_filter_changed)
        self.count_label = QLabel()
        self.problems_button = QPushButton()
        self.problems_button.setToolTip("Files that were skipped or could not be read, with the reason")
        self.problems_button.clicked.connect(self.show_problems)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(0, len(THUMBNAIL_SIZES) - 1)
        self.size_slider.setValue(THUMBNAIL_SIZES.index(DEFAULT_THUMBNAIL_SIZE))
        self.size_slider.setFixedWidth(90)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self._on_size_changed)
        self.order = QComboBox()
        self.order.addItems(["Project order", "Most uncertain first"])
        self.order.setToolTip(
            "With model suggestions (Classify → Suggest labels for project): "
            "the images the model is least sure of first"
        )
        self.order.currentIndexChanged.connect(self._on_order_changed)
        self.order_label = QLabel("Order")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.filter)
        bar.addWidget(self.order_label)
        bar.addWidget(self.order)
        bar.addWidget(self.count_label, 1)
        bar.addWidget(self.problems_button)
        bar.addWidget(QLabel("Size"))
        bar.addWidget(self.size_slider)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(bar)
        left_layout.addWidget(self.grid)

        self.controls = DisplayControls()
        self.controls.changed.connect(self._on_settings_changed)
        self.auto_button = QPushButton("Auto")
        self.auto_button.setToolTip("Back to each cutout's own default display")
        self.auto_button.clicked.connect(self.reset_display)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the image to the view (Ctrl+0)")
        self.actual_button = QPushButton("1:1")
        self.actual_button.setToolTip("One image pixel per screen pixel (Ctrl+1)")
        self.view = ImageView()
        self.view.empty_text = (
            "Open a folder, a FITS/JPEG file, a Galaxy10 HDF5 or a CSV catalogue\n"
            "(File menu, or drop files here), then select a cutout"
        )
        self.fit_button.clicked.connect(self.view.fit)
        self.actual_button.clicked.connect(self.view.set_actual_size)
        self.view.hovered.connect(self._on_hovered)
        self.view.zoom_changed.connect(self._on_zoom_changed)
        self.view.overlay = self.sky_overlay = SkyOverlay()
        self.controls.overlay_changed.connect(self._on_overlay_changed)
        self.layer_picker = LayerPicker()
        self.layer_picker.layer_chosen.connect(self._on_layer_chosen)
        self.rotate_button = QPushButton("Rotate")
        self.rotate_button.setToolTip("Turn the view by 90° (R in labelling mode)")
        self.rotate_button.clicked.connect(lambda: self.view.rotate_view())
        for button in (self.auto_button, self.fit_button, self.actual_button, self.rotate_button):
            button.setMaximumWidth(button.fontMetrics().horizontalAdvance(button.text()) + 24)
            self.controls.extra_row.addWidget(button)
        self.legend = ClassLegend()
        self.legend.hide()
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)  # a long name or suggestion wraps instead of widening the window
        self.readout = QLabel(READOUT_HINT)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.zoom_label = QLabel()
        readout_row = QHBoxLayout()
        readout_row.setContentsMargins(0, 0, 6, 0)
        readout_row.addWidget(self.readout, 1)
        readout_row.addWidget(self.zoom_label)
        viewer = QWidget()
        viewer_layout = QVBoxLayout(viewer)
        viewer_layout.setContentsMargins(0, 0, 0, 0)
        viewer_layout.addWidget(self.controls)
        viewer_layout.addWidget(self.legend)
        viewer_layout.addWidget(self.layer_picker)
        viewer_layout.addWidget(self.title)
        viewer_layout.addWidget(self.view, 1)
        viewer_layout.addWidget(self.controls.scale_limits)
        viewer_layout.addLayout(readout_row)

        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.header_text = self._text_box(mono, "No FITS header: select a FITS cutout")
        self.details_text = DetailsView()
        self.tabs = QTabWidget()
        self.tabs.addTab(viewer, "Image")
        self.tabs.addTab(self.header_text, "Header")
        self.tabs.addTab(self.details_text, "Details")

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([600, 840])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)
        self.project_view.status.connect(self.status)
        self.labelling = LabellingMode(self, self.project_view)
        self.labelling.status.connect(self.status)
        self.show_order_choice(False)
        self._refresh_filter()
        self._refresh_counts()

    def _on_order_changed(self, index: int) -> None:
        self.project_view.set_uncertain_first(index == 1)

    def review_suggestions(self) -> None:
        """The project's images most uncertain first, from the first unlabelled one, keys ready."""
        if self.order.currentIndex() == 1:
            self.project_view.set_uncertain_first(True)
        else:
            self.order.setCurrentIndex(1)
        self.grid.setFocus()

    def show_order_choice(self, visible: bool) -> None:
        """The order applies to a project's images (its suggestions), so it shows with one."""
        self.order.setVisible(visible)
        self.order_label.setVisible(visible)

    @staticmethod
    def _text_box(font: QFont, placeholder: str) -> QPlainTextEdit:
        box = QPlainTextEdit()
        box.setReadOnly(True)
        box.setFont(font)
        box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        box.setPlaceholderText(placeholder)
        return box

    # Opening ---------------------------------------------------------------------------

    def open_paths(self, paths: Sequence[str | Path], *, replace: bool = False) -> None:
        """Scan files, folders, HDF5 and CSV off the GUI thread; add (or replace) the items."""
        self._pending_opens.append(([str(p) for p in paths], replace))
        if not self.opener.running:
            self._start_next_open()

    def _start_next_open(self) -> None:
        if self.opener.running:
            return
        if self._to_add is not None:
            self._start_adding(*self._to_add)
            return
        if not self._pending_opens:
            return
        paths, replace = self._pending_opens.pop(0)
        if replace and self.session.project is not None:
            self.session.close()
        self.status.emit(f"Opening {paths[0]}" + (f" and {len(paths) - 1} more" if len(paths) > 1 else "") + "…")

        def scan(emit: EventSink, cancel: CancelToken) -> Catalog:
            return catalog_from_paths(paths)

        if self.session.project is None:
            self.opener.start(scan, on_success=partial(self._on_scanned, replace), on_failure=self._on_open_failed)
        else:
            self.opener.start(
                scan, on_success=partial(self._on_scanned_for_project, paths), on_failure=self._on_open_failed
            )

    def _on_scanned(self, replace: bool, catalog: Catalog) -> None:
        """A scanned catalogue replaces or joins the library."""
        self.set_catalog(catalog if replace else self.catalog.merge(catalog))
        self._report_opened(len(catalog.items), catalog.skipped)

    def _on_scanned_for_project(self, paths: list[str], catalog: Catalog) -> None:
        """Labels the files bring (class folders, CSV lists, Galaxy10 rows) are matched to the
        project's classes, in the mapping dialog where names differ; then the files are added
        (when the current job has finished)."""
        counts = Counter(item.label for item in catalog.items if item.label is not None)
        first = Path(paths[0])
        source = f"{first.parent.name}/{first.name}" + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
        renames = confirm_class_mapping(self, self.session, source, counts) if counts else {}
        if renames is None:
            self.status.emit("Adding cancelled: nothing was added")
            return
        self._to_add = (catalog, renames)

    def _start_adding(self, catalog: Catalog, renames: dict[str, str]) -> None:
        self._to_add = None
        project = self.session.project
        if project is None:
            return
        project_path = project.path

        def add(emit: EventSink, cancel: CancelToken) -> AddedImages:
            with Project.open(project_path) as writer:
                return writer.add_catalog(catalog, renames=renames, emit=emit, cancel=cancel)

        self.opener.start(add, on_success=self._on_added_to_project, on_failure=self._on_open_failed)

    def _on_added_to_project(self, result: AddedImages) -> None:
        """Files added to the open project (by another connection, off this thread) are
        reloaded from it; what became of their labels is said, whatever it was."""
        self.session.changed_outside()
        counts = result.counts
        said = f"; labels: {counts.describe()}" if counts.taken or counts.unmapped or counts.skipped else ""
        project = self.session.project
        if self.labelling.active and project is not None and project.classes:
            # The hint labelling mode gave when it started would otherwise be replaced by this.
            said += f" · {_label_keys(len(project.classes))} label and advance (Help → Labelling keys)"
        self._report_opened(result.added, result.skipped, said)

    def _report_opened(self, added: int, skipped: list[tuple[str, str]], labels: str = "") -> None:
        message = f"Added {counted(added, 'item')}{labels}"
        if skipped:
            self.problems.extend(skipped)
            first_path, first_reason = skipped[0]
            message += f"; skipped {len(skipped)}: {Path(first_path).name}: {first_reason}"
            self._refresh_counts()
        self.status.emit(message)

    def _on_open_failed(self, message: str) -> None:
        self.problems.append(("", message))
        self._refresh_counts()
        self.status.emit(f"Could not open: {message}")

    def set_catalog(self, catalog: Catalog, labels: dict[int, str] | None = None) -> None:
        self.catalog = catalog
        if not catalog.items:
            self.problems.clear()
        self.loader.forget()
        self.model.set_catalog(catalog, labels)
        if self.session.project is None:
            self.session.set_data_classes(catalog.classes)
        styles = self.session.class_styles(catalog.classes)
        self.model.set_badges(
            {
                name: (style.key or "•", style_colour(style), QColor(*style.ink))
                for name, style in zip(catalog.classes, styles)
            }
        )
        self._refresh_filter()
        self._refresh_counts()
        if catalog.items and not self.grid.selectionModel().hasSelection():
            self.grid.setCurrentIndex(self.model.index(0))
        self.catalog_changed.emit()

    def shown_source(self, *, labelled: bool) -> Path | None:
        """What the Library shows as one thing a job can read: the open project, or the one
        folder or file it opened (with `labelled`, only when that brought classes). None when it
        shows nothing, several sources, or (with `labelled`) unlabelled cutouts."""
        if self.session.project_path is not None:
            return self.session.project_path
        source = self.catalog.source
        if len(self.catalog.items) < 2 or not source or "; " in source or (labelled and not self.catalog.classes):
            return None
        path = Path(source)
        return path.resolve() if path.exists() else None

    def show_project_items(self, items: list[CatalogItem], classes: list[str], labels: dict[int, str]) -> None:
        """Called by the project view: the project's images, in project order."""
        source = str(self.session.project_path or "")
        self.set_catalog(Catalog(items=items, classes=classes, skipped=[], source=source), labels)

    def select_row(self, row: int) -> None:
        index = self.model.index(row)
        self.grid.setCurrentIndex(index)
        self.grid.scrollTo(index)
        QTimer.singleShot(0, lambda: self.grid.scrollTo(self.grid.currentIndex()))

    def clear(self) -> None:
        self.session.close()
        self.set_catalog(Catalog(items=[], classes=[], skipped=[], source=""))
        self.cutout = None
        self.view.set_image(None)
        self.header_text.clear()
        self.details_text.clear_rows()
        self.title.clear()

    # Filtering and counts --------------------------------------------------------------

    def _refresh_filter(self) -> None:
        current = self.filter.currentData()
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.addItem(ALL_ITEMS, None)
        if self.catalog.classes:
            self.filter.addItem("Unlabelled", ("state", "unlabelled"))
            self.filter.addItem("Labelled", ("state", "labelled"))
        if self.session.project is not None:
            self.filter.addItem("Not labelled by me", ("state", "not-mine"))
            self.filter.addItem("Disagreements", ("state", "disagreements"))
        counts = Counter(self.model.labels.values())
        for name in self.catalog.classes:
            self.filter.addItem(f"Class: {name} ({counts.get(name, 0)})", ("label", name))
        groups = sorted({item.group for item in self.catalog.items if item.group})
        for group in groups:
            self.filter.addItem(f"Folder: {group}", ("group", group))
        position = 0
        for i in range(self.filter.count()):
            if self.filter.itemData(i) == current:
                position = i
        self.filter.setCurrentIndex(position)
        self.filter.blockSignals(False)
        self._apply_filter()

    def _on_filter_changed(self) -> None:
        self._apply_filter()
        self._refresh_counts()

    def _apply_filter(self) -> None:
        self.model.set_filter(self._filter_predicate())

    def _filter_predicate(self) -> KeepItem | None:
        choice = self.filter.currentData()
        if choice is None:
            return None
        kind, value = choice
        labels = self.model.labels
        if kind == "label":
            return lambda key, item: labels.get(key) == value
        if kind == "group":
            return lambda key, item: item.group == value
        if value == "unlabelled":
            return lambda key, item: key not in labels
        if value == "labelled":
            return lambda key, item: key in labels
        if value == "not-mine":
            mine = self.project_view.mine
            return lambda key, item: key not in mine
        disputed = self.project_view.disagreement_keys()
        return lambda key, item: key in disputed

    def unlabelled_filter(self) -> Callable[[int], bool] | None:
        """With an 'unlabelled' filter on, which keys still count as unlabelled (for advancing)."""
        value = self.filter.currentData()
        if value == ("state", "unlabelled"):
            return lambda key: key not in self.model.labels
        if value == ("state", "not-mine"):
            return lambda key: key not in self.project_view.mine
        return None

    def _refresh_counts(self) -> None:
        total, shown = len(self.catalog.items), self.model.rowCount()
        classes = f" · {counted(len(self.catalog.classes), 'class', 'classes')}" if self.catalog.classes else ""
        self.count_label.setText(
            f"{counted(total, 'item', grouped=True)}{classes}"
            if shown == total
            else f"{shown:,} of {counted(total, 'item', grouped=True)}"
        )
        self.problems_button.setText(f"⚠ {len(self.problems)} skipped")
        self.problems_button.setVisible(bool(self.problems))

    def _on_item_failed(self, message: str) -> None:
        self.problems.append(("", message))
        self._refresh_counts()

    def show_problems(self) -> None:
        lines = [f"{Path(path).name}: {reason}" if path else reason for path, reason in self.problems]
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Skipped files",
            f"{counted(len(lines), 'file')} {'was' if len(lines) == 1 else 'were'} skipped: unsupported or unreadable.",
            parent=self,
        )
        box.setDetailedText(readable("\n".join(lines)))
        box.exec()

    def _on_size_changed(self, position: int) -> None:
        size = THUMBNAIL_SIZES[position]
        self.model.set_thumbnail_size(size)
        self.grid.apply_thumbnail_size(size)

    # Viewing ---------------------------------------------------------------------------

    def selected_item(self) -> CatalogItem | None:
        index = self.grid.currentIndex()
        return self.model.item_at(index.row()) if index.isValid() else None

    def _on_selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        index: QModelIndex = self.grid.currentIndex()
        if index.isValid():
            self.show_item(self.model.item_at(index.row()))

    def show_item(self, item: CatalogItem, layer: Layer = None) -> None:
        """Show `item`; a FITS file already shown keeps its picked layer unless `layer` says otherwise."""
        layer = layer if layer is not None else self.layer_picker.layer_of(item.path)
        self.title.setText(f"<b>{item.name}</b> · loading…")
        if self.user_settings is not None and self.user_settings.limits is not None:
            self.user_settings = self.user_settings.with_changes(limits=None)  # pixel values differ per image
        self.loader.load(item, self.user_settings, layer)

    def _on_layer_chosen(self, layer: Layer) -> None:
        item = self.selected_item()
        if item is not None:
            self.show_item(item, layer)

    def _on_cutout_shown(self, request: int, cutout: Cutout, rgb: object, settings: DisplaySettings) -> None:
        if request != self.loader.latest:
            return
        same_cutout = self.cutout is cutout
        self.cutout = cutout
        if not same_cutout:
            self.controls.set_bands(cutout.bands)
            self.header_text.setPlainText(
                cutout.header.tostring(sep="\n").rstrip() if cutout.header is not None else ""
            )
            self.details_text.show_cutout(cutout)
            self.layer_picker.set_file(cutout.source, cutout.format == "fits")
            self.sky_overlay.set_cutout(cutout)
            self.auto_button.setToolTip("Back to each cutout's own default display. " + explain_auto(cutout))
            self._show_title(cutout)
        self.controls.set_settings(settings)
        self.controls.show_scale(cutout, settings)
        self.view.set_image(rgb, keep_view=same_cutout)
        self.cutout_shown.emit()
        self._prefetch_next()

    def _show_title(self, cutout: Cutout) -> None:
        index = self.grid.currentIndex()
        key = self.model.key_at(index.row()) if index.isValid() else None
        shape = f"{cutout.width}×{cutout.height} · {', '.join(cutout.bands)}"
        if self.session.project is not None and key is not None:
            labels = self.project_view.describe_labels(key)
        else:
            labels = self.model.labels.get(key, "") if key is not None else ""
        self.title.setText(
            f"<b>{readable(Path(cutout.source).name)}</b> · {shape}" + (f" — {labels}" if labels else "")
        )

    def refresh_title(self) -> None:
        if self.cutout is not None:
            self._show_title(self.cutout)

    def _prefetch_next(self) -> None:
        index = self.grid.currentIndex()
        if index.isValid() and index.row() + 1 < self.model.rowCount():
            self.loader.prefetch(self.model.item_at(index.row() + 1), self.user_settings)

    def _on_cutout_failed(self, request: int, message: str) -> None:
        if request != self.loader.latest:
            return
        self.cutout = None
        self.view.set_image(None)
        self.view.empty_text = f"Cannot show this cutout:\n{message}"
        self.title.setText("<b>Unreadable</b>")
        self.details_text.show_message(message)
        self.header_text.clear()
        self.status.emit(message)

    def _on_settings_changed(self, settings: DisplaySettings) -> None:
        self.user_settings = settings
        if self.cutout is not None:
            self.loader.render(self.cutout, settings)

    def reset_display(self) -> None:
        """Forget the user's display choices; each cutout shows with its own defaults."""
        self.user_settings = None
        item = self.selected_item()
        if item is not None:
            self.show_item(item)

    def set_display(self, settings: DisplaySettings) -> None:
        self.controls.set_settings(settings)
        self._on_settings_changed(settings)

    def zoom_in(self) -> None:
        self.view.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.view.zoom_by(1 / ZOOM_STEP)

    def _on_hovered(self, x: float, y: float) -> None:
        if self.cutout is None or x < 0:
            self.readout.setText(READOUT_HINT)
            return
        self.readout.setText(pixel_readout(self.cutout, x, y) or READOUT_HINT)

    def _on_overlay_changed(self, compass: bool, grid: bool) -> None:
        self.sky_overlay.show_compass, self.sky_overlay.show_grid = compass, grid
        self.view.update()

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def shutdown(self) -> None:
        """Stop background work before the window goes away."""
        self.thumbnails.shutdown()
        self.loader.shutdown()
        self.opener.shutdown()
