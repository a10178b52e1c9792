"""Classify panel: dropped cutouts get predictions and an explanation overlay; bad drops are
named and break nothing; a corrected label goes to the open project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.labels.schemes import ClassScheme
from galaxy_studio.labels.store import Project
from galaxy_studio.model.runs import runs_dir
from galaxy_studio.model.training import TrainResult


def drop(widget, paths: list[Path]) -> None:  # noqa: ANN001
    """What a file manager sends: a drag entering with file URLs, then the drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    centre = widget.rect().center()
    enter = QDragEnterEvent(
        centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    release = QDropEvent(
        QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, release)


@pytest.fixture(scope="module")
def fits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fits")
    write_demo_set(root, per_class=1, size=48, fmt="fits", seed=4)
    return sorted(root.rglob("*.fits"))[2]


def open_classify(qtbot, window: MainWindow, trained_run: TrainResult):  # noqa: ANN001, ANN201
    panel = window.classify
    window.tabs.setCurrentWidget(panel)
    panel.add_checkpoint(trained_run.checkpoint)
    return panel


def test_dropping_a_jpeg_and_a_fits_file_shows_probabilities_and_an_overlay(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    fits_file: Path,  # noqa: ANN001
) -> None:
    panel = open_classify(qtbot, window, trained_run)
    jpeg = sorted(demo_set.rglob("*.jpg"))[0]
    drop(panel.drop_zone, [jpeg, fits_file])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=60_000)
    assert {p.name for p in panel.predictions} == {jpeg.name, fits_file.name}
    for prediction in panel.predictions:
        assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert not panel.message.isVisible()
    for row in range(2):
        panel.table.selectRow(row)
        key = panel.selected_key()
        qtbot.waitUntil(
            lambda key=key: (
                panel.viewer.attribution is not None and panel._shown_key == key and not panel.explainer.running
            ),
            timeout=60_000,
        )
        shown = panel.viewer.view.image_rgb()
        assert shown is not None and shown.shape == panel.viewer.display_rgb.shape
        assert not np.array_equal(shown, panel.viewer.display_rgb), "the map is drawn over the image"
        assert panel.viewer.view_box.box is None, "this network reads the whole cutout: no outline"
        assert panel.viewer.bars.probabilities == pytest.approx(list(panel.predictions[key].probabilities))
    before = panel.viewer.view.image_rgb().copy()
    panel.viewer.opacity.setValue(0)
    assert np.array_equal(panel.viewer.view.image_rgb(), panel.viewer.display_rgb), "opacity 0 shows the plain image"
    panel.viewer.opacity.setValue(90)
    assert not np.array_equal(panel.viewer.view.image_rgb(), before)
    panel.viewer.method.setCurrentIndex(panel.viewer.method.findData("saliency"))
    qtbot.waitUntil(lambda: not panel.explainer.running, timeout=60_000)
    panel.table.sortItems(3, Qt.SortOrder.DescendingOrder)
    confidences = [
        panel.predictions[panel.table.item(r, 1).data(Qt.ItemDataRole.UserRole)].confidence for r in range(2)
    ]
    assert confidences == sorted(confidences, reverse=True)


def test_dropping_a_text_file_shows_a_message_and_nothing_breaks(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    panel = open_classify(qtbot, window, trained_run)
    notes = tmp_path / "notes.txt"
    notes.write_text("galaxies are nice")
    drop(panel.drop_zone, [notes])
    qtbot.waitUntil(lambda: panel.message.isVisible(), timeout=60_000)
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=60_000)
    assert "notes.txt" in panel.message.text() and "not a supported image" in panel.message.text()
    assert panel.table.rowCount() == 0
    drop(window, [sorted(demo_set.rglob("*.jpg"))[5]])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=60_000)
    assert window.tabs.currentWidget() is panel, "a drop on the Classify tab classifies"


