"""An unticked check box can be seen on the dark theme (Fusion alone drew it near black on
near black)."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QApplication, QCheckBox, QRadioButton, QStyle, QStyleOptionButton
from pytestqt.qtbot import QtBot


def indicator_contrast(qtbot: QtBot, button: QCheckBox | QRadioButton) -> float:
    """Brightest minus darkest grey level inside the indicator of an unticked button."""
    qtbot.addWidget(button)
    button.resize(button.sizeHint())
    image = button.grab().toImage()
    option = QStyleOptionButton()
    button.initStyleOption(option)
    element = (
        QStyle.SubElement.SE_CheckBoxIndicator
        if isinstance(button, QCheckBox)
        else QStyle.SubElement.SE_RadioButtonIndicator
    )
    rect = button.style().subElementRect(element, option, button)
    ratio = image.width() / button.width()
    levels = [
        image.pixelColor(int(x * ratio), int(y * ratio)).lightness()
        for x in range(rect.left(), rect.right() + 1)
        for y in range(rect.top(), rect.bottom() + 1)
    ]
    return float(np.max(levels) - np.min(levels))


def test_unticked_indicators_stand_out_from_the_dark_window(qtbot: QtBot, qapp: QApplication) -> None:
    assert indicator_contrast(qtbot, QCheckBox("Show advanced settings")) >= 60
    assert indicator_contrast(qtbot, QRadioButton("Lasso")) >= 60
