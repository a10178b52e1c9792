"""The class-mapping dialog in the GUI: shown where outside names differ from the project's
classes (adding a folder, importing labels, suggesting or adding with a model), not where they
match; its answer is stored, counted and reported."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.widgets.class_mapping_dialog import SKIP_TEXT, ClassMappingDialog
from galaxy_studio.gui.widgets.stored_mappings_dialog import StoredMappingsDialog
from galaxy_studio.labels.class_mapping import SKIP
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES, ClassScheme
from galaxy_studio.labels.store import Project
from galaxy_studio.model.training import TrainResult

from .conftest import MappingDialogs


def class_folders(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(len(counts))
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for number in range(count):
            pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}{number:03d}.png")
    return root


def spiral_window(window: MainWindow, tmp_path: Path) -> Path:
    path = tmp_path / "p.gsproj"
    Project.create(path, BUILTIN_SCHEMES["spiral"]).close()
    assert window.open_project(path)
    return path


def labels_of(path: Path) -> Counter[str]:
    with Project.open(path) as project:
        return Counter(label.class_name for label in project.labels().values())


def add_and_wait(qtbot, window: MainWindow, folder: Path) -> None:  # noqa: ANN001
    window.library.open_paths([folder])
    qtbot.waitUntil(lambda: "Added" in window.statusBar().currentMessage(), timeout=20_000)


def test_adding_a_folder_whose_names_differ_asks_once_then_remembers(
    qtbot,
    window: MainWindow,
    tmp_path: Path,
    mapping_dialogs: MappingDialogs,  # noqa: ANN001
) -> None:
    path = spiral_window(window, tmp_path)
    add_and_wait(qtbot, window, class_folders(tmp_path / "a", {"spirals": 3, "non_spirals": 2}))
    (dialog,) = mapping_dialogs.shown
    assert dialog.names == ["non_spirals", "spirals"]
    assert [dialog.combos[name].currentText() for name in dialog.names] == ["non-spiral", "spiral"]
    assert dialog.table.item(0, 1).text() == "2" and "proposed" in dialog.table.item(0, 3).text()
    assert "5 labels taken (5 mapped" in dialog.summary.text()
    assert labels_of(path) == {"spiral": 3, "non-spiral": 2}
    message = window.statusBar().currentMessage()
    assert "Added 5 items; labels: 5 labels taken (5 mapped" in message and "0 unmapped, 0 skipped" in message
    with Project.open(path) as project:
        assert project.class_aliases() == {"non_spirals": "non-spiral", "spirals": "spiral"}
    window.statusBar().clearMessage()
    add_and_wait(qtbot, window, class_folders(tmp_path / "b", {"spirals": 1, "non_spirals": 1}))
    assert len(mapping_dialogs.shown) == 1, "a stored mapping asks no more"
    assert labels_of(path) == {"spiral": 4, "non-spiral": 3}


def test_a_folder_spelled_as_the_classes_shows_no_dialog(
    qtbot,
    window: MainWindow,
    tmp_path: Path,
    mapping_dialogs: MappingDialogs,  # noqa: ANN001
) -> None:
    path = spiral_window(window, tmp_path)
    add_and_wait(qtbot, window, class_folders(tmp_path / "a", {"spiral": 2, "non-spiral": 1}))
    assert mapping_dialogs.shown == []
    assert labels_of(path) == {"spiral": 2, "non-spiral": 1}


def test_skip_and_unmapped_are_counted_and_cancel_adds_nothing(
    qtbot,
    window: MainWindow,
    tmp_path: Path,
    mapping_dialogs: MappingDialogs,  # noqa: ANN001
) -> None:
    path = spiral_window(window, tmp_path)
    folder = class_folders(tmp_path / "a", {"spirals": 2, "artefacts": 3, "stars": 1})
    mapping_dialogs.answer = lambda dialog: False
    window.library.open_paths([folder])
    qtbot.waitUntil(lambda: "cancelled" in window.statusBar().currentMessage(), timeout=20_000)
    with Project.open(path) as project:
        assert project.image_count() == 0

    def skip_artefacts(dialog: ClassMappingDialog) -> bool:
        assert dialog.combos["stars"].currentText() == "— not mapped —"
        dialog.combos["artefacts"].setCurrentText(SKIP_TEXT)
        assert dialog.summary.text().endswith(
            "2 labels taken (2 mapped: spirals -> spiral), 1 unmapped (stars 1), 3 skipped (artefacts 3)"
        )
        return True

    mapping_dialogs.answer = skip_artefacts
    add_and_wait(qtbot, window, folder)
    assert "1 unmapped (stars 1), 3 skipped (artefacts 3)" in window.statusBar().currentMessage()
    with Project.open(path) as project:
        assert project.image_count() == 6
        assert project.class_aliases() == {"artefacts": SKIP, "spirals": "spiral"}
    assert labels_of(path) == {"spiral": 2}
    dialog = StoredMappingsDialog(window.session, window)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 2 and dialog.table.item(0, 1).text() == SKIP_TEXT
    dialog.table.selectRow(0)
    assert dialog.forget_selected() == 1 and dialog.table.rowCount() == 1
    with Project.open(path) as project:
        assert project.class_aliases() == {"spirals": "spiral"}


def test_import_labels_goes_through_the_dialog(
    qtbot,
    window: MainWindow,
    tmp_path: Path,
    mapping_dialogs: MappingDialogs,  # noqa: ANN001
) -> None:
    path = spiral_window(window, tmp_path)
    folder = class_folders(tmp_path / "imgs", {"x": 3})
    files = sorted((folder / "x").iterdir())
    table = tmp_path / "labels.csv"
    table.write_text("path,class\n" + "".join(f"{f},{c}\n" for f, c in zip(files, ["Spirals", "Spirals", "spiral"])))
    changed: list[tuple] = []
    window.session_signals.class_mapping_changed.connect(changed.append)
    assert window.label_import.import_file(table)
    qtbot.waitUntil(lambda: window.label_import.last_report is not None, timeout=20_000)
    (dialog,) = mapping_dialogs.shown
    assert dialog.names == ["Spirals"] and "spiral (1)" in dialog.exact.text()
    report = window.label_import.last_report
    assert report.labels == 3 and report.counts is not None and report.counts.mapped == 2
    assert "3 labels taken (2 mapped: Spirals -> spiral), 0 unmapped, 0 skipped" in window.statusBar().currentMessage()
    assert labels_of(path) == {"spiral": 3}
    assert changed == [(("Spirals", "spiral"),)]
    assert window.import_labels_action.isEnabled()


def test_new_project_offers_the_open_folder_names_as_the_classes(
    qtbot,
    window: MainWindow,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    folder = class_folders(tmp_path / "train", {"spirals": 2, "non_spirals": 2})
    window.library.open_paths([folder], replace=True)
    qtbot.waitUntil(lambda: len(window.library.catalog.items) == 4, timeout=20_000)
    offered: list[list[str]] = []

    def first_choice(parent, title, label, items, current, editable):  # noqa: ANN001, ANN202
        offered.append(list(items))
        return items[0], True

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "new.gsproj"), ""))
    monkeypatch.setattr(QInputDialog, "getItem", first_choice)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    window.new_project_dialog()
    assert offered[0][0] == "The folder names of the open data: non_spirals, spirals"
    project = window.session.require_project()
    assert project.classes == ["non_spirals", "spirals"] and project.scheme_name == "train"


def test_suggest_and_add_with_a_model_settle_its_names_in_the_dialog(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,
    mapping_dialogs: MappingDialogs,  # noqa: ANN001
) -> None:
    """The model says `Round Smooth`; the project spells `round_smooths` and calls the spiral
    class something no rule can guess. One dialog settles all three, once."""
    path = tmp_path / "p.gsproj"
    classes = ("round_smooths", "EDGE-ON WITHOUT BULGE", "twirly")
    with Project.create(path, ClassScheme("respelled", classes)) as project:
        project.add_paths([str(f) for f in sorted(demo_set.rglob("*.jpg"))[::10]])
    assert window.open_project(path)
    panel = window.classify
    window.tabs.setCurrentWidget(panel)
    panel.add_checkpoint(trained_run.checkpoint)

    def settle(dialog: ClassMappingDialog) -> bool:
        assert dialog.combos["Unbarred Loose Spiral"].currentText() == "— not mapped —"
        dialog.combos["Unbarred Loose Spiral"].setCurrentText("twirly")
        return True

    mapping_dialogs.answer = settle
    panel.suggest_for_project()
    qtbot.waitUntil(lambda: "Stored" in window.statusBar().currentMessage(), timeout=60_000)
    (dialog,) = mapping_dialogs.shown
    assert sorted(dialog.names) == ["Edge-on without Bulge", "Round Smooth", "Unbarred Loose Spiral"]
    assert "suggestions taken (" in window.statusBar().currentMessage()
    with Project.open(path) as project:
        suggested = {s.class_name for s in project.suggestions().values()}
        assert suggested and suggested <= set(classes)
        assert project.class_aliases()["Unbarred Loose Spiral"] == "twirly"
    jpeg = sorted(demo_set.rglob("*.jpg"))[1]
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=10_000)
    panel.classify_paths([str(jpeg)])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1 and not panel.jobs.running, timeout=60_000)
    panel.table.selectRow(0)
    spelled = dict(zip(("Round Smooth", "Edge-on without Bulge", "Unbarred Loose Spiral"), classes))
    assert panel.viewer.label_choice.currentText() == spelled[panel.predictions[0].predicted]
    panel.viewer.add_button.click()
    assert len(mapping_dialogs.shown) == 1, "the stored mapping settles Add to project without asking"
    with Project.open(path) as project:
        (label,) = project.labels_for_image(project.image_id(jpeg))
    assert label.class_name == spelled[panel.predictions[0].predicted]
    qtbot.waitUntil(lambda: not panel.explainer.running, timeout=60_000)


def test_a_read_only_project_is_asked_but_nothing_is_stored(
    qtbot,
    window: MainWindow,
    tmp_path: Path,
    mapping_dialogs: MappingDialogs,  # noqa: ANN001
) -> None:
    """Storing the answer in a read-only file would raise inside the dialog's caller."""
    import os

    from galaxy_studio.gui.widgets.class_mapping_dialog import confirm_class_mapping

    path = tmp_path / "p.gsproj"
    Project.create(path, BUILTIN_SCHEMES["spiral"]).close()
    os.chmod(path, 0o444)
    try:
        assert window.open_project(path)
        assert window.session.require_project().read_only
        choices = confirm_class_mapping(window, window.session, "set", {"spirals": 4, "spiral": 1})
        (dialog,) = mapping_dialogs.shown
        assert not dialog.remember.isEnabled() and not dialog.remember.isChecked()
        assert choices == {"spirals": "spiral"}
        assert window.session.require_project().class_aliases() == {}
        stored = StoredMappingsDialog(window.session, window)
        qtbot.addWidget(stored)
        assert not stored.forget_button.isEnabled()
    finally:
        window.session.close()
        os.chmod(path, 0o644)
