"""The evolution of a run's prototypes, from noise or real images to what they became:
an animated GIF and a PNG strip made from the run's saved snapshots.

A frame is one snapshot laid out as the Distill panel shows it: a row per class, IPC
images per row. Long runs save hundreds of snapshots; the exports pick evenly spaced ones
(always including the first and the last), so that a GIF stays a few MB and a strip stays
readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw

from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.distill.export import image_grid
from galaxy_studio.distill.runs import load_snapshot, snapshot_steps
from galaxy_studio.model.errors import ModelError

_CAPTION_HEIGHT = 14
_BACKGROUND = 24


def class_rows(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, int]:
    """`images` reordered a class per row (classes ascending, each padded to the widest
    class with blank cells); returns them and the number of columns."""
    classes = np.unique(labels)
    columns = max(int(np.sum(labels == label)) for label in classes)
    cells = np.full((len(classes) * columns, *images.shape[1:]), _BACKGROUND, np.uint8)
    for row, label in enumerate(classes):
        mine = images[labels == label]
        cells[row * columns : row * columns + len(mine)] = mine
    return cells, columns


def evenly_spaced(steps: list[int], count: int) -> list[int]:
    """At most `count` of `steps`, evenly spaced, first and last included."""
    if len(steps) <= count:
        return list(steps)
    if count == 1:
        return [steps[-1]]
    positions = np.unique(np.round(np.linspace(0, len(steps) - 1, count)).astype(int))
    return [steps[int(position)] for position in positions]


def snapshot_frame(run_dir: str | Path, step: int, scale: int) -> np.ndarray:
    images, labels = load_snapshot(run_dir, step)
    cells, columns = class_rows(images, labels)
    return image_grid(cells, columns, scale)


def _captioned(frame: np.ndarray, text: str) -> np.ndarray:
    canvas = Image.new("RGB", (frame.shape[1], frame.shape[0] + _CAPTION_HEIGHT), (_BACKGROUND,) * 3)
    canvas.paste(Image.fromarray(frame), (0, _CAPTION_HEIGHT))
    ImageDraw.Draw(canvas).text((3, 1), text, fill=(220, 222, 228))
    return np.asarray(canvas)


def _chosen_steps(run_dir: str | Path, count: int) -> list[int]:
    steps = snapshot_steps(run_dir)
    if not steps:
        raise ModelError(f"{run_dir}: the run saved no snapshot yet")
    return evenly_spaced(steps, count)


def write_evolution_gif(
    run_dir: str | Path,
    out: str | Path,
    *,
    max_frames: int = 100,
    scale: int = 3,
    frame_ms: int = 120,
    hold_last_ms: int = 1500,
) -> int:
    """An animated GIF (looping) of up to `max_frames` snapshots, each captioned with its
    iteration; the last frame is held. Returns the number of frames written."""
    steps = _chosen_steps(run_dir, max_frames)
    frames = [Image.fromarray(_captioned(snapshot_frame(run_dir, step, scale), f"iteration {step}")) for step in steps]
    durations = [frame_ms] * (len(frames) - 1) + [hold_last_ms]

    def write(stream: BinaryIO) -> None:
        frames[0].save(
            stream, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=False
        )

    write_atomically(out, write)
    return len(frames)


def write_evolution_strip(run_dir: str | Path, out: str | Path, *, frames: int = 8, scale: int = 3) -> int:
    """A PNG of up to `frames` snapshots side by side, each captioned with its iteration.
    Returns the number of snapshots in it."""
    steps = _chosen_steps(run_dir, frames)
    pictures = [_captioned(snapshot_frame(run_dir, step, scale), f"iteration {step}") for step in steps]
    height = max(picture.shape[0] for picture in pictures)
    gap = 6
    strip = np.full((height, sum(p.shape[1] for p in pictures) + gap * (len(pictures) - 1), 3), _BACKGROUND, np.uint8)
    left = 0
    for picture in pictures:
        strip[: picture.shape[0], left : left + picture.shape[1]] = picture
        left += picture.shape[1] + gap
    write_atomically(out, lambda stream: Image.fromarray(strip).save(stream, format="PNG"))
    return len(pictures)
