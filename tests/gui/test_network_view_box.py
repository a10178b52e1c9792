"""The outline of the network's view is drawn where the crop lies, through the view's zoom."""

from __future__ import annotations

import numpy as np

from galaxy_studio.gui.widgets.image_view import ImageView
from galaxy_studio.gui.widgets.network_view_box import NetworkViewBox


def test_the_outline_follows_the_crop_box_through_the_view(qtbot) -> None:  # noqa: ANN001
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(np.zeros((100, 100, 3), np.uint8))
    view.overlay = box = NetworkViewBox()
    plain = view.grab().toImage()
    box.box = (25, 25, 50)
    outlined = view.grab().toImage()
    # Fitted, 100 image pixels fill 400 widget pixels: the box runs from 100 to 300.
    changed = [
        (x, y)
        for y in range(0, view.height(), 2)
        for x in range(view.width())
        if outlined.pixelColor(x, y) != plain.pixelColor(x, y)
    ]
    xs, ys = [x for x, _ in changed], [y for _, y in changed]
    assert changed and abs(min(xs) - 100) <= 2 and abs(max(xs) - 300) <= 2
    assert abs(min(ys) - 100) <= 2 and abs(max(ys) - 300) <= 2
    box.box = None
    assert view.grab().toImage() == plain
