"""Colour maps for single-band images, as DS9 offers them (grey, heat, cool, viridis...).

A colour map turns a stretched value in [0, 1] into an RGB colour. The tables come
from matplotlib, imported only when a colour other than grey is first asked for, so
opening the app or rendering grey thumbnails never pays for the import.
"""

from __future__ import annotations

from functools import cache

import numpy as np

GREY = "grey"
# Menu name -> matplotlib name. DS9's "heat" and "cool" are matplotlib's hot and cool.
_MATPLOTLIB_NAMES: dict[str, str] = {
    "viridis": "viridis",
    "inferno": "inferno",
    "magma": "magma",
    "plasma": "plasma",
    "cubehelix": "cubehelix",
    "heat": "hot",
    "cool": "cool",
    "rainbow": "rainbow",
    "gist_heat": "gist_heat",
}
COLORMAPS: tuple[str, ...] = (GREY, *_MATPLOTLIB_NAMES)


@cache
def colormap_table(name: str) -> np.ndarray:
    """(256, 3) uint8 colours of `name`, from value 0 (first row) to 1 (last row)."""
    if name == GREY:
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], axis=-1)
    if name not in _MATPLOTLIB_NAMES:
        raise ValueError(f"unknown colour map {name!r}; choose from {', '.join(COLORMAPS)}")
    from matplotlib import colormaps

    rgba = colormaps[_MATPLOTLIB_NAMES[name]](np.linspace(0.0, 1.0, 256))
    table = np.round(rgba[:, :3] * 255.0).astype(np.uint8)
    table.setflags(write=False)
    return table


def apply_colormap(unit: np.ndarray, name: str) -> np.ndarray:
    """(H, W, 3) uint8 colours for (H, W) values in [0, 1] (clipped; NaN counts as 0)."""
    index = np.round(np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0) * 255.0).astype(np.intp)
    return colormap_table(name)[index]
