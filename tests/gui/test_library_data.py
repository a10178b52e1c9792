"""The Train, Distill and Explore panels start from what the Library shows."""

from __future__ import annotations

from pathlib import Path

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.panels.train_panel import IDLE_HINTS
from tests.gui.test_library import write_jpegs


def open_in_library(qtbot, window: MainWindow, folder: Path, count: int) -> None:  # noqa: ANN001
    window.library.open_paths([str(folder)], replace=True)
    qtbot.waitUntil(lambda: len(window.library.catalog.items) == count, timeout=10_000)


def test_panels_first_shown_take_the_class_folders_open_in_the_library(qtbot, window, tmp_path) -> None:  # noqa: ANN001
    root = tmp_path / "cutouts"
    write_jpegs(root / "spiral", 3)
    write_jpegs(root / "elliptical", 3)
    open_in_library(qtbot, window, root, 6)

    for name in ("train", "distill", "explore"):
        panel = window.tabs.show_panel(name)
        assert panel.data_buttons.edit.text() == str(root.resolve()), name
    assert window.tabs.panel("train").progress_label.text() == IDLE_HINTS[True]


def test_the_panel_on_show_takes_what_the_library_opens_later(qtbot, window, tmp_path) -> None:  # noqa: ANN001
    train = window.tabs.show_panel("train")
    assert train.progress_label.text() == IDLE_HINTS[False]
    root = tmp_path / "cutouts"
    write_jpegs(root / "a", 2)
    write_jpegs(root / "b", 2)
    open_in_library(qtbot, window, root, 4)
    assert train.form.data_buttons.edit.text() == str(root.resolve())


def test_a_chosen_data_path_is_kept_and_unlabelled_cutouts_are_not_offered_for_training(
    qtbot,  # noqa: ANN001
    window,  # noqa: ANN001
    tmp_path,  # noqa: ANN001
) -> None:
    window.tabs.show_panel("distill").data_buttons.edit.setText("/data/chosen")
    window.tabs.show_panel("library")
    flat = tmp_path / "flat"
    write_jpegs(flat, 4)
    open_in_library(qtbot, window, flat, 4)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)

    train = window.tabs.show_panel("train")
    assert train.form.data_buttons.edit.text() == ""
    train.form.data_buttons.use_library()
    assert messages and messages[-1].startswith("The Library shows no labelled data")
    assert window.tabs.show_panel("distill").data_buttons.edit.text() == "/data/chosen"
    assert window.tabs.show_panel("explore").data_buttons.edit.text() == str(flat.resolve())
