"""Labelled folders of kinds of data the training recipe was not designed on, for the
robustness benchmark and its tests.

Procedural radio galaxies stand in for the FIRST/MiraBest-like stamps an astronomer brought
(grey 8-bit PNGs, most pixels black after a 3-sigma clip, lobes that reach the stamp's edge):
FRI jets fade away from a bright core, FRII lobes end in bright hotspots with a faint core,
bent tails are FRI jets swept to one side, compact sources are barely resolved. Sparse point
sources are single-band float FITS on Gaussian noise: one, two or four faint sources spread
over the stamp. The other kinds are real data from ../shared/data, copied as class folders.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from astropy.io import fits
from PIL import Image

from galaxy_studio.data.idx import read_idx

RADIO_CLASSES = ("FRI", "FRII", "bent", "compact")
POINT_CLASSES = ("one", "two", "four")


def _blob(
    image: np.ndarray, x: float, y: float, flux: float, sigma_major: float, sigma_minor: float, angle: float
) -> None:
    """Add an elliptical Gaussian in place, computed only within 4 sigma of its centre."""
    reach = 4.0 * max(sigma_major, sigma_minor)
    x0, x1 = max(0, int(x - reach)), min(image.shape[1], int(x + reach) + 2)
    y0, y1 = max(0, int(y - reach)), min(image.shape[0], int(y + reach) + 2)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - x, yy - y
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = -dx * math.sin(angle) + dy * math.cos(angle)
    image[y0:y1, x0:x1] += flux * np.exp(-0.5 * ((along / sigma_major) ** 2 + (across / sigma_minor) ** 2))


def _jet(
    image: np.ndarray,
    start: tuple[float, float],
    angle: float,
    length: float,
    *,
    brightness: Callable[[float], float],
    width: Callable[[float], float],
    bend: float = 0.0,
) -> None:
    """Lay blobs along a path from `start`; `bend` turns the path (radians over its length)."""
    x, y = start
    steps = max(2, int(length))
    for step in range(steps):
        t = step / steps
        heading = angle + bend * t * t
        x += math.cos(heading)
        y += math.sin(heading)
        _blob(image, x, y, brightness(t), width(t), width(t) * 0.8, heading)


def radio_source(
    class_name: str, size: int, rng: np.random.Generator, extent: tuple[float, float] = (0.1, 0.45)
) -> np.ndarray:
    """Noise-free flux of one source in units of the noise, centred with a little jitter,
    with up to two unrelated faint compact sources elsewhere in the stamp."""
    image = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(0, 3)):
        x, y = rng.uniform(0, size, 2)
        _blob(image, x, y, rng.uniform(5, 30), size * 0.012, size * 0.012, 0.0)
    cx, cy = size / 2 + rng.normal(0, size * 0.01, 2)
    angle = rng.uniform(0, 2 * math.pi)
    beam = size * 0.012
    if class_name == "compact":
        _blob(image, cx, cy, rng.uniform(15, 150), beam * rng.uniform(1.0, 2.5), beam, angle)
        return image
    length = size * rng.uniform(*extent)
    if class_name == "FRII":
        _blob(image, cx, cy, rng.uniform(0, 10), beam, beam, 0.0)
        for side in (0.0, math.pi):
            reach = length * rng.uniform(0.7, 1.0)
            peak = rng.uniform(6, 60)
            _jet(
                image,
                (cx, cy),
                angle + side + rng.normal(0, 0.15),
                reach,
                brightness=lambda t, p=peak: p * 0.03 + p * 0.08 * t**2,
                width=lambda t: beam * (1.5 + 3.0 * t),
            )
            hx = cx + reach * math.cos(angle + side)
            hy = cy + reach * math.sin(angle + side)
            _blob(image, hx, hy, peak, beam * 1.5, beam, angle)
        return image
    core = rng.uniform(10, 80)
    _blob(image, cx, cy, core, beam, beam, 0.0)
    if class_name == "bent":
        bend = rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 2.2)
    else:
        bend = rng.normal(0, 0.25)
    for side in (0.0, math.pi):
        jet = core * rng.uniform(0.1, 0.3)
        _jet(
            image,
            (cx, cy),
            angle + side + rng.normal(0, 0.1),
            length * rng.uniform(0.7, 1.0),
            brightness=lambda t, j=jet: j * math.exp(-2.5 * t),
            width=lambda t: beam * (1.2 + 5.0 * t),
            bend=bend if side == 0.0 else -bend,
        )
    return image


def _clipped_png(flux: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Survey-style stamp: noise added, everything below 3 sigma set to black, peak to 255."""
    observed = flux + rng.normal(0, 1.0, flux.shape).astype(np.float32)
    observed = np.clip(observed - 3.0, 0.0, None)
    return np.round(255 * observed / max(float(observed.max()), 1e-6)).astype(np.uint8)


def write_radio_set(
    folder: Path, per_class: int, *, size: int = 300, seed: int = 0, extent: tuple[float, float] = (0.1, 0.45)
) -> Path:
    """`extent`: the range of a jet's or lobe's length as a fraction of the stamp's side."""
    for class_index, name in enumerate(RADIO_CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            rng = np.random.default_rng((seed, class_index, index))
            stamp = _clipped_png(radio_source(name, size, rng, extent), rng)
            Image.fromarray(stamp, mode="L").save(folder / name / f"{index:05d}.png")
    return folder


def write_point_sources(folder: Path, per_class: int, *, size: int = 64, seed: int = 0) -> Path:
    """Float FITS stamps: `one`, `two` or `four` unresolved sources of 5-15 sigma peak."""
    counts = {"one": 1, "two": 2, "four": 4}
    for class_index, name in enumerate(POINT_CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            rng = np.random.default_rng((seed, 100 + class_index, index))
            image = rng.normal(100.0, 1.0, (size, size)).astype(np.float32)
            for _ in range(counts[name]):
                x, y = rng.uniform(size * 0.15, size * 0.85, 2)
                _blob(image, x, y, rng.uniform(5, 15), 1.5, 1.5, 0.0)
            fits.PrimaryHDU(image).writeto(folder / name / f"{index:05d}.fits")
    return folder


def copy_class_folders(source: Path, folder: Path, per_class: int, classes: tuple[str, ...] | None = None) -> Path:
    """The first `per_class` files (sorted) of each class folder of `source`."""
    for class_dir in sorted(path for path in source.iterdir() if path.is_dir()):
        if classes is not None and class_dir.name not in classes:
            continue
        (folder / class_dir.name).mkdir(parents=True, exist_ok=True)
        for path in sorted(class_dir.iterdir())[:per_class]:
            shutil.copyfile(path, folder / class_dir.name / path.name)
    return folder


def write_idx_stamps(images: Path, labels: Path, folder: Path, per_class: int, classes: tuple[int, ...]) -> Path:
    """Grey PNG stamps from an MNIST-style IDX pair, the first `per_class` of each digit."""
    pixels, digits = read_idx(images), read_idx(labels)
    for digit in classes:
        (folder / f"digit{digit}").mkdir(parents=True, exist_ok=True)
        for index in np.flatnonzero(digits == digit)[:per_class]:
            Image.fromarray(pixels[index], mode="L").save(folder / f"digit{digit}" / f"{index:05d}.png")
    return folder
