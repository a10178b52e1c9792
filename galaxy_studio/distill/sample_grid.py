"""Pictures of flat samples: the uint8 form that events carry and the PNG grids a run leaves behind."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from galaxy_studio.atomic_files import write_atomically

# Grid cells are enlarged to at least this many pixels so that 28 px digits are legible in a viewer.
_MIN_CELL = 56
_GAP = 2


def samples_to_uint8_nhwc(samples: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 pictures of flat [0, 1] samples of `shape` (C, H, W); grey is repeated
    into three channels because every picture consumer of the app expects RGB."""
    images = np.clip(samples.reshape(len(samples), *shape), 0.0, 1.0)
    pictures = np.rint(images.transpose(0, 2, 3, 1) * 255.0).astype(np.uint8)
    return np.repeat(pictures, 3, axis=-1) if shape[0] == 1 else pictures


def grid_image(pictures: np.ndarray, columns: int = 10) -> np.ndarray:
    """(N, H, W, 3) pictures tiled row by row on a mid-grey background with thin gaps, each
    enlarged by an integer factor (nearest neighbour, so pixels stay honest)."""
    n, height, width, _ = pictures.shape
    scale = max(1, math.ceil(_MIN_CELL / max(height, width)))
    cell_h, cell_w = height * scale, width * scale
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (cell_h + _GAP) + _GAP, columns * (cell_w + _GAP) + _GAP, 3), 128, dtype=np.uint8)
    for index, picture in enumerate(pictures):
        row, column = divmod(index, columns)
        top, left = _GAP + row * (cell_h + _GAP), _GAP + column * (cell_w + _GAP)
        grid[top : top + cell_h, left : left + cell_w] = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def save_grid_png(path: str | Path, pictures: np.ndarray, columns: int = 10) -> Path:
    path = Path(path)
    image = Image.fromarray(grid_image(pictures, columns))
    write_atomically(path, lambda stream: image.save(stream, format="PNG"))
    return path
