"""SAMP in the main window: the File menu's SAMP actions, the status-bar state, and what
received messages do to the Library.

- Send Cutout: the selected cutout to DS9/Aladin as FITS (`image.load.fits`).
- Send Table: the table the current tab shows (Library cutouts, Classify predictions,
  Explore map with clusters) to TOPCAT (`table.load.votable`).
- A table from TOPCAT opens in the Library (by its path column) or links its rows to the
  open cutouts (by RA/Dec); a row highlighted or selected there selects the cutouts here,
  and the cutout selected here highlights its row there.
- `coord.pointAt.sky` centres the viewer on the point when the shown cutout contains it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMenu

from galaxy_studio import paths as app_paths
from galaxy_studio.data.catalog import read_item
from galaxy_studio.data.samp_links import ItemKey, LinkedTable, item_key
from galaxy_studio.data.samp_messages import RowsChosen, SkyPointed, TableOffered
from galaxy_studio.gui.samp_link import CONNECTED, OFF, SampLink

# The SAMP client, table readers and writers need astropy: they are imported when used, so
# that building the window stays free of heavy imports (tests/gui/test_startup.py).
if TYPE_CHECKING:
    from galaxy_studio.data.samp_client import Sent
    from galaxy_studio.data.samp_tables import ReceivedTable
    from galaxy_studio.gui.main_window import MainWindow
    from galaxy_studio.gui.panels.classify_panel import ClassifyPanel
    from galaxy_studio.gui.panels.explore_panel import ExplorePanel
    from galaxy_studio.gui.samp_shown_tables import ShownTable

# Tables linked for row highlights, newest first; older ones are forgotten.
MAX_LINKED_TABLES = 20


def samp_folder() -> Path:
    """Where the FITS files and VOTables sent to other programs are written. They read them
    after the message arrives, so each file stays a day (samp_tables.remove_stale_files)."""
    return app_paths.cache_dir() / "samp"


class SampWindow(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.link = SampLink(self)
        self.tables: list[LinkedTable] = []
        self._selected_by_samp: ItemKey | None = None
        self.state_label = QLabel(OFF)
        self.state_label.setToolTip("SAMP: talk to DS9, TOPCAT and Aladin (File → Connect to SAMP Hub)")
        self.link.state_changed.connect(self._on_state_changed)
        self.link.said.connect(window.show_message)
        self.link.received.connect(self._on_received)
        window.library.grid.selectionModel().currentChanged.connect(self._on_library_current)
        self.connect_action = QAction("Connect to &SAMP Hub", window)
        self.connect_action.setCheckable(True)
        self.connect_action.setStatusTip("Exchange images and tables with DS9, TOPCAT and Aladin")
        self.connect_action.toggled.connect(self._on_connect_toggled)
        self.send_cutout_action = QAction("Send Cutout to DS9/Aladin", window)
        self.send_cutout_action.setStatusTip("The selected cutout, as FITS with its WCS (SAMP image.load.fits)")
        self.send_cutout_action.triggered.connect(self.send_cutout)
        self.send_table_action = QAction("Send Table to TOPCAT", window)
        self.send_table_action.setStatusTip(
            "What this tab lists: Library cutouts, Classify predictions or the Explore map (SAMP table.load.votable)"
        )
        self.send_table_action.triggered.connect(self.send_table)
        self._on_state_changed(OFF)

    def add_to_menu(self, menu: QMenu) -> None:
        menu.addAction(self.connect_action)
        menu.addAction(self.send_cutout_action)
        menu.addAction(self.send_table_action)

    def connect_hub(self) -> None:
        self.connect_action.setChecked(True)

    def shutdown(self) -> None:
        self.link.shutdown()

    def _on_connect_toggled(self, checked: bool) -> None:
        if checked:
            self.link.connect_hub()
        else:
            self.link.disconnect_hub()

    def _on_state_changed(self, state: str) -> None:
        self.state_label.setText(state)
        connected = state == CONNECTED
        self.send_cutout_action.setEnabled(connected)
        self.send_table_action.setEnabled(connected)

    # Sending -------------------------------------------------------------------------

    def send_cutout(self) -> None:
        library = self.window.library
        item, shown = library.selected_item(), library.cutout
        if item is None:
            self.window.show_message("Select a cutout to send it")
            return
        folder = samp_folder()
        client = self.link.client

        def work() -> Sent:
            from galaxy_studio.data.samp_tables import fits_to_send, remove_stale_files

            remove_stale_files(folder)
            same = shown is not None and shown.source == item.path and shown.scale == 1
            cutout = shown if same and shown is not None else read_item(item)
            path = fits_to_send(item, cutout, folder)
            return client.send_image(path.as_uri(), item.name)

        self.link.run(work, lambda sent: self.link.report_sent(sent, item.name, "FITS images"))

    def send_table(self) -> None:
        shown = self.shown_table()
        if shown is None:
            self.window.show_message("This tab shows no table to send yet")
            return
        from galaxy_studio.data.samp_client import new_table_id
        from galaxy_studio.data.samp_tables import remove_stale_files, write_votable

        name, table, keys = shown
        table_id = new_table_id()
        path = samp_folder() / f"{table_id}.xml"
        link = LinkedTable(table_id, path.as_uri(), name, tuple(keys))
        client = self.link.client

        def work() -> Sent:
            samp_folder().mkdir(parents=True, exist_ok=True)
            remove_stale_files(samp_folder())
            write_votable(table, path)
            return client.send_table(link.url, table_id, name)

        def sent(result: Sent) -> None:
            self.link.report_sent(result, f"{name} ({len(table)} rows)", "tables")

        self._remember(link)  # before TOPCAT can answer with a row of it
        self.link.run(work, sent)

    def shown_table(self) -> ShownTable | None:
        from galaxy_studio.gui.samp_shown_tables import embedding_map_table, library_table, predictions_table

        tab = self.window.tabs.current_name()
        if tab == "classify":
            return predictions_table(cast("ClassifyPanel", self.window.classify))
        if tab == "explore":
            return embedding_map_table(cast("ExplorePanel", self.window.explore))
        return library_table(self.window.library)

    def _remember(self, link: LinkedTable) -> None:
        self.tables = [link] + [t for t in self.tables if t.table_id != link.table_id][: MAX_LINKED_TABLES - 1]

    # Receiving -----------------------------------------------------------------------

    def _on_received(self, event: object) -> None:
        if isinstance(event, TableOffered):
            self._open_table(event)
        elif isinstance(event, RowsChosen):
            self._select_rows(event)
        elif isinstance(event, SkyPointed):
            self._point_at(event)

    def _open_table(self, offered: TableOffered) -> None:
        open_items = list(self.window.library.catalog.items)

        def work() -> ReceivedTable:
            from galaxy_studio.data.samp_tables import read_table, receive_table

            table = read_table(offered.url, offered.format)
            return receive_table(table, offered.url, offered.table_id, offered.name, open_items)

        def opened(received: ReceivedTable) -> None:
            self._remember(received.link)
            if received.catalog is not None and self.window.session.project is not None:
                # A project's Library lists the project's images; a message from another
                # program must not replace them (or add to the project): rows link instead.
                self.window.show_message(
                    f"From SAMP: {received.summary}; a project is open, so the rows were linked to "
                    "its cutouts instead of opening them"
                )
                return
            if received.catalog is not None:
                self.window.tabs.setCurrentWidget(self.window.library)
                self.window.library.set_catalog(received.catalog)
            self.window.show_message(f"From SAMP: {received.summary}")

        self.link.run(work, opened, lambda message: self.window.show_message(f"SAMP table not opened: {message}"))

    def _select_rows(self, chosen: RowsChosen) -> None:
        link = next((t for t in self.tables if t.matches(chosen.table_id, chosen.url)), None)
        if link is None:
            self.window.show_message("SAMP: rows chosen in a table Galaxy Studio has not seen; send or load it first")
            return
        keys = link.keys_of(chosen.rows)
        library = self.window.library
        model = library.model
        rows_of_key = {item_key(model.item_at(row)): row for row in range(model.rowCount())}
        rows = [rows_of_key[key] for key in keys if key in rows_of_key]
        if not rows:
            shown = ", ".join(str(row) for row in chosen.rows[:5])
            self.window.show_message(f"SAMP: row {shown} of {link.name} is not a cutout listed in the Library")
            return
        self._selected_by_samp = item_key(model.item_at(rows[0]))
        selection = QItemSelection()
        for row in rows:
            index = model.index(row)
            selection.select(index, index)
        selection_model = library.grid.selectionModel()
        selection_model.setCurrentIndex(model.index(rows[0]), QItemSelectionModel.SelectionFlag.NoUpdate)
        selection_model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        library.grid.scrollTo(model.index(rows[0]))
        self.window.tabs.setCurrentWidget(library)
        first = model.item_at(rows[0]).name
        more = f" and {len(rows) - 1} more" if len(rows) > 1 else ""
        self.window.show_message(f"SAMP: {first}{more} selected from {link.name}")

    def _point_at(self, pointed: SkyPointed) -> None:
        from galaxy_studio.data.samp_tables import display_position

        library = self.window.library
        cutout = library.cutout
        where = f"RA {pointed.ra:.5f}°, Dec {pointed.dec:+.5f}°"
        position = display_position(cutout, pointed.ra, pointed.dec) if cutout is not None else None
        if position is None:
            reason = "has no WCS" if cutout is not None and cutout.wcs is None else "does not contain it"
            self.window.show_message(f"SAMP: {where} — the cutout shown {reason}" if cutout else f"SAMP: {where}")
            return
        library.view.centre_on(*position)
        self.window.show_message(f"SAMP: centred on {where}")

    # Selection here -> highlight there ------------------------------------------------

    def _on_library_current(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid() or not self.tables:
            return
        key = item_key(self.window.library.model.item_at(current.row()))
        if key == self._selected_by_samp:
            self._selected_by_samp = None
            return
        self._selected_by_samp = None
        if not self.link.connected:
            return
        for table in self.tables:
            rows = table.rows_of(key)
            if rows:
                self._highlight(table, rows[0])
                return

    def _highlight(self, table: LinkedTable, row: int) -> None:
        client = self.link.client

        def work() -> Sent:
            return client.highlight_row(table.table_id, table.url, row)

        self.link.run(work)