def test_add_to_project_records_the_chosen_label(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    path = tmp_path / "p.gsproj"
    classes = ("Round Smooth", "Edge-on without Bulge", "Unbarred Loose Spiral")
    Project.create(path, ClassScheme("three", classes)).close()
    assert window.open_project(path)
    panel = open_classify(qtbot, window, trained_run)
    assert panel.suggest_button.isEnabled()
    jpeg = sorted(demo_set.rglob("*.jpg"))[0]
    panel.classify_paths([str(jpeg)])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1 and not panel.jobs.running, timeout=60_000)
    panel.table.selectRow(0)
    panel.viewer.label_choice.setCurrentText("Unbarred Loose Spiral")
    panel.viewer.add_button.click()
    with Project.open(path) as project:
        image_id = project.image_id(jpeg)
        assert image_id is not None
        (label,) = project.labels_for_image(image_id)
    assert label.class_name == "Unbarred Loose Spiral" and label.source == "human"
    qtbot.waitUntil(lambda: not panel.explainer.running, timeout=60_000)


def test_add_to_project_offers_the_projects_classes_in_its_own_spelling(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """Seen: a model trained on `spirals/` could not add to a project with `spiral`: the
    drop-down offered only the model's classes. It offers the project's, the prediction
    preselected in the project's spelling."""
    path = tmp_path / "p.gsproj"
    classes = ("round_smooths", "EDGE-ON WITHOUT BULGE", "Unbarred Loose Spirals")
    Project.create(path, ClassScheme("respelled", classes)).close()
    assert window.open_project(path)
    panel = open_classify(qtbot, window, trained_run)
    jpeg = sorted(demo_set.rglob("*.jpg"))[0]
    panel.classify_paths([str(jpeg)])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1 and not panel.jobs.running, timeout=60_000)
    panel.table.selectRow(0)
    assert [panel.viewer.label_choice.itemText(i) for i in range(panel.viewer.label_choice.count())] == list(classes)
    predicted = panel.predictions[0].predicted
    chosen = panel.viewer.label_choice.currentText()
    spelled = {"Round Smooth": classes[0], "Edge-on without Bulge": classes[1], "Unbarred Loose Spiral": classes[2]}
    assert chosen == spelled[predicted]
    panel.viewer.add_button.click()
    with Project.open(path) as project:
        (label,) = project.labels_for_image(project.image_id(jpeg))
    assert label.class_name == chosen
    qtbot.waitUntil(lambda: not panel.explainer.running, timeout=60_000)


def test_the_model_picker_shows_n_and_interval_and_ranks_by_its_lower_bound(window: MainWindow) -> None:
    # The seen case: a model right on 2 of 2 test images was offered above 75% on 1,400.
    for name, metrics in (
        ("20250101-000000-galaxy-cnn", {"accuracy": 0.75, "n": 1400}),
        ("20250102-000000-galaxy-cnn", {"accuracy": 1.0, "n": 2}),
    ):
        folder = runs_dir() / name
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"arch": "galaxy-cnn"}))
        (folder / "metrics.json").write_text(json.dumps(metrics))
        (folder / "model.pt").write_bytes(b"weights")
    panel = window.classify
    panel.refresh_models()
    picker = panel.model_combo
    assert [picker.itemText(i) for i in range(picker.count())] == [
        "75% (n=1,400, 95% CI 73–77%) · 20250101-000000-galaxy-cnn",
        "100% (n=2, 95% CI 34–100%) · 20250102-000000-galaxy-cnn",
    ]
    assert picker.itemData(1, Qt.ItemDataRole.ToolTipRole).startswith("100.0% (n=2, 95% CI 34.2–100.0%)")
    assert picker.currentIndex() == 0
    elsewhere = runs_dir().parent / "copied" / "fold_3" / "model.pt"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(b"weights")
    picker.add_checkpoint(elsewhere)
    assert picker.currentText() == "File: fold_3/model.pt", "a run's checkpoint is named by its folder"
    assert picker.itemData(picker.currentIndex(), Qt.ItemDataRole.ToolTipRole) == str(elsewhere)


