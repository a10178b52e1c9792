"""A synthetic set leaving the run folder: as arrays, as pictures, as a FITS cube.

Synthetic images live in the network's space (normalised by the buffer's channel statistics,
whitened when the buffer is); every picture shown or written first undoes both, so that a
prototype is seen with the colours and stretch of the real cutouts it was distilled from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.distill.init import ZcaWhitening
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing

SYNTHETIC_FILE = "synthetic.npz"
# What every finished run folder holds beside synthetic.npz, however the run was started.
PROTOTYPES_DIR = "prototypes"
FITS_FILE = "synthetic.fits"
# Bands-mode pixels (asinh of S/N) have no fixed range; these percentiles of the whole set set it.
_BANDS_DISPLAY_PERCENTILES = (0.5, 99.5)
_GRID_GAP = 2


@dataclass(frozen=True)
class SyntheticSet:
    """A distilled set as saved: float32 (N, C, H, W) network-space images and what they mean."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    lr: float
    config: dict[str, Any]
    prep: Preprocessing
    zca: ZcaWhitening | None

    def display(self) -> np.ndarray:
        return display_images(self.images, self.prep, self.zca)


def display_images(images: np.ndarray, prep: Preprocessing, zca: ZcaWhitening | None) -> np.ndarray:
    """(N, H, W, 3) uint8 pictures of network-space images: unwhitened, de-normalised, then
    clipped to the display range (display mode) or stretched over the set's percentiles (bands
    mode). One band is shown grey; more than three show their first three."""
    values = zca.unwhiten(images) if zca is not None else np.asarray(images, np.float32)
    values = _denormalised(values, prep)
    if prep.channels != "display":
        low, high = np.percentile(values, _BANDS_DISPLAY_PERCENTILES, axis=(0, 2, 3), keepdims=True)
        values = (values - low) / np.maximum(high - low, 1e-6)
    values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    if values.shape[1] == 1:
        values = np.repeat(values, 3, axis=1)
    elif values.shape[1] == 2:
        values = np.concatenate([values, values.mean(axis=1, keepdims=True)], axis=1)
    rgb = np.round(values[:, :3] * 255.0).astype(np.uint8)
    return np.ascontiguousarray(rgb.transpose(0, 2, 3, 1))


def _denormalised(images: np.ndarray, prep: Preprocessing) -> np.ndarray:
    values = np.asarray(images, np.float32)
    if prep.mean is not None and prep.std is not None:
        values = values * np.asarray(prep.std, np.float32).reshape(1, -1, 1, 1)
        values = values + np.asarray(prep.mean, np.float32).reshape(1, -1, 1, 1)
    return values


def save_synthetic(path: str | Path, synthetic: SyntheticSet) -> None:
    """The set as one .npz: images, labels, class names, learned lr, run config, and what is
    needed to show the images (preprocessing and ZCA) so the file stands on its own."""
    arrays: dict[str, Any] = {
        "images": synthetic.images.astype(np.float32),
        "labels": synthetic.labels.astype(np.int64),
        "classes": np.array(synthetic.classes),
        "lr": np.array(synthetic.lr, np.float64),
        "config": np.array(json.dumps(synthetic.config)),
        "preprocessing": np.array(json.dumps(synthetic.prep.to_dict())),
        "display": synthetic.display(),
    }
    if synthetic.zca is not None:
        arrays.update(zca_mean=synthetic.zca.mean, zca_matrix=synthetic.zca.matrix, zca_inverse=synthetic.zca.inverse)
    write_atomically(path, lambda stream: np.savez_compressed(stream, **arrays))


