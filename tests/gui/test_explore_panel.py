"""Explore panel: the map of the demo set, a lasso drawn with the mouse labelling the
selected images in the project (and Ctrl+Z taking one back), neighbours of a clicked dot,
clusters scored against the baseline, cancel, and the empty state."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from galaxy_studio.data.catalog import scan_folder
from galaxy_studio.explore.clustering import ClusterScore
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.panels.explore_panel import ExplorePanel
from galaxy_studio.gui.samp_shown_tables import embedding_map_table
from galaxy_studio.gui.widgets.cluster_report import ClusterReport, describe_score
from galaxy_studio.labels.schemes import ClassScheme
from galaxy_studio.labels.store import Project
from galaxy_studio.model.training import TrainResult

# The session's demo set (tests/conftest.py): three classes of 30 galaxies, a folder each.
N_PER_CLASS = 30
N_IMAGES = 3 * N_PER_CLASS


@pytest.fixture
def classes(demo_set: Path) -> tuple[str, ...]:
    return tuple(scan_folder(demo_set).classes)


@pytest.fixture
def unlabelled_project(demo_set: Path, classes: tuple[str, ...], tmp_path: Path) -> Path:
    """The demo galaxies in a project, none of them labelled yet."""
    path = tmp_path / "explore.gsproj"
    with Project.create(path, ClassScheme("three", classes)) as project:
        project.add_items(dataclasses.replace(item, label=None) for item in scan_folder(demo_set).items)
    return path


def tiny_autoencoder(panel: ExplorePanel, data: Path, *, epochs: int = 2) -> None:
    panel.data_edit.setText(str(data))
    panel.source.kind.setCurrentIndex(panel.source.kind.findData("autoencoder"))
    panel.source.size.setValue(32)
    panel.source.ae_epochs.setValue(epochs)
    panel.source.ae_latent.setValue(8)
    panel.source.device.setCurrentText("cpu")


def compute_map(qtbot, panel: ExplorePanel) -> None:  # noqa: ANN001
    panel.compute_button.click()
    qtbot.waitUntil(lambda: panel.embeddings is not None and not panel.jobs.running, timeout=120_000)


def open_explore(window: MainWindow, project_path: Path) -> ExplorePanel:
    window.open_project(project_path)
    window.tabs.setCurrentWidget(window.explore)
    return window.explore


def send_mouse(
    panel: ExplorePanel,
    kind: QEvent.Type,
    position: QPoint,
    buttons: Qt.MouseButton,
    button: Qt.MouseButton,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    viewport = panel.map_area.map.viewport()
    event = QMouseEvent(kind, QPointF(position), QPointF(viewport.mapToGlobal(position)), button, buttons, modifiers)
    QApplication.sendEvent(viewport, event)


def widget_point(panel: ExplorePanel, x: float, y: float) -> QPoint:
    dots = panel.map_area.map
    return dots.mapFromScene(dots.view_box.mapViewToScene(QPointF(x, y)))


def drag_lasso(qtbot, panel: ExplorePanel, corners: list[tuple[float, float]]) -> None:  # noqa: ANN001
    """What a user does: Shift held, press, move through the corners, release."""
    shift, left, none = Qt.KeyboardModifier.ShiftModifier, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    points = [widget_point(panel, x, y) for x, y in corners]
    send_mouse(panel, QEvent.Type.MouseButtonPress, points[0], left, left, shift)
    for point in points[1:] + [points[0]]:
        time.sleep(0.02)  # pyqtgraph drops moves closer together than its mouse rate limit
        send_mouse(panel, QEvent.Type.MouseMove, point, left, none, shift)
    send_mouse(panel, QEvent.Type.MouseButtonRelease, points[0], none, left, shift)


def click_dot(panel: ExplorePanel, row: int) -> None:
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    dots = panel.map_area.map
    point = dots.mapFromScene(dots.view_position(row))
    send_mouse(panel, QEvent.Type.MouseButtonPress, point, left, left)
    send_mouse(panel, QEvent.Type.MouseButtonRelease, point, none, left)


def test_empty_state_says_what_to_do(window: MainWindow) -> None:
    panel = window.explore
    window.tabs.setCurrentWidget(panel)
    assert panel.map_area.stack.currentWidget() is panel.map_area.empty
    assert "Open a project" in panel.map_area.empty.text()
    assert not panel.compute_button.isEnabled()
    assert "Choose the data" in panel.compute_button.toolTip()
    assert not panel.map_area.label_button.isEnabled() and not panel.clusters_box.cluster_button.isEnabled()


def test_lasso_labels_the_selected_images_in_the_project_and_ctrl_z_takes_one_back(
    qtbot,
    window: MainWindow,
    unlabelled_project: Path,
    classes: tuple[str, ...],  # noqa: ANN001
    one_torch_thread: None,
) -> None:
    panel = open_explore(window, unlabelled_project)
    assert panel.data_edit.text() == str(unlabelled_project), "the open project is offered as the data"
    tiny_autoencoder(panel, unlabelled_project)
    compute_map(qtbot, panel)
    assert panel.map_area.stack.currentWidget() is not panel.map_area.empty and panel.map_area.map.isVisible()
    assert len(panel.map_area.map.xy) == N_IMAGES and len(panel.map_area.map.dots.data) == N_IMAGES
    assert np.all(panel.labels == -1)
    qtbot.wait(50)

    xy = panel.map_area.map.xy
    x0, x1 = np.quantile(xy[:, 0], [0.2, 0.7])
    y0, y1 = np.quantile(xy[:, 1], [0.1, 0.8])
    drag_lasso(qtbot, panel, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    # The mouse moves in whole pixels: dots within 2 px of the rectangle's edge may fall either side.
    dx, dy = 2 * np.array(panel.map_area.map.view_box.viewPixelSize())

    def in_box(margin_x: float, margin_y: float) -> np.ndarray:
        return (
            (xy[:, 0] > x0 + margin_x)
            & (xy[:, 0] < x1 - margin_x)
            & (xy[:, 1] > y0 + margin_y)
            & (xy[:, 1] < y1 - margin_y)
        )

    selected = panel.map_area.map.selected
    assert 5 < int(in_box(dx, dy).sum()) and np.all(selected[in_box(dx, dy)])
    assert not np.any(selected[~in_box(-dx, -dy)])
    inside = panel.map_area.map.selected_indices()
    assert panel.map_area.selection_label.text() == f"{len(inside)} selected"

    panel.map_area.map.setFocus()
    qtbot.keyClick(panel.map_area.map, "2")  # class 2 of the project, as in the Library
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30_000)
    assert np.all(panel.labels[inside] == 1), "the labelled dots are recoloured at once"
    assert np.all(np.delete(panel.labels, inside) == -1)
    with Project.open(unlabelled_project) as project:
        labelled = {
            record.item().name: label.class_name
            for record in project.images()
            for image_id, label in project.labels(None).items()
            if image_id == record.id
        }
    names = {panel.embeddings.items[row].name for row in inside}
    assert labelled == {name: classes[1] for name in names}
    assert len(window.library.model.labels) == len(inside), "the Library shows the new labels"

    window.undo_action.trigger()  # Edit → Undo Label (Ctrl+Z)
    assert int(np.sum(panel.labels == 1)) == len(inside) - 1
    panel.map_area.undo_button.click()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30_000)
    assert np.all(panel.labels == -1)
    with Project.open(unlabelled_project) as project:
        assert project.labels(None) == {}

    window.tabs.setCurrentWidget(window.library)  # a label from the Library reaches the map when it is shown
    window.library.select_row(0)
    name = window.library.selected_item().name
    window.library.labelling.assign(classes[2])
    window.tabs.setCurrentWidget(panel)
    row = [item.name for item in panel.embeddings.items].index(name)
    assert panel.labels[row] == 2 and int(np.sum(panel.labels >= 0)) == 1


def test_undo_batch_takes_back_the_batch_and_only_the_batch(
    qtbot,
    window: MainWindow,
    unlabelled_project: Path,
    classes: tuple[str, ...],  # noqa: ANN001
    one_torch_thread: None,
) -> None:
    """The defect of issue 16: Undo batch used to undo the labeller's latest labels, so a label
    given in the Library after the batch was lost and one batch label stayed."""
    panel = open_explore(window, unlabelled_project)
    tiny_autoencoder(panel, unlabelled_project)
    compute_map(qtbot, panel)
    batch_rows = [3, 10, 20]
    panel.map_area.map.select_indices(batch_rows)
    panel.map_area.class_choice.setCurrentIndex(0)
    panel.label_selection()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30_000)
    assert panel.map_area.undo_button.isEnabled()
    batch_names = {panel.embeddings.items[row].name for row in batch_rows}

    window.tabs.setCurrentWidget(window.library)
    library = window.library
    row = next(r for r in range(library.model.rowCount()) if library.model.item_at(r).name not in batch_names)
    library.select_row(row)
    fourth = library.selected_item().name
    library.labelling.assign(classes[1])

    window.tabs.setCurrentWidget(panel)
    panel.map_area.undo_button.click()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30_000)
    with Project.open(unlabelled_project) as project:
        names = {record.id: record.name for record in project.images()}
        labelled = {names[image_id]: label.class_name for image_id, label in project.labels(None).items()}
    assert labelled == {fourth: classes[1]}, "the three batch labels are gone, the fourth keeps its label"
    assert not panel.map_area.undo_button.isEnabled()
    fourth_row = [item.name for item in panel.embeddings.items].index(fourth)
    assert panel.labels[fourth_row] == 1 and int(np.sum(panel.labels >= 0)) == 1
    assert set(library.model.labels.values()) == {classes[1]} and len(library.model.labels) == 1


def test_clicking_a_dot_shows_the_cutout_and_its_true_nearest_neighbours(
    qtbot,
    window: MainWindow,
    unlabelled_project: Path,
    one_torch_thread: None,  # noqa: ANN001
) -> None:
    panel = open_explore(window, unlabelled_project)
    tiny_autoencoder(panel, unlabelled_project)
    compute_map(qtbot, panel)
    qtbot.wait(50)
    row = 17
    click_dot(panel, row)
    assert panel.current == row and panel.map_area.map.current == row
    vectors = panel.embeddings.vectors.astype(np.float64)
    vectors -= vectors.mean(axis=0)  # the index compares directions about the mean (explore.similarity)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit[row]
    similarity[row] = -np.inf
    expected = np.argsort(-similarity)[: len(panel.viewer.strip.indices)]
    assert len(panel.viewer.strip.indices) == 12
    assert panel.viewer.strip.indices == expected.tolist()
    assert panel.viewer.strip.similarities == pytest.approx(similarity[expected].tolist(), abs=1e-4)
    qtbot.waitUntil(lambda: panel.viewer.view.has_image(), timeout=10_000)
    assert panel.embeddings.items[row].name in panel.viewer.title.text()
    qtbot.waitUntil(lambda: all(not tile.icon().isNull() for tile in panel.viewer.strip.tiles), timeout=10_000)

    hovered = panel.viewer.strip.indices[0]
    time.sleep(0.02)
    send_mouse(
        panel,
        QEvent.Type.MouseMove,
        panel.map_area.map.mapFromScene(panel.map_area.map.view_position(hovered)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
    )
    assert panel.map_area.map.hovered_index == hovered
    assert panel.map_area.map.hover_text.isVisible()
    assert panel.map_area.map.hover_text.textItem.toPlainText() == panel.embeddings.items[hovered].name

    neighbour = panel.viewer.strip.indices[3]
    panel.viewer.strip.tiles[3].click()
    assert panel.current == neighbour, "clicking a neighbour jumps to it"


def test_clusters_are_scored_beside_the_majority_baseline_and_a_cluster_can_be_labelled(
    qtbot,
    window: MainWindow,
    demo_set: Path,
    classes: tuple[str, ...],
    tmp_path: Path,  # noqa: ANN001
    one_torch_thread: None,
) -> None:
    project_path = tmp_path / "labels.gsproj"
    Project.create(project_path, ClassScheme("three", classes)).close()
    panel = open_explore(window, project_path)
    tiny_autoencoder(panel, demo_set)  # the folder's class names are its labels
    compute_map(qtbot, panel)
    assert sorted(np.bincount(panel.labels).tolist()) == [N_PER_CLASS] * 3
    panel.clusters_box.k.setValue(3)
    panel.clusters_box.cluster_button.click()
    qtbot.waitUntil(lambda: panel.clusters_box.clusters is not None and not panel.jobs.running, timeout=60_000)
    _, sent, _ = embedding_map_table(panel)
    assert list(sent["cluster"]) == list(panel.clusters_box.clusters), "SAMP sends the map with its clusters"
    assert panel.map_area.colour_by.currentText() == "Cluster"
    assert panel.clusters_box.report.isVisible() and panel.clusters_box.report.table.rowCount() == 1
    cells = panel.clusters_box.report.cells(0)
    assert cells[1] == "3" and cells[3] == "33.3%" and cells[6] == str(N_IMAGES)
    accuracy = float(cells[2].rstrip("%")) / 100
    assert ("No better than guessing" in panel.clusters_box.report.verdict.text()) == (accuracy <= 1 / 3 + 0.02)

    panel.clusters_box.pick.setCurrentIndex(0)
    rows = panel.clusters_box.rows()
    panel.clusters_box.class_choice.setCurrentIndex(2)
    panel.clusters_box.label_button.click()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30_000)
    with Project.open(project_path) as project:
        labels = project.labels(None)
        assert (
            len(labels)
            == len(rows)
            == int(np.sum(panel.clusters_box.clusters == panel.clusters_box.pick.currentData()))
        )
        assert {label.class_name for label in labels.values()} == {classes[2]}
        assert {project.image(i).name for i in labels} == {panel.embeddings.items[r].name for r in rows}


def test_cancel_stops_the_computation_and_keeps_the_empty_map(
    qtbot,
    window: MainWindow,
    unlabelled_project: Path,
    one_torch_thread: None,  # noqa: ANN001
) -> None:
    panel = open_explore(window, unlabelled_project)
    tiny_autoencoder(panel, unlabelled_project, epochs=500)
    panel.compute_button.click()
    assert panel.job_progress.cancel_button.isVisible()
    computing = panel.map_area.empty.text()
    assert "nothing to explore" not in computing.lower() and "press <b>compute</b>" not in computing.lower()
    assert f"Embedding {unlabelled_project.name}…" in computing
    qtbot.waitUntil(lambda: panel.job_progress.bar.maximum() > 0, timeout=60_000)
    qtbot.waitUntil(lambda: re.search(r"\d+/\d+ · ", panel.map_area.empty.text()) is not None, timeout=10_000)
    panel.job_progress.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=30_000)
    assert panel.embeddings is None
    assert panel.map_area.stack.currentWidget() is panel.map_area.empty
    assert "Cancelled" in panel.map_area.empty.text() and f"map its {N_IMAGES} cutouts" in panel.map_area.empty.text()
    assert f"Embedding {unlabelled_project.name}" not in panel.map_area.empty.text()
    assert panel.compute_button.isEnabled()


def test_the_empty_map_counts_the_images_the_project_has_now(
    qtbot, window: MainWindow, demo_set: Path, classes: tuple[str, ...], tmp_path: Path
) -> None:  # noqa: ANN001
    """Seen: "map its 0 cutouts" with a 1,400-image project open. The count was read when the
    project was opened, and images added to it later (the Library adds them through another
    connection, then tells the session) never reached the text."""
    project_path = tmp_path / "growing.gsproj"
    Project.create(project_path, ClassScheme("three", classes)).close()
    panel = open_explore(window, project_path)
    empty = panel.map_area.empty
    assert "no images yet" in empty.text() and "map its" not in empty.text()

    items = scan_folder(demo_set).items
    with Project.open(project_path) as writer:
        writer.add_items(items[:N_PER_CLASS])
    window.session.changed_outside()
    assert f"map its {N_PER_CLASS} cutouts" in empty.text(), empty.text()

    window.tabs.setCurrentWidget(window.library)
    with Project.open(project_path) as writer:
        writer.add_items(items)
    window.session.changed_outside()
    window.tabs.setCurrentWidget(panel)
    assert f"map its {N_IMAGES} cutouts" in empty.text(), "a hidden panel re-reads the count when shown"

    panel.data_edit.setText(str(demo_set))
    assert "map its" not in empty.text() and demo_set.name in empty.text(), "the data chosen is named"


def test_a_trained_classifier_embeds_and_the_map_switches_to_tsne(
    qtbot,
    window: MainWindow,
    demo_set: Path,
    trained_run: TrainResult,
    one_torch_thread: None,  # noqa: ANN001
) -> None:
    panel = window.explore
    window.tabs.setCurrentWidget(panel)
    panel.add_checkpoint(trained_run.checkpoint)
    assert panel.source.kind.currentData() == "model"
    panel.data_edit.setText(str(demo_set))
    panel.source.device.setCurrentText("cpu")
    compute_map(qtbot, panel)
    assert panel.embeddings.source.startswith("model")
    assert len(panel.map_area.map.xy) == N_IMAGES
    pca = panel.map_area.map.xy.copy()
    panel.map_area.projection.setCurrentIndex(panel.map_area.projection.findData("tsne"))
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=60_000)
    assert len(panel.map_area.map.xy) == N_IMAGES and not np.allclose(panel.map_area.map.xy, pca)
    assert sorted(np.bincount(panel.labels).tolist()) == [N_PER_CLASS] * 3, "a projection keeps the labels"


def test_a_weights_file_that_is_not_there_is_named_and_nothing_breaks(
    qtbot,
    window: MainWindow,
    demo_set: Path,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    panel = window.explore
    window.tabs.setCurrentWidget(panel)
    panel.data_edit.setText(str(demo_set))
    panel.source.kind.setCurrentIndex(panel.source.kind.findData("backbone"))
    assert not panel.compute_button.isEnabled() and "weights" in panel.compute_button.toolTip()
    missing = tmp_path / "resnet18.pth"
    panel.source.weights_edit.setText(str(missing))
    panel.compute_button.click()
    qtbot.waitUntil(lambda: not panel.jobs.running, timeout=60_000)
    assert panel.embeddings is None
    assert f"Failed: {missing}: weights file not found" in panel.map_area.empty.text()
    assert "Error" not in panel.map_area.empty.text() and "Traceback" not in panel.map_area.empty.text()


def test_the_verdict_calls_an_accuracy_at_the_baseline_no_better_than_guessing(qtbot) -> None:  # noqa: ANN001
    """The seed paper's Galaxy10 figures: 16% against a 14.9% baseline is no skill; 60% is."""
    near = ClusterScore(accuracy=0.16, ari=0.01, nmi=0.02, majority_baseline=0.149, n_labelled=17736, mapping={})
    far = dataclasses.replace(near, accuracy=0.60)
    assert "No better than guessing" in describe_score(near) and "14.9%" in describe_score(near)
    assert "No better" not in describe_score(far) and "45.1 points above" in describe_score(far)
    report = ClusterReport()
    qtbot.addWidget(report)
    assert report.isHidden()
    report.add_run("autoencoder · k-means", 10, near)
    report.add_run("autoencoder · spectral", 10, None)
    assert not report.isHidden() and report.table.rowCount() == 2
    assert report.cells(0)[2] == "–" and "No labels yet" in report.verdict.text()
    assert report.cells(1)[2:4] == ["16.0%", "14.9%"]
