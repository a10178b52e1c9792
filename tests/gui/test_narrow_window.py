"""A window that fits a 1,366 px laptop screen: rows of viewer controls wrap instead of
widening every tab, and wrapped rows never overlap."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QWidget

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.widgets.display_controls import DisplayControls
from galaxy_studio.gui.widgets.flow_layout import FlowLayout

LAPTOP_WIDTH = 1366


def test_widgets_wrap_onto_new_rows_when_the_width_runs_out(qtbot) -> None:  # noqa: ANN001
    host = QWidget()
    qtbot.addWidget(host)
    flow = FlowLayout(host, gap=4)
    buttons = [QPushButton(f"button {i}") for i in range(6)]
    for button in buttons:
        flow.addWidget(button)
    one_row = flow.sizeHint()
    host.resize(one_row.width(), one_row.height())
    host.show()
    assert len({button.y() for button in buttons}) == 1, "wide enough: one row"
    narrow = max(button.sizeHint().width() for button in buttons) * 2 + 4
    host.resize(narrow, flow.heightForWidth(narrow))
    qtbot.waitUntil(lambda: len({button.y() for button in buttons}) == 3)
    assert flow.heightForWidth(narrow) >= 3 * buttons[0].sizeHint().height()
    assert flow.minimumSize().width() == max(button.minimumSizeHint().width() for button in buttons)
    buttons[0].hide()
    assert flow.sizeHint().width() < one_row.width(), "a hidden widget takes no room"


def test_the_window_fits_a_laptop_screen(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    assert window.minimumSizeHint().width() <= LAPTOP_WIDTH - 100
    for name in ("library", "train", "distill", "classify", "explore"):
        assert getattr(window, name).minimumSizeHint().width() <= LAPTOP_WIDTH - 100, name
    width = window.width()
    window.library.title.setText("<b>a_long_file_name.fits</b> · model suggests " + "Edge-on with Bulge " * 20)
    qtbot.wait(50)
    assert window.width() == width, "a long title wraps instead of widening the window"
    window.classify.review_button.show()  # shown once suggestions are stored
    assert window.classify.minimumSizeHint().width() <= LAPTOP_WIDTH - 100


def test_narrow_viewer_controls_ask_for_the_height_of_their_wrapped_rows(qtbot) -> None:  # noqa: ANN001
    controls = DisplayControls()
    qtbot.addWidget(controls)
    controls.resize(controls.sizeHint())
    controls.show()
    wide = controls.minimumHeight()
    controls.resize(controls.minimumSizeHint().width() + 20, wide)
    qtbot.waitUntil(lambda: controls.minimumHeight() > wide)
    visible = [child for child in controls.findChildren(QWidget) if child.isVisible() and child.parent() is controls]
    boxes = [child.geometry() for child in visible]
    assert all(not a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]), "no row overlaps another"
