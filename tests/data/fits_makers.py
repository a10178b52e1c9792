"""Small FITS files for the viewer tests: many extensions, a cube, WCS turned or mirrored."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

PIXEL_SCALE_ARCSEC = 0.262


def write_many_hdus(path: Path, count: int = 100) -> Path:
    """A primary header without data and `count` 8x6 image extensions; extension k is filled with k."""
    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = [fits.PrimaryHDU()]
    hdus += [fits.ImageHDU(np.full((6, 8), float(k), np.float32), name=f"CCD{k}") for k in range(1, count + 1)]
    fits.HDUList(hdus).writeto(path)
    return path


def write_cube(path: Path, planes: int = 5) -> Path:
    """A (planes, 10, 12) cube whose plane k is filled with 10 * k, named by BANDn keywords."""
    data = np.stack([np.full((10, 12), 10.0 * k, np.float32) for k in range(planes)])
    header = fits.Header()
    for k in range(planes):
        header[f"BAND{k + 1}"] = f"F{400 + 50 * k}W"
    fits.PrimaryHDU(data, header=header).writeto(path)
    return path


def sky_wcs(rotation_deg: float = 0.0, mirrored: bool = False, size: int = 64) -> WCS:
    """A TAN WCS at 0.262"/px; north turned `rotation_deg` (CROTA2 sense), east flipped to the right if mirrored."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    scale = PIXEL_SCALE_ARCSEC / 3600.0
    t = math.radians(rotation_deg)
    cd = np.array([[-scale * math.cos(t), scale * math.sin(t)], [scale * math.sin(t), scale * math.cos(t)]])
    if mirrored:
        cd[:, 0] *= -1
    wcs.wcs.cd = cd
    return wcs


def write_sky_image(path: Path, rotation_deg: float = 0.0, mirrored: bool = False, size: int = 64) -> Path:
    yy, xx = np.mgrid[:size, :size]
    data = (100 * np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / 40) + 1).astype(np.float32)
    fits.PrimaryHDU(data, header=sky_wcs(rotation_deg, mirrored, size).to_header()).writeto(path)
    return path
