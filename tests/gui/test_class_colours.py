"""One class, one colour and key on every screen (#17 §1): the Library's legend, Train's
confusion matrix, Classify's bars and table, and Explore's legend and Label-as choices draw
a class alike, though the model lists the classes in another order and spelling."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.labels.schemes import ClassScheme, class_colour
from galaxy_studio.labels.store import Project
from galaxy_studio.model.training import TrainResult

# The demo model's classes ("Round Smooth", "Edge-on without Bulge", "Unbarred Loose
# Spiral") spelled otherwise and in another order, as a project made by hand might have them.
PROJECT_CLASSES = ("Unbarred Loose Spirals", "round_smooths", "EDGE-ON WITHOUT BULGE")


def rgb(colour: QColor) -> tuple[int, int, int]:
    return colour.red(), colour.green(), colour.blue()


def make_project(tmp_path: Path) -> Path:
    path = tmp_path / "colours.gsproj"
    Project.create(path, ClassScheme("respelled", PROJECT_CLASSES)).close()
    return path


def test_a_class_has_one_colour_in_every_panel(
    qtbot,
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,
    one_torch_thread: None,  # noqa: ANN001
) -> None:
    """Seen: each panel coloured by its own order (the legend by the project's, Explore by
    the data's, the bars orange and blue, the matrix not at all), so `spiral` was orange in
    one panel and blue in the next."""
    assert window.open_project(make_project(tmp_path))
    session = window.session
    model_classes = list(trained_run.metrics["classes"])
    expected = {name: session.class_style(name) for name in model_classes}
    assert {style.name for style in expected.values()} == set(PROJECT_CLASSES)
    for style in expected.values():
        position = PROJECT_CLASSES.index(style.name)
        assert (style.colour, style.key) == (class_colour(position), str(position + 1))
        assert rgb(window.library.legend.colour_of(style.name)) == style.colour

    window.train.results.show_confusion(trained_run.metrics)
    assert [rgb(colour) for colour in window.train.results.confusion.header_colours] == [
        expected[name].colour for name in model_classes
    ]
    row_captions = [window.train.results.confusion.verticalHeaderItem(row).text() for row in range(len(model_classes))]
    assert row_captions == [expected[name].caption for name in model_classes]

    classify = window.classify
    window.tabs.setCurrentWidget(classify)
    classify.add_checkpoint(trained_run.checkpoint)
    classify.classify_paths([str(sorted(demo_set.rglob("*.jpg"))[0])])
    qtbot.waitUntil(lambda: classify.table.rowCount() == 1 and not classify.jobs.running, timeout=60_000)
    classify.table.selectRow(0)
    assert [style.colour for style in classify.viewer.bars.styles] == [expected[name].colour for name in model_classes]
    predicted = classify.table.item(0, 2)
    dot = predicted.icon().pixmap(12, 12).toImage().pixelColor(6, 6)
    assert rgb(dot) == expected[predicted.text()].colour
    qtbot.waitUntil(lambda: not classify.explainer.running, timeout=60_000)

    explore = window.explore
    window.tabs.setCurrentWidget(explore)
    explore.add_checkpoint(trained_run.checkpoint)
    explore.data_edit.setText(str(demo_set))
    explore.source.device.setCurrentText("cpu")
    explore.compute_button.click()
    qtbot.waitUntil(lambda: explore.embeddings is not None and not explore.jobs.running, timeout=120_000)
    legend = {caption: colour for caption, _, colour in explore.map_area.legend_entries}
    assert legend == {style.caption: style.colour for style in expected.values()}
    choices = [explore.map_area.class_choice.itemText(i) for i in range(explore.map_area.class_choice.count())]
    assert choices == [f"{position + 1}: {name}" for position, name in enumerate(PROJECT_CLASSES)]


def test_the_confusion_matrix_takes_the_colours_of_a_project_opened_after_it(
    window: MainWindow, trained_run: TrainResult, tmp_path: Path
) -> None:
    """Seen: the matrix kept the colours it was drawn with until the tab was shown again."""
    model_classes = list(trained_run.metrics["classes"])
    window.train.results.show_confusion(trained_run.metrics)
    before = [rgb(colour) for colour in window.train.results.confusion.header_colours]
    assert window.open_project(make_project(tmp_path))
    after = [rgb(colour) for colour in window.train.results.confusion.header_colours]
    wanted = [class_colour(PROJECT_CLASSES.index(window.session.class_style(n).name)) for n in model_classes]
    assert after == wanted != before
    window.session.reorder_classes(list(reversed(PROJECT_CLASSES)))
    reordered = [rgb(colour) for colour in window.train.results.confusion.header_colours]
    assert reordered == [
        class_colour(len(PROJECT_CLASSES) - 1 - PROJECT_CLASSES.index(window.session.class_style(n).name))
        for n in model_classes
    ]


def test_explore_labels_with_the_librarys_keys_zero_included(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    """Seen: Explore numbered its Label-as choices 1-9 and had no key for a tenth class,
    which the Library labels with 0."""
    path = tmp_path / "ten.gsproj"
    classes = tuple(f"class {n}" for n in range(1, 11))
    Project.create(path, ClassScheme("ten", classes)).close()
    assert window.open_project(path)
    explore = window.explore
    window.tabs.setCurrentWidget(explore)
    choices = [explore.map_area.class_choice.itemText(i) for i in range(explore.map_area.class_choice.count())]
    assert choices[8:] == ["9: class 9", "0: class 10"]
    explore.map_area.map.setFocus()
    qtbot.keyClick(explore.map_area.map, "0")
    assert explore.map_area.class_choice.currentData() == "class 10"
