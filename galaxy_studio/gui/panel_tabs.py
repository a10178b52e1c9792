"""Tabs whose panels are built the first time they are shown or asked for.

Building every panel at startup cost the window half its start time: their modules import
pyqtgraph, and their constructors scan the runs and models folders. A tab holds an empty
placeholder until then; building swaps the panel in at the same place, before the tab is
painted, so a user never sees the placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from PySide6.QtWidgets import QTabWidget, QWidget


@runtime_checkable
class ShutsDown(Protocol):
    """A panel that stops its jobs when the window closes."""

    def shutdown(self) -> None: ...


class PanelTabs(QTabWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._built: dict[str, QWidget] = {}
        self.currentChanged.connect(self._build_current)

    def add_panel(self, name: str, title: str, factory: Callable[[], QWidget]) -> None:
        """A tab whose panel `factory()` builds when it is first shown or asked for."""
        self._names.append(name)
        self._factories[name] = factory
        self.blockSignals(True)
        self.addTab(QWidget(), title)
        self.blockSignals(False)
        if self.count() == 1:  # the tab shown first
            self.panel(name)

    def panel(self, name: str) -> QWidget:
        """The panel `name`, built now if it was not yet (the current tab stays as it is)."""
        built = self._built.get(name)
        if built is not None:
            return built
        widget = self._factories[name]()
        self._built[name] = widget
        index = self._names.index(name)
        placeholder = self.widget(index)
        was_current = self.currentIndex() == index
        title = self.tabText(index)
        self.blockSignals(True)  # the tab a user sees does not change: no currentChanged
        try:
            self.removeTab(index)
            self.insertTab(index, widget, title)
            if was_current:
                self.setCurrentIndex(index)
        finally:
            self.blockSignals(False)
        placeholder.deleteLater()
        return widget

    def built(self, name: str) -> QWidget | None:
        """The panel if it has been built, else None (asking does not build it)."""
        return self._built.get(name)

    def built_panels(self) -> Iterator[QWidget]:
        return iter(list(self._built.values()))

    def current_name(self) -> str:
        return self._names[self.currentIndex()]

    def show_panel(self, name: str) -> QWidget:
        """Build `name` if needed and make it the current tab."""
        widget = self.panel(name)
        self.setCurrentWidget(widget)
        return widget

    def _build_current(self, index: int) -> None:
        if 0 <= index < len(self._names):
            self.panel(self._names[index])
