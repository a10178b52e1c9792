"""Labelling mode: keys label and advance, undo/redo, filters, and nothing unsaved is shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project, ProjectError

N_IMAGES = 60


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    folder = tmp_path / "cutouts"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(N_IMAGES):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(folder / f"g{i:03d}.png")
    path = tmp_path / "labels.gsproj"
    with Project.create(path, BUILTIN_SCHEMES["galaxy10"]) as project:
        project.add_paths([folder])
    return path


def open_in(qtbot, window: MainWindow, path: Path) -> None:  # noqa: ANN001
    assert window.open_project(path)
    library = window.library
    qtbot.waitUntil(lambda: len(library.catalog.items) == N_IMAGES, timeout=10_000)
    qtbot.waitUntil(lambda: library.cutout is not None, timeout=10_000)
    assert library.labelling.active


def current_name(window: MainWindow) -> str:
    item = window.library.selected_item()
    return Path(item.path).name if item else ""


def test_fifty_key_presses_give_fifty_durable_labels(qtbot, window: MainWindow, project_path: Path) -> None:  # noqa: ANN001
    open_in(qtbot, window, project_path)
    library = window.library
    keys = [Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_0, Qt.Key.Key_9]
    for press in range(50):
        expected = f"g{press:03d}.png"
        assert current_name(window) == expected
        qtbot.keyClick(library.grid, keys[press % len(keys)])
    assert current_name(window) == "g050.png", "each key advanced to the next image"
    with Project.open(project_path) as reopened:
        labels = reopened.labels(window.session.labeller)
        assert len(labels) == 50
        classes = reopened.classes
        by_name = {Path(r.path).name: labels[r.id].class_name for r in reopened.images() if r.id in labels}
    assert by_name["g000.png"] == classes[0] and by_name["g003.png"] == classes[9] and by_name["g004.png"] == classes[8]
    assert "50 / 60" in library.legend.progress.text()
    assert library.legend.button_text(classes[0]).endswith("(10)")


def test_undo_redo_and_the_unlabelled_filter(qtbot, window: MainWindow, project_path: Path) -> None:  # noqa: ANN001
    open_in(qtbot, window, project_path)
    library = window.library
    for _ in range(5):
        qtbot.keyClick(library.grid, Qt.Key.Key_2)
    qtbot.keyClick(library.grid, Qt.Key.Key_Backspace)
    assert current_name(window) == "g004.png", "undo goes back to the image it unlabelled"
    assert len(library.model.labels) == 4
    window.redo_action.trigger()
    assert len(library.model.labels) == 5
    window.undo_action.trigger()
    window.undo_action.trigger()
    assert len(library.model.labels) == 3

    library.filter.setCurrentIndex(library.filter.findText("Unlabelled"))
    assert library.model.rowCount() == N_IMAGES - 3
    library.select_row(0)
    assert current_name(window) == "g003.png"
    qtbot.keyClick(library.grid, Qt.Key.Key_S)
    assert current_name(window) == "g004.png", "S skips without labelling"
    qtbot.keyClick(library.grid, Qt.Key.Key_1)
    assert current_name(window) == "g005.png"
    with Project.open(project_path) as reopened:
        assert len(reopened.labels(window.session.labeller)) == 4


def test_view_keys_zoom_invert_and_rotate(qtbot, window: MainWindow, project_path: Path) -> None:  # noqa: ANN001
    open_in(qtbot, window, project_path)
    library = window.library
    zoom = library.view.zoom
    qtbot.keyClick(library.grid, Qt.Key.Key_Plus)
    assert library.view.zoom > zoom
    qtbot.keyClick(library.grid, Qt.Key.Key_R)
    assert library.view.rotation == 90
    qtbot.keyClick(library.grid, Qt.Key.Key_I)
    assert library.controls.invert.isChecked()
    qtbot.waitUntil(lambda: library.user_settings is not None and library.user_settings.invert, timeout=5_000)
    qtbot.keyClick(library.grid, Qt.Key.Key_1)
    qtbot.waitUntil(
        lambda: current_name(window) == "g001.png" and library.cutout.source.endswith("g001.png"), timeout=5_000
    )
    assert library.controls.invert.isChecked(), "display settings persist from one galaxy to the next"


def test_a_label_that_fails_to_save_is_not_shown(
    qtbot, window: MainWindow, project_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    open_in(qtbot, window, project_path)
    library = window.library
    project = window.session.project

    def full_disk(*args: object, **kwargs: object) -> None:
        raise ProjectError(project_path, "database or disk is full")

    monkeypatch.setattr(project, "label", full_disk)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    qtbot.keyClick(library.grid, Qt.Key.Key_1)
    assert warnings and "disk is full" in warnings[0]
    assert library.model.labels == {}
    assert current_name(window) == "g000.png", "a failed label does not advance"
    assert "NOT saved" in window.statusBar().currentMessage()


def test_most_uncertain_first_and_enter_accepts_the_suggestion(qtbot, window: MainWindow, project_path: Path) -> None:  # noqa: ANN001
    from galaxy_studio.labels.store import Suggestion

    with Project.open(project_path) as project:
        ids = [record.id for record in project.images()]
        classes = project.classes
        project.store_suggestions(
            [
                Suggestion(ids[3], classes[2], "run", 0.4, 1.5),
                Suggestion(ids[7], classes[4], "run", 0.9, 0.2),
                Suggestion(ids[1], classes[1], "run", 0.5, 1.1),
            ]
        )
    open_in(qtbot, window, project_path)
    library = window.library
    assert library.order.isVisible()
    library.order.setCurrentIndex(1)
    order = [Path(item.path).name for item in library.catalog.items[:4]]
    assert order == ["g003.png", "g001.png", "g007.png", "g000.png"]
    assert current_name(window) == "g003.png"
    qtbot.waitUntil(lambda: "model suggests" in library.title.text(), timeout=10_000)
    qtbot.keyClick(library.grid, Qt.Key.Key_Return)
    assert current_name(window) == "g001.png", "accepting advances like a label key"
    with Project.open(project_path) as reopened:
        mine = reopened.labels(window.session.labeller)
        assert mine[ids[3]].class_name == classes[2] and mine[ids[3]].source == "human"
    qtbot.keyClick(library.grid, Qt.Key.Key_Backspace)
    with Project.open(project_path) as reopened:
        assert ids[3] not in reopened.labels(window.session.labeller), "accepting is undoable"


def test_adding_images_while_labelling_keeps_the_keys_in_the_status_line(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # noqa: ANN001
    """Seen: a new project's hint (which keys label) was replaced at once by "Added 180
    items" when its images arrived, leaving no word on how to label."""
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * i, dtype=np.uint8)).save(folder / f"n{i}.png")
    window.session.create(tmp_path / "spiral.gsproj", BUILTIN_SCHEMES["spiral"])
    window.set_labelling_mode(True)
    window.library.open_paths([folder])
    qtbot.waitUntil(lambda: "Added" in window.statusBar().currentMessage(), timeout=10_000)
    message = window.statusBar().currentMessage()
    assert message.startswith("Added 3 items · keys 1–2 label and advance"), message