def load_synthetic(path: str | Path) -> SyntheticSet:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            zca = None
            if "zca_mean" in stored:
                zca = ZcaWhitening(stored["zca_mean"], stored["zca_matrix"], stored["zca_inverse"])
            synthetic = SyntheticSet(
                stored["images"],
                stored["labels"],
                tuple(str(name) for name in stored["classes"]),
                float(stored["lr"]),
                json.loads(str(stored["config"])),
                Preprocessing.from_dict(json.loads(str(stored["preprocessing"]))),
                zca,
            )
    except FileNotFoundError:
        raise ModelError(f"{path}: no synthetic set (a distillation run writes it as it ends)") from None
    except (OSError, KeyError, TypeError, ValueError, ModelError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        if "pickle" in problem:
            problem = "not arrays of numbers: damaged, or holding Python objects"
        raise ModelError(f"{path}: not a synthetic set saved by galaxy-studio ({problem})") from None
    if synthetic.images.ndim != 4 or len(synthetic.images) != len(synthetic.labels):
        raise ModelError(f"{path}: images of shape {synthetic.images.shape} do not fit {len(synthetic.labels)} labels")
    if not np.all(np.isfinite(synthetic.images)):
        raise ModelError(f"{path}: the synthetic images hold NaN or inf")
    return synthetic


def image_grid(pictures: np.ndarray, columns: int, scale: int = 1) -> np.ndarray:
    """(N, H, W, 3) uint8 tiled `columns` wide with a dark gap, each enlarged `scale` times
    (nearest neighbour, so that a 32 px prototype is not smoothed)."""
    if scale > 1:
        pictures = pictures.repeat(scale, axis=1).repeat(scale, axis=2)
    n, height, width, _ = pictures.shape
    rows = math.ceil(n / columns)
    grid = np.full(
        (rows * (height + _GRID_GAP) + _GRID_GAP, columns * (width + _GRID_GAP) + _GRID_GAP, 3), 24, np.uint8
    )
    for index, picture in enumerate(pictures):
        row, column = divmod(index, columns)
        top, left = _GRID_GAP + row * (height + _GRID_GAP), _GRID_GAP + column * (width + _GRID_GAP)
        grid[top : top + height, left : left + width] = picture
    return grid


def export_png_grids(synthetic: SyntheticSet, folder: str | Path, *, scale: int = 4) -> list[Path]:
    """One PNG per class (its images side by side, up to 10 per row) and `all.png` with a
    row per class; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pictures = synthetic.display()
    written = []
    per_class = max(int(np.sum(synthetic.labels == label)) for label in range(len(synthetic.classes)))
    rows = []
    for label, name in enumerate(synthetic.classes):
        mine = pictures[synthetic.labels == label]
        if len(mine) == 0:
            continue
        path = folder / f"{_safe_name(name)}.png"
        _write_png(path, image_grid(mine, min(len(mine), 10), scale))
        written.append(path)
        padded = np.zeros((per_class, *mine.shape[1:]), np.uint8)
        padded[: len(mine)] = mine
        rows.append(padded)
    overview = folder / "all.png"
    _write_png(overview, image_grid(np.concatenate(rows), per_class, scale))
    written.append(overview)
    return written


def export_run_pictures(synthetic: SyntheticSet, run_dir: str | Path) -> Path:
    """The prototypes as PNG grids (PROTOTYPES_DIR) and as a FITS cube (FITS_FILE) in the run
    folder, written by the run itself so that a run leaves the same files whichever interface
    started it; returns the PNG folder."""
    run_dir = Path(run_dir)
    export_png_grids(synthetic, run_dir / PROTOTYPES_DIR)
    export_fits_cube(synthetic, run_dir / FITS_FILE)
    return run_dir / PROTOTYPES_DIR


def _write_png(path: Path, pixels: np.ndarray) -> None:
    write_atomically(path, lambda stream: Image.fromarray(pixels).save(stream, format="PNG"))


def _safe_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in name) or "class"


def export_fits_cube(synthetic: SyntheticSet, path: str | Path) -> None:
    """A FITS cube (N, C, H, W) of the de-normalised, unwhitened images (float32), with the
    class of each plane and the learned lr in the header and a LABELS table."""
    from astropy.io import fits

    values = synthetic.zca.unwhiten(synthetic.images) if synthetic.zca is not None else synthetic.images
    primary = fits.PrimaryHDU(_denormalised(values, synthetic.prep).astype(np.float32))
    header = primary.header
    header["ORIGIN"] = "galaxy-studio"
    header["LR"] = (synthetic.lr, "learned step size of the distillation")
    header["NCLASS"] = len(synthetic.classes)
    for label, name in enumerate(synthetic.classes):
        header[f"CLASS{label}"] = name
    header["CHANNELS"] = (synthetic.prep.channels, "display: RGB in 0..1; bands: asinh S/N")
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="LABEL", format="K", array=synthetic.labels.astype(np.int64)),
            fits.Column(name="CLASS", format="A64", array=np.array([synthetic.classes[i] for i in synthetic.labels])),
        ],
        name="LABELS",
    )
    hdus = fits.HDUList([primary, table])
    write_atomically(path, lambda stream: hdus.writeto(stream))
