"""The Galaxy10 DECaLS HDF5 file: 17,736 labelled 256x256 colour cutouts in one 2.5 GB file.

Users browse it like a folder, so opening it must read no pixels, labels must come
from the small `ans` dataset alone, and single images are read on demand from a
thread pool through one shared, locked h5py handle.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_studio.count_text import counted, noun_for
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.decimation import decimation_step

if TYPE_CHECKING:
    import h5py
    from astropy.wcs import WCS

FORMAT = "galaxy10"

GALAXY10_CLASSES: tuple[str, ...] = (
    "Disturbed",
    "Merging",
    "Round Smooth",
    "In-between Round Smooth",
    "Cigar Shaped Smooth",
    "Barred Spiral",
    "Unbarred Tight Spiral",
    "Unbarred Loose Spiral",
    "Edge-on without Bulge",
    "Edge-on with Bulge",
)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# One image is 192 KiB; a few MB of chunk cache holds the recently viewed ones
# without letting thumbnail scrolling grow memory (h5py's default is 1 MB per dataset,
# the real file is 2.5 GB).
_CHUNK_CACHE_BYTES = 4 * 1024 * 1024
_POSITION_KEYS = ("ra", "dec", "redshift", "pxscale")
# How many invalid `ans` rows an error message names before it only counts the rest.
_SHOWN_ROWS = 10


class Galaxy10File:
    """One open Galaxy10-layout HDF5 file. Safe to read from several threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._labels: np.ndarray | None = None
        self._columns: dict[str, np.ndarray] = {}
        import h5py  # imported with the first HDF5 file, not when the window starts

        try:
            self._file = h5py.File(self.path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
        except FileNotFoundError as exc:
            raise CutoutError(self.path, "file not found") from exc
        except OSError as exc:
            raise CutoutError(self.path, f"not an HDF5 file ({exc})") from exc
        try:
            self._images = _checked_images(self._file, self.path)
        except CutoutError:
            self._file.close()
            raise

    def __len__(self) -> int:
        return int(self._images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, 3) of every image, from the dataset's shape alone."""
        _, height, width, bands = self._images.shape
        return int(height), int(width), int(bands)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def labels(self) -> np.ndarray | None:
        """Class index (0..9) per image from `ans`, or None for an unlabelled file. An `ans`
        holding NaN, a fraction or a number outside the classes is refused, naming its rows:
        cast to integers such values became classes of their own, trained on silently."""
        with self._lock:
            if self._labels is None and "ans" in self._file:
                raw = np.asarray(self._file["ans"][()], dtype=np.float64).reshape(-1)
                bad = invalid_label_rows(raw)
                if len(bad):
                    shown = ", ".join(str(int(row)) for row in bad[:_SHOWN_ROWS])
                    more = f" and {len(bad) - _SHOWN_ROWS} more" if len(bad) > _SHOWN_ROWS else ""
                    raise CutoutError(
                        self.path,
                        f"'ans' holds {counted(len(bad), 'value')} that {'is' if len(bad) == 1 else 'are'} not "
                        f"{'a class' if len(bad) == 1 else 'classes'} 0-{len(GALAXY10_CLASSES) - 1} "
                        f"(NaN, fractions or out of range) in {noun_for(len(bad), 'row')} {shown}{more}",
                        "fix or remove those rows of 'ans', or remove 'ans' to open the images unlabelled",
                    )
                self._labels = raw.astype(np.int64)
            return self._labels

    def column(self, name: str) -> np.ndarray | None:
        """A per-image float column (ra, dec, redshift, pxscale), or None if the file lacks it."""
        with self._lock:
            if name not in self._columns:
                if name not in self._file:
                    return None
                self._columns[name] = np.asarray(self._file[name][()], dtype=np.float64)
            return self._columns[name].reshape(-1)

    def read(self, index: int, max_side: int | None = None) -> Cutout:
        """Image `index` as a Cutout with its label, position and a TAN WCS when known."""
        count = len(self)
        if not 0 <= index < count:
            raise CutoutError(self.path, f"image index {index} out of range (file has {count})")
        with self._lock:
            pixels = np.asarray(self._images[index])
        height, width = pixels.shape[:2]
        step, note = decimation_step(height, width, max_side)
        data = pixels[::step, ::step].astype(np.float32)
        labels = self.labels()
        label_index = int(labels[index]) if labels is not None and index < len(labels) else None
        meta: dict[str, Any] = {
            "index": int(index),
            "label_index": label_index,
            "label": class_name(label_index),
            "full_shape": (height, width),
            "stored_dtype": "uint8",
        }
        for key in _POSITION_KEYS:
            values = self.column(key)
            meta[key] = float(values[index]) if values is not None and index < len(values) else None
        if note:
            meta["note"] = note
        return Cutout(
            data=data,
            bands=["R", "G", "B"],
            source=f"{self.path}[{index}]",
            format=FORMAT,
            wcs=_tan_wcs(meta["ra"], meta["dec"], meta["pxscale"], height, width, step),
            meta=meta,
            scale=step,
        )


_open_files: dict[str, tuple[tuple[int, int], Galaxy10File]] = {}
_open_files_lock = threading.Lock()


def open_galaxy10(path: str | Path) -> Galaxy10File:
    """The shared Galaxy10File for `path`; reopened when the file on disk has changed.

    A replaced handle is only dropped, not closed, so a thumbnail thread still
    reading from it finishes; h5py closes it when the last reference goes.
    """
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except FileNotFoundError as exc:
        raise CutoutError(path, "file not found") from exc
    version = (stat.st_mtime_ns, stat.st_size)
    with _open_files_lock:
        cached = _open_files.get(str(resolved))
        if cached is None or cached[0] != version:
            cached = (version, Galaxy10File(resolved))
            _open_files[str(resolved)] = cached
        return cached[1]


def is_galaxy10(path: str | Path) -> bool:
    """True for an HDF5 file with an `images` dataset of (N, H, W, 3) uint8. Never raises."""
    import h5py

    path = Path(path)
    try:
        with path.open("rb") as stream:
            if stream.read(len(_HDF5_MAGIC)) != _HDF5_MAGIC:
                return False
        with h5py.File(path, "r") as handle:
            _checked_images(handle, path)
    except (OSError, CutoutError):
        return False
    return True


def _checked_images(handle: h5py.File, path: Path) -> h5py.Dataset:
    import h5py

    images = handle.get("images")
    if not isinstance(images, h5py.Dataset):
        keys = ", ".join(sorted(handle.keys())) or "none"
        raise CutoutError(path, f"HDF5 file has no 'images' dataset (datasets: {keys})")
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise CutoutError(
            path,
            f"'images' is {images.shape} {images.dtype}, expected (N, height, width, 3) uint8",
        )
    return images


def invalid_label_rows(values: np.ndarray) -> np.ndarray:
    """Rows of `ans` values that are no Galaxy10 class: NaN, infinite, fractional, negative
    or past the last class."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < len(GALAXY10_CLASSES))
    return np.flatnonzero(~valid)


def class_name(label_index: int | None) -> str | None:
    """The Galaxy10 class name of an `ans` value; an out-of-range value is kept as its number."""
    if label_index is None:
        return None
    if 0 <= label_index < len(GALAXY10_CLASSES):
        return GALAXY10_CLASSES[label_index]
    return str(label_index)


def _tan_wcs(
    ra: float | None, dec: float | None, pxscale: float | None, height: int, width: int, step: int
) -> WCS | None:
    """A gnomonic WCS centred on the galaxy, for RA/Dec under the cursor.

    Legacy Survey cutouts are north up, east left, stored top row first: RA grows to
    the left and Dec grows towards row 0, so both pixel scales are negative.
    """
    if ra is None or dec is None or pxscale is None or not np.isfinite([ra, dec, pxscale]).all():
        return None
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [ra, dec]
    # Full-resolution centre (0-based (n-1)/2) on the grid keeping pixels 0, step, 2*step...
    wcs.wcs.crpix = [(width - 1) / 2 / step + 1, (height - 1) / 2 / step + 1]
    degrees = pxscale * step / 3600.0
    wcs.wcs.cdelt = [-degrees, -degrees]
    wcs.wcs.set()
    wcs.pixel_shape = (len(range(0, width, step)), len(range(0, height, step)))
    return wcs
