"""The one in-memory type every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio.errors import UserError


class CutoutError(UserError):
    """A file could not be read as a cutout. The message names the file and the problem."""

    def __init__(self, source: str | Path, problem: str, hint: str = "") -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}", hint)


def require_file(path: Path) -> None:
    """Refuse, with the reason, what no reader can open: nothing there, a folder, 0 bytes."""
    if not path.exists():
        raise CutoutError(path, "file not found")
    if path.is_dir():
        raise CutoutError(path, "is a folder, not a file")
    if path.stat().st_size == 0:
        raise CutoutError(path, "file is empty (0 bytes)")


@dataclass
class Cutout:
    """Pixels as float32 (H, W, bands) in the file's own units, plus what is known about them.

    `data` may contain NaN/inf (masked when displayed). `wcs` is a 2-D celestial
    astropy WCS or None. `header` is the astropy FITS header or None; `meta` holds
    anything else a reader found (EXIF, HDF5 attributes, the HDU used, the decimation).
    `scale` > 1 means the reader decimated the pixels by that factor (huge images or
    thumbnails); `wcs` then already describes the decimated grid.
    """

    data: np.ndarray
    bands: list[str]
    source: str
    format: str
    wcs: Any = None
    header: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    scale: int = 1

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"Cutout data must be (H, W, bands), got shape {self.data.shape}")
        if self.data.dtype != np.float32:
            self.data = self.data.astype(np.float32)
        if len(self.bands) != self.data.shape[2]:
            raise ValueError(f"{len(self.bands)} band names for {self.data.shape[2]} bands")

    @property
    def height(self) -> int:
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_bands(self) -> int:
        return int(self.data.shape[2])

    @property
    def nan_count(self) -> int:
        """Non-finite pixel values (NaN and inf), counted over all bands."""
        return int(self.data.size - np.count_nonzero(np.isfinite(self.data)))

    def sky_position(self, x: float, y: float) -> tuple[float, float] | None:
        """(RA, Dec) in degrees at pixel (x, y) (0-based, x along columns), or None without WCS."""
        if self.wcs is None:
            return None
        ra, dec = self.wcs.all_pix2world([[x, y]], 0)[0]
        if not (np.isfinite(ra) and np.isfinite(dec)):
            return None
        return float(ra), float(dec)

    def centre_sky_position(self) -> tuple[float, float] | None:
        return self.sky_position((self.width - 1) / 2.0, (self.height - 1) / 2.0)

    def centre_icrs(self) -> tuple[float, float] | None:
        """(RA, Dec) of the centre in degrees in ICRS, whatever frame the WCS is in (galactic,
        FK5, ...), for tables that carry positions; None without a celestial WCS."""
        return None if self.wcs is None else wcs_centre_icrs(self.wcs, self.width, self.height)


def wcs_centre_icrs(wcs: Any, width: int, height: int) -> tuple[float, float] | None:
    """(RA, Dec) in ICRS degrees of the centre of a `width` x `height` image with celestial
    `wcs`; None when the WCS names no frame astropy can convert or gives no finite position."""
    from astropy.wcs.utils import pixel_to_skycoord

    try:
        centre = pixel_to_skycoord((width - 1) / 2.0, (height - 1) / 2.0, wcs).icrs
    except (ValueError, TypeError):
        return None
    ra, dec = float(centre.ra.deg), float(centre.dec.deg)
    return (ra, dec) if np.isfinite(ra) and np.isfinite(dec) else None
