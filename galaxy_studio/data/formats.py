"""Which reader a file needs: by its first bytes when reading, by its name when scanning.

Names lie (a JPEG saved as .png, a text file called .fits), so opening a file goes
by content. Scanning a folder of 20,000 files cannot afford to open each one, so
listing goes by name and a mismatch surfaces as a CutoutError when the file is read.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from galaxy_studio.data.cutout import Cutout, CutoutError, require_file
from galaxy_studio.data.raster import read_raster

FITS_SUFFIXES: tuple[str, ...] = (
    ".fits",
    ".fit",
    ".fts",
    ".fz",
    ".fits.fz",
    ".fits.gz",
    ".fit.gz",
    ".fts.gz",
)
RASTER_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
HDF5_SUFFIXES: tuple[str, ...] = (".h5", ".hdf5", ".hdf", ".he5")
CSV_SUFFIXES: tuple[str, ...] = (".csv",)
IMAGE_SUFFIXES: tuple[str, ...] = FITS_SUFFIXES + RASTER_SUFFIXES + HDF5_SUFFIXES

RASTER_FORMATS = frozenset({"jpeg", "png", "tiff"})
UNSUPPORTED_IMAGE = "not a supported image (FITS, JPEG, PNG, TIFF)"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"SIMPLE", "fits"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
)
_GZIP_MAGIC = b"\x1f\x8b"
_NAME_FORMATS: tuple[tuple[tuple[str, ...], str], ...] = (
    (FITS_SUFFIXES, "fits"),
    ((".jpg", ".jpeg"), "jpeg"),
    ((".png",), "png"),
    ((".tif", ".tiff"), "tiff"),
    (HDF5_SUFFIXES, "hdf5"),
    (CSV_SUFFIXES, "csv"),
)


def detect_format(path: str | Path) -> str:
    """ "fits", "jpeg", "png", "tiff", "hdf5", "csv" or "unknown", from the content first.

    Gzip-compressed FITS is recognised by a FITS-style name or, failing that, by
    peeking at the decompressed start. CSV has no magic bytes, so it goes by name.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
    except OSError:
        return "unknown"
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head.startswith(_GZIP_MAGIC) and (format_from_name(path) == "fits" or _gzip_holds_fits(path)):
        return "fits"
    if format_from_name(path) == "csv":
        return "csv"
    return "unknown"


def format_from_name(path: str | Path) -> str:
    """What the file name claims, without touching the file (for folder scans)."""
    name = Path(path).name.lower()
    for suffixes, fmt in _NAME_FORMATS:
        if name.endswith(suffixes):
            return fmt
    return "unknown"


def is_supported_path(path: str | Path) -> bool:
    """Whether the name is one of IMAGE_SUFFIXES (FITS, raster or HDF5). Cheap: no I/O."""
    return Path(path).name.lower().endswith(IMAGE_SUFFIXES)


def read_cutout(
    path: str | Path, *, hdu: int | str | None = None, plane: int | None = None, max_side: int | None = None
) -> Cutout:
    """Read any supported image file into a Cutout, choosing the reader by content.

    `hdu` and `plane` pick one image HDU and one plane of a cube (FITS only).
    """
    path = Path(path)
    require_file(path)
    fmt = detect_format(path)
    if fmt == "fits":
        # astropy.io.fits and astropy.wcs take ~0.4 s to import: loaded with the first FITS file.
        from galaxy_studio.data.fits import read_fits

        return read_fits(path, hdu=hdu, plane=plane, max_side=max_side)
    if fmt in RASTER_FORMATS:
        if hdu is not None or plane is not None:
            raise CutoutError(path, f"is a {fmt.upper()} image; only FITS files have HDUs")
        return read_raster(path, max_side=max_side)
    if fmt == "hdf5":
        raise CutoutError(path, "is an HDF5 file: open it as a catalogue to browse its images")
    claimed = format_from_name(path)
    if claimed not in ("unknown", "csv"):
        raise CutoutError(path, f"{UNSUPPORTED_IMAGE}: the content does not match its {claimed.upper()} name")
    raise CutoutError(path, UNSUPPORTED_IMAGE)


def _gzip_holds_fits(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read(6) == b"SIMPLE"
    except (OSError, EOFError):
        return False