def test_classifying_a_folder_offers_the_table_formats_and_writes_the_one_chosen(
    qtbot,  # noqa: ANN001
    window: MainWindow,
    trained_run: TrainResult,
    fits_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from astropy import units as u
    from astropy.table import Table
    from PySide6.QtWidgets import QFileDialog

    from galaxy_studio.data.formats import read_cutout

    panel = open_classify(qtbot, window, trained_run)
    offered: list[str] = []

    def save_name(parent: object, title: str, start: str, filters: str) -> tuple[str, str]:
        offered.extend(filters.split(";;"))
        return str(tmp_path / "predictions"), offered[2]

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(fits_file.parent))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    assert panel.batch_button.text() == "Classify folder to a table…"
    panel.batch_dialog()
    names = [name.split(" (")[0] for name in offered]
    assert names == ["CSV", "ECSV, astropy's CSV with units", "FITS table", "VOTable"]
    out = tmp_path / "predictions.fits"
    qtbot.waitUntil(lambda: out.exists() and not panel.jobs.running, timeout=60_000)
    table = Table.read(out, format="fits")
    assert table["ra"].unit == u.deg and table["path"].tolist() == [str(fits_file)]
    centre = read_cutout(fits_file).centre_icrs()
    assert centre is not None, "demo FITS files have a WCS"
    assert (table["ra"][0], table["dec"][0]) == pytest.approx(centre, abs=1e-5)


