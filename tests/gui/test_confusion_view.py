"""The confusion matrix keeps every count in sight, however long the class names."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_studio.gui.widgets.confusion_view import CAPTION_SHARE, ConfusionView
from galaxy_studio.labels.session import LabellingSession


@pytest.mark.parametrize("count", [3, 10])
def test_long_class_names_give_way_to_the_counts(qtbot, count: int) -> None:  # noqa: ANN001
    classes = [f"Unbarred loose spiral with a long name {index}" for index in range(count)]
    session = LabellingSession()
    session.set_data_classes(classes)
    view = ConfusionView()
    qtbot.addWidget(view)
    view.resize(250, 290)
    view.show()
    qtbot.waitExposed(view)
    view.show_matrix(np.eye(count, dtype=int) * 7, classes, session.class_styles(classes))
    qtbot.wait(10)
    assert view.horizontalScrollBar().maximum() == 0, "every column of counts is in sight"
    assert view.verticalHeader().width() <= CAPTION_SHARE * view.width()
    assert view.verticalHeaderItem(0).toolTip() == f"true {classes[0]}"