def test_asking_tta_of_a_network_that_takes_the_views_itself_says_it_is_skipped(
    qtbot,
    window: MainWindow,
    demo_set: Path,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    from galaxy_studio.model.training import train_classifier

    from ..conftest import tiny_config

    run = train_classifier(tiny_config(demo_set, tmp_path / "d4", arch="galaxy-cnn-d4", epochs=1))
    panel = window.classify
    window.tabs.setCurrentWidget(panel)
    panel.add_checkpoint(run.checkpoint)
    panel.tta.setChecked(True)
    said: list[str] = []
    panel.status.connect(said.append)
    panel.classify_paths([str(next(demo_set.rglob("*.jpg")))])
    qtbot.waitUntil(lambda: panel.table.rowCount() >= 1 and not panel.jobs.running, timeout=60_000)
    assert any("galaxy-cnn-d4" in text and "8 times slower: it is skipped" in text for text in said), said


def test_review_in_library_opens_the_projects_images_most_uncertain_first(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    from tests.conftest import DEMO_CLASSES

    path = tmp_path / "p.gsproj"
    with Project.create(path, ClassScheme("demo", DEMO_CLASSES)) as project:
        project.add_paths([str(f) for f in sorted(demo_set.rglob("*.jpg"))[::6]])
    assert window.open_project(path)
    panel = open_classify(qtbot, window, trained_run)
    assert panel.review_button.isHidden(), "nothing to review before suggestions are stored"
    panel.suggest_for_project()
    qtbot.waitUntil(lambda: "Stored" in window.statusBar().currentMessage() and not panel.jobs.running, timeout=60_000)
    assert not panel.review_button.isHidden()
    panel.review_button.click()
    library = window.library
    assert window.tabs.currentWidget() is library and library.order.currentIndex() == 1
    with Project.open(path) as project:
        suggestions = project.suggestions()
        most_uncertain = max(suggestions, key=lambda image_id: suggestions[image_id].entropy)
        first = Path(project.image(most_uncertain).path).name
    qtbot.waitUntil(lambda: library.selected_item() is not None, timeout=10_000)
    assert Path(library.selected_item().path).name == first
    qtbot.waitUntil(lambda: "model suggests" in library.title.text(), timeout=10_000)


def test_the_project_label_column_shows_each_cutouts_label_and_follows_changes(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """Classifying images the project holds shows their labels beside the predictions, ≠
    where they differ (those sort first), and follows labelling elsewhere; relabelling from
    here says what it replaced."""
    from galaxy_studio.gui.panels.classify_table import PROJECT_COLUMN
    from tests.conftest import DEMO_CLASSES

    jpegs = sorted(demo_set.rglob("*.jpg"))[::20][:4]
    path = tmp_path / "p.gsproj"
    with Project.create(path, ClassScheme("demo", DEMO_CLASSES)) as project:
        project.add_paths([str(jpeg) for jpeg in jpegs[:3]])
        project.label(project.image_id(jpegs[0]), DEMO_CLASSES[0], labeller=window.session.labeller)
    panel = open_classify(qtbot, window, trained_run)
    assert panel.table.isColumnHidden(PROJECT_COLUMN), "no project, no column"
    assert window.open_project(path)
    panel.classify_paths([str(jpeg) for jpeg in jpegs])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 4 and not panel.jobs.running, timeout=60_000)
    assert not panel.table.isColumnHidden(PROJECT_COLUMN)
    predicted = {Path(p.path): p.predicted for p in panel.predictions}

    def row_of(jpeg: Path) -> int:
        return next(r for r in range(4) if Path(panel.table.item(r, 1).toolTip()) == jpeg)

    def cell(jpeg: Path) -> str:
        return panel.table.item(row_of(jpeg), PROJECT_COLUMN).text()

    first_agrees = predicted[jpegs[0]] == DEMO_CLASSES[0]
    assert cell(jpegs[0]) == ("" if first_agrees else "≠ ") + DEMO_CLASSES[0]
    assert cell(jpegs[1]) == cell(jpegs[2]) == "unlabelled"
    assert cell(jpegs[3]) == "", "not in the project"
    said = window.statusBar().currentMessage()
    assert f"the model agrees with {int(first_agrees)} of the 1 label the project has for them" in said, said

    other = next(name for name in DEMO_CLASSES if name != predicted[jpegs[1]])
    with Project.open(path) as project:
        second = project.image_id(jpegs[1])
    window.session.label(second, other)
    qtbot.waitUntil(lambda: cell(jpegs[1]) == f"≠ {other}", timeout=5_000)
    panel.table.sortItems(PROJECT_COLUMN, Qt.SortOrder.AscendingOrder)
    assert panel.table.item(0, PROJECT_COLUMN).text().startswith("≠"), "disagreements sort first"
    assert panel.table.item(3, PROJECT_COLUMN).text() == "", "cutouts the project lacks sort last"

    panel.table.selectRow(row_of(jpegs[1]))
    panel.viewer.label_choice.setCurrentText(predicted[jpegs[1]])
    panel.viewer.add_button.click()
    said = window.statusBar().currentMessage()
    assert f"Relabelled {jpegs[1].name} in p.gsproj: {other} → {predicted[jpegs[1]]}" in said, said
    qtbot.waitUntil(lambda: cell(jpegs[1]) == predicted[jpegs[1]], timeout=5_000)
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: cell(jpegs[1]) == f"≠ {other}", timeout=5_000)
    window.close_project()
    assert panel.table.isColumnHidden(PROJECT_COLUMN)
    qtbot.waitUntil(lambda: not panel.explainer.running, timeout=60_000)


def test_the_cutout_column_takes_the_spare_room_but_keeps_a_readable_width(qtbot) -> None:  # noqa: ANN001
    """Seen: with the project column shown, a narrow panel squeezed the names to "10…pg"."""
    from galaxy_studio.gui.panels.classify_table import NAME_COLUMN, PredictionTable
    from galaxy_studio.labels.session import LabellingSession

    table = PredictionTable(LabellingSession(labeller="tester"))
    qtbot.addWidget(table)
    table.show_project_column(True)
    table.resize(1200, 300)
    table.show()
    qtbot.waitExposed(table)

    def others() -> int:
        return sum(table.columnWidth(column) for column in range(table.columnCount()) if column != NAME_COLUMN)

    qtbot.waitUntil(lambda: table.columnWidth(NAME_COLUMN) == table.viewport().width() - others(), timeout=2_000)
    assert table.columnWidth(NAME_COLUMN) > 300
    table.resize(300, 300)
    qtbot.waitUntil(lambda: table.columnWidth(NAME_COLUMN) == 84, timeout=2_000)
    assert table.horizontalScrollBar().maximum() > 0, "too narrow: the table scrolls sideways"
