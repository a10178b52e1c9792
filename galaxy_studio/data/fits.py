"""FITS images (plain, gzip, tile-compressed) as Cutouts, including thumbnails of huge files.

Astronomers' FITS files range from a 60x60 stamp to a 20000x20000 mosaic, one image
per file or one band per extension, cubes, and files whose data is only a table.
This module turns any of them into a Cutout or into a CutoutError that says what
the file holds instead.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, Sip

from galaxy_studio.count_text import counted
from galaxy_studio.data.cutout import Cutout, CutoutError, require_file, wcs_centre_icrs
from galaxy_studio.data.decimation import decimation_step

FORMAT = "fits"

# Whole-file compression (gzip, bzip2, zip) cannot be read at an offset, so such
# files are decompressed in full; tile compression (.fz) can, tile by tile.
_WHOLE_FILE_MAGIC = (b"\x1f\x8b", b"BZh", b"PK\x03\x04")
_FITS_BLOCK = 2880
_STORED_DTYPES = {8: "uint8", 16: "int16", 32: "int32", 64: "int64", -32: "float32", -64: "float64"}

_BAND_NAME = re.compile(r"(?:[ugrizyUBVRIJHKLMNZ]['s]?|F\d{3,4}(?:[WMNX]|LP)\d?|W[1-4]|[FN]UV)")
_BAND_SUFFIX = re.compile(r"[-_ ]?band$", re.IGNORECASE)


@dataclass(frozen=True)
class _HduInfo:
    """What the headers say about one HDU, known without reading any pixels."""

    index: int
    name: str
    kind: str
    shape: tuple[int, ...]
    is_image: bool

    @property
    def has_pixels(self) -> bool:
        return self.is_image and len(self.shape) >= 2 and all(n > 0 for n in self.shape)

    @property
    def squeezed_shape(self) -> tuple[int, ...]:
        """Shape without leading length-1 axes, so (1, 1, H, W) counts as a plain image."""
        return tuple(n for n in self.shape[:-2] if n != 1) + self.shape[-2:]

    def describe(self) -> str:
        label = f"{self.index} {self.name}".rstrip()
        if not self.is_image:
            return f"{label} ({self.kind})"
        if not self.shape:
            return f"{label} (empty)"
        dims = "x".join(str(n) for n in reversed(self.shape))
        if len(self.shape) < 2:
            return f"{label} ({self.kind} {dims}, one-dimensional)"
        if not self.has_pixels:
            return f"{label} ({self.kind} {dims}, zero-length axis)"
        return f"{label} ({self.kind} {dims})"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "kind": self.kind, "shape": self.shape}


def read_fits(
    path: str | Path, *, hdu: int | str | None = None, plane: int | None = None, max_side: int | None = None
) -> Cutout:
    """Read one image (or one band per HDU, combined) from a FITS file.

    Without `hdu`, HDUs that each carry a distinct band name and share a shape are
    combined into one multi-band cutout, since that is how surveys ship g/r/i
    stamps; otherwise the first HDU with pixels is used. `plane` keeps only that
    plane of a cube (0-based along its band axis), so a 40-plane cube can be looked
    at one plane at a time. `max_side` makes a cheap decimated read for thumbnails
    (see decimation_step); the WCS is adjusted to match.
    """
    path = Path(path)
    with _open_fits(path) as (hdul, streamable):
        reads, bands, cube_note = _plan_reads(hdul, _hdu_infos(hdul, path), hdu, path)
        if plane is not None:
            if not 0 <= plane < len(reads):
                raise CutoutError(path, f"no plane {plane}: the image has {counted(len(reads), 'plane')}")
            reads, bands = [reads[plane]], [bands[plane]]
        first = reads[0][0]
        header = hdul[first.index].header.copy()
        height, width = first.shape[-2:]
        step, cap_note = decimation_step(height, width, max_side)
        data = _read_bands(hdul, reads, step, streamable, path)
    wcs = _celestial_wcs(header)
    if wcs is not None:
        if step > 1:
            wcs = _decimate_wcs(wcs, step)
        wcs.pixel_shape = (data.shape[1], data.shape[0])
    meta: dict[str, Any] = {
        "hdu": first.index,
        "hdu_name": first.name,
        "hdus_used": list(dict.fromkeys(info.index for info, _ in reads)),
        "full_shape": (height, width),
        "stored_dtype": _STORED_DTYPES.get(int(header.get("BITPIX", 0)), "unknown"),
    }
    if plane is not None:
        meta["plane"] = plane
    if "BUNIT" in header:
        meta["bunit"] = str(header["BUNIT"])
    notes = [note for note in (cube_note, cap_note) if note]
    if notes:
        meta["note"] = "; ".join(notes)
    return Cutout(
        data=data,
        bands=bands,
        source=str(path),
        format=FORMAT,
        wcs=wcs,
        header=header,
        meta=meta,
        scale=step,
    )


def list_hdus(path: str | Path) -> list[dict[str, Any]]:
    """index, name, kind (astropy class name) and numpy-order shape of every HDU.

    A table's shape is (rows,); an HDU without data has shape ().
    """
    path = Path(path)
    with _open_fits(path) as (hdul, _):
        return [info.as_dict() for info in _hdu_infos(hdul, path)]


@dataclass(frozen=True)
class ImageLayer:
    """One thing the viewer can show from a FITS file: an image HDU, or one plane of a cube.

    `plane` is None for a plain 2-D image (or for "all planes as bands" of a small cube).
    """

    hdu: int
    plane: int | None
    hdu_name: str
    width: int
    height: int
    band: str

    def label(self) -> str:
        """Menu text such as "HDU 3 SCI · 512×512" or "HDU 0 · plane 2: r"."""
        name = f"HDU {self.hdu}" + (f" {self.hdu_name}" if self.hdu_name and self.hdu_name != "PRIMARY" else "")
        if self.plane is None:
            band = f" · {self.band}" if self.band and not self.band.startswith("band") else ""
            return f"{name} · {self.width}×{self.height}{band}"
        return f"{name} · plane {self.plane + 1}: {self.band}"


def list_image_layers(path: str | Path) -> list[ImageLayer]:
    """Every image HDU with pixels and, for a cube, each of its planes; headers only.

    A 100-extension file lists 100 layers; a cube with 5 planes lists 5 (its
    extra axes beyond the band axis are cut at their first plane, as read_fits does).
    """
    path = Path(path)
    layers: list[ImageLayer] = []
    with _open_fits(path) as (hdul, _):
        for info in _hdu_infos(hdul, path):
            if not info.has_pixels:
                continue
            height, width = info.shape[-2:]
            header = hdul[info.index].header
            leads, bands, _ = _plan_planes(info, header)
            if len(leads) == 1:
                layers.append(ImageLayer(info.index, None, info.name, width, height, bands[0]))
                continue
            layers += [ImageLayer(info.index, k, info.name, width, height, band) for k, band in enumerate(bands)]
    return layers


def fits_centre_icrs(path: str | Path) -> tuple[float, float] | None:
    """(RA, Dec) in ICRS degrees of the centre of the file's first image, from its headers
    alone (no pixels are read), for tables of many files; None without a celestial WCS or
    when the file cannot be read."""
    path = Path(path)
    try:
        with _open_fits(path) as (hdul, _):
            info = _first_image(_hdu_infos(hdul, path), path)
            wcs = _celestial_wcs(hdul[info.index].header)
    except CutoutError:
        return None
    if wcs is None:
        return None
    height, width = info.shape[-2:]
    return wcs_centre_icrs(wcs, width, height)


def count_hdus(path: str | Path) -> int:
    path = Path(path)
    with _open_fits(path) as (hdul, _):
        return len(_hdu_infos(hdul, path))


@contextmanager
def _open_fits(path: Path) -> Iterator[tuple[fits.HDUList, bool]]:
    """The open HDU list, and whether its bytes can be read at an offset (not gz/bz2/zip).

    memmap stays off: with it astropy refuses scaled (BSCALE/BZERO) data, and
    without it `section` already reads only the bytes asked for. Warnings are
    silenced because real headers are full of harmless non-standard cards.
    """
    head = _file_head(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
        # astropy raises many exception types on arbitrary bytes; all mean "not readable".
        except Exception as exc:
            raise CutoutError(path, _unreadable_problem(path, head, exc)) from exc
        try:
            yield hdul, not head.startswith(_WHOLE_FILE_MAGIC)
        finally:
            hdul.close()


def _file_head(path: Path) -> bytes:
    require_file(path)
    with path.open("rb") as stream:
        return stream.read(16)


def _unreadable_problem(path: Path, head: bytes, exc: Exception) -> str:
    size = path.stat().st_size
    if head.startswith(b"SIMPLE") and size < _FITS_BLOCK:
        return f"truncated FITS file: {size} bytes, less than one {_FITS_BLOCK}-byte header block"
    if head.startswith(b"SIMPLE"):
        return f"corrupt FITS header ({exc})"
    if head.startswith(_WHOLE_FILE_MAGIC):
        return f"compressed file does not hold a readable FITS file ({exc})"
    return "not a FITS file (it does not start with a SIMPLE card)"


def _hdu_infos(hdul: fits.HDUList, path: Path) -> list[_HduInfo]:
    try:
        return [_hdu_info(index, hdu) for index, hdu in enumerate(hdul)]
    except Exception as exc:  # a later HDU with a corrupt header, as astropy reports it
        raise CutoutError(path, f"corrupt FITS file ({exc})") from exc


def _hdu_info(index: int, hdu: Any) -> _HduInfo:
    is_image = isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and not (
        isinstance(hdu, fits.GroupsHDU)
    )
    if is_image:
        shape = tuple(int(n) for n in hdu.shape)
    elif isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
        shape = (int(hdu.header.get("NAXIS2", 0)),)
    else:
        shape = ()
    return _HduInfo(index, str(hdu.name), type(hdu).__name__, shape, is_image)


def _find_hdu(infos: list[_HduInfo], hdu: int | str, path: Path) -> _HduInfo:
    listing = ", ".join(info.describe() for info in infos)
    if isinstance(hdu, str):
        matches = [info for info in infos if info.name.upper() == hdu.strip().upper()]
        if not matches:
            raise CutoutError(path, f"no HDU named {hdu!r}; HDUs: {listing}")
        info = matches[0]
    else:
        if not 0 <= hdu < len(infos):
            raise CutoutError(path, f"no HDU {hdu} (the file has {len(infos)}); HDUs: {listing}")
        info = infos[hdu]
    if not info.has_pixels:
        raise CutoutError(path, f"HDU {info.describe()} has no image data")
    return info


def _plan_reads(
    hdul: fits.HDUList, infos: list[_HduInfo], hdu: int | str | None, path: Path
) -> tuple[list[tuple[_HduInfo, tuple[int, ...]]], list[str], str | None]:
    """What to read: (HDU, index of its leading axes) per band, the band names, and a note."""
    if hdu is None:
        band_set = _band_set(hdul, infos)
        if band_set:
            reads = [(info, (0,) * (len(info.shape) - 2)) for info, _ in band_set]
            return reads, [band for _, band in band_set], None
        info = _first_image(infos, path)
    else:
        info = _find_hdu(infos, hdu, path)
    leads, bands, note = _plan_planes(info, hdul[info.index].header)
    return [(info, lead) for lead in leads], bands, note


def _first_image(infos: list[_HduInfo], path: Path) -> _HduInfo:
    for info in infos:
        if info.has_pixels:
            return info
    listing = ", ".join(info.describe() for info in infos)
    if any(info.kind in ("BinTableHDU", "TableHDU") for info in infos):
        listing += "; a table (open it on its own as a catalogue when it lists images)"
    raise CutoutError(path, f"no image data; HDUs: {listing}")


def _band_set(hdul: fits.HDUList, infos: list[_HduInfo]) -> list[tuple[_HduInfo, str]]:
    """Image HDUs that each carry a distinct band name and share the first one's shape.

    Empty unless there are at least two: a lone band-named HDU is just an image, and
    two HDUs with the same band (science and weight, say) are not a colour set.
    """
    banded = []
    for info in infos:
        if info.has_pixels and len(info.squeezed_shape) == 2:
            band = _band_name(hdul[info.index].header)
            if band is not None:
                banded.append((info, band))
    if not banded:
        return []
    shape = banded[0][0].squeezed_shape
    same_shape = [(info, band) for info, band in banded if info.squeezed_shape == shape]
    names = [band for _, band in same_shape]
    if len(same_shape) < 2 or len(set(names)) != len(names):
        return []
    return same_shape


def _band_name(header: fits.Header) -> str | None:
    """A filter name from BAND, FILTER or EXTNAME, if one of them looks like one.

    Only short filter names count (g, r, Ks, F814W, W1, NUV...), so that an EXTNAME
    such as SCI or WHT never turns a science/weight pair into "bands". FILTER values
    like "g DECam SDSS c0001" use their first word; "g-band" becomes "g".
    """
    for key in ("BAND", "FILTER", "EXTNAME"):
        value = str(header.get(key, "")).strip()
        if not value:
            continue
        for candidate in (value, value.split()[0], _BAND_SUFFIX.sub("", value)):
            if _BAND_NAME.fullmatch(candidate):
                return candidate
    return None


def _plan_planes(info: _HduInfo, header: fits.Header) -> tuple[list[tuple[int, ...]], list[str], str | None]:
    """Index tuples for the leading axes of each band to read, the band names, and a note.

    The non-degenerate axis next to the image plane holds the bands; any further
    axes (Stokes, time...) are cut at their first plane, which the note reports.
    """
    lead = info.shape[:-2]
    axes = [axis for axis, n in enumerate(lead) if n > 1]
    if not axes:
        return [(0,) * len(lead)], [_band_name(header) or "band0"], None
    band_axis = axes[-1]
    note = None
    if len(axes) > 1:
        dims = "x".join(str(n) for n in reversed(info.shape))
        note = f"{len(info.shape)}-D data ({dims}): showing the first plane of the extra axes"
    count = lead[band_axis]
    leads = [tuple(k if axis == band_axis else 0 for axis in range(len(lead))) for k in range(count)]
    fits_axis = len(info.shape) - band_axis
    return leads, _cube_band_names(header, count, fits_axis), note


def _cube_band_names(header: fits.Header, count: int, fits_axis: int) -> list[str]:
    """Band names for a cube: BANDn/FILTERn, a BANDS/FILTERS list, the axis' world values."""
    candidates = [
        [str(header.get(f"{prefix}{k}", "")).strip() for k in range(1, count + 1)] for prefix in ("BAND", "FILTER")
    ]
    candidates += [
        [part for part in re.split(r"[,;\s]+", str(header.get(key, "")).strip()) if part]
        for key in ("BANDS", "FILTERS")
    ]
    candidates.append(_axis_values(header, count, fits_axis))
    for names in candidates:
        if len(names) == count and all(names) and len(set(names)) == count:
            return names
    return [f"band{k}" for k in range(count)]


def _axis_values(header: fits.Header, count: int, fits_axis: int) -> list[str]:
    """ "WAVE 4770 Angstrom"-style labels from the axis' CTYPE/CRVAL/CDELT/CRPIX, if any."""
    ctype = str(header.get(f"CTYPE{fits_axis}", "")).strip()
    if not ctype:
        return []
    try:
        crval = float(header.get(f"CRVAL{fits_axis}", 0.0))
        crpix = float(header.get(f"CRPIX{fits_axis}", 1.0))
        delta = float(header.get(f"CDELT{fits_axis}", header.get(f"CD{fits_axis}_{fits_axis}", 1.0)))
    except (TypeError, ValueError):
        return []
    unit = str(header.get(f"CUNIT{fits_axis}", "")).strip()
    suffix = f" {unit}" if unit else ""
    return [f"{ctype} {crval + (k + 1 - crpix) * delta:g}{suffix}" for k in range(count)]


def _check_complete(hdul: fits.HDUList, info: _HduInfo, file_size: int, path: Path) -> None:
    """Refuse a truncated HDU up front, with sizes, rather than fail mid-read.

    An image needs exactly its pixel bytes (the final padding may be missing); for a
    tile-compressed HDU only the padded span is known, so it needs all but one block.
    """
    hdu = hdul[info.index]
    location = hdul.fileinfo(info.index)
    if isinstance(hdu, fits.CompImageHDU):
        needed = location["datLoc"] + location["datSpan"] - (_FITS_BLOCK - 1)
        amount = f"at least {needed}"
    else:
        bytes_per_pixel = abs(int(hdu.header["BITPIX"])) // 8
        needed = location["datLoc"] + bytes_per_pixel * math.prod(info.shape)
        amount = str(needed)
    if file_size < needed:
        raise CutoutError(path, f"file is truncated: {file_size} bytes, but HDU {info.index} needs {amount}")


def _read_bands(
    hdul: fits.HDUList,
    reads: list[tuple[_HduInfo, tuple[int, ...]]],
    step: int,
    streamable: bool,
    path: Path,
) -> np.ndarray:
    """(height, width, bands) float32, filled band by band so one extra plane is in memory."""
    file_size = path.stat().st_size

    def plane(info: _HduInfo, lead: tuple[int, ...]) -> np.ndarray:
        if streamable:
            _check_complete(hdul, info, file_size, path)
        return _read_plane(hdul[info.index], info, lead, step, streamable, path)

    if len(reads) == 1:
        return plane(*reads[0])[:, :, np.newaxis]
    height, width = reads[0][0].shape[-2:]
    data = np.empty((math.ceil(height / step), math.ceil(width / step), len(reads)), np.float32)
    for band, (info, lead) in enumerate(reads):
        data[:, :, band] = plane(info, lead)
    return data


def _read_plane(hdu: Any, info: _HduInfo, lead: tuple[int, ...], step: int, streamable: bool, path: Path) -> np.ndarray:
    """One band as float32 in physical units, every `step`-th pixel, read lazily.

    Decimated reads go strip by strip (a row, or a row of compression tiles), so a
    thumbnail of a 20000x20000 image never holds more than one strip in memory.
    """
    height, width = info.shape[-2:]
    try:
        if not streamable:
            return np.asarray(hdu.data[lead][::step, ::step], dtype=np.float32)
        if step == 1:
            return np.asarray(hdu.section[lead + (slice(None), slice(None))], dtype=np.float32)
        block = int(hdu.tile_shape[-2]) if isinstance(hdu, fits.CompImageHDU) else 1
        out = np.empty((math.ceil(height / step), math.ceil(width / step)), dtype=np.float32)
        strip_start, strip = -1, np.empty((0, 0), dtype=np.float32)
        for out_row, row in enumerate(range(0, height, step)):
            start = row - row % block
            if start != strip_start:
                rows_slice = slice(start, min(start + block, height))
                strip_start, strip = start, hdu.section[lead + (rows_slice, slice(None))]
            out[out_row] = strip[row - start, ::step]
        return out
    except MemoryError as exc:
        raise CutoutError(path, f"not enough memory to read the {width}x{height} image of HDU {info.index}") from exc
    except Exception as exc:  # corrupt tiles or short data surface as many exception types
        raise CutoutError(path, f"could not read the image data of HDU {info.index} ({exc})") from exc


def _celestial_wcs(header: fits.Header) -> WCS | None:
    """The 2-D celestial WCS of the image plane, or None when the header has no usable one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            full = WCS(header)
            if not full.has_celestial or sorted((full.wcs.lng, full.wcs.lat)) != [0, 1]:
                return None
            celestial = full.celestial
            celestial.wcs.set()
        except Exception:  # any malformed WCS keyword: show the image without coordinates
            return None
    return celestial


def _decimate_wcs(wcs: WCS, step: int) -> WCS:
    """The WCS of the grid that keeps full-resolution pixels 0, step, 2*step...

    astropy's WCS.slice treats a decimated pixel as the centre of a step x step block
    (half a block off for a strided read) and ignores CD matrices, so this rescales
    the linear part and SIP itself. Lookup-table distortions are dropped: they are
    sub-pixel at full resolution and invisible after decimation.
    """
    new = wcs.deepcopy()
    new.wcs.crpix = (wcs.wcs.crpix - 1.0) / step + 1.0
    if wcs.wcs.has_cd():
        new.wcs.cd = wcs.wcs.cd * step
    else:
        new.wcs.cdelt = wcs.wcs.cdelt * step
    if wcs.sip is not None:
        new.sip = Sip(
            _scale_sip(wcs.sip.a, step),
            _scale_sip(wcs.sip.b, step),
            _scale_sip(wcs.sip.ap, step),
            _scale_sip(wcs.sip.bp, step),
            new.wcs.crpix,
        )
    new.cpdis1 = new.cpdis2 = new.det2im1 = new.det2im2 = None
    new.wcs.set()
    return new


def _scale_sip(coefficients: np.ndarray | None, step: int) -> np.ndarray | None:
    """SIP term u^p v^q in full pixels becomes step^(p+q-1) times it in decimated pixels."""
    if coefficients is None:
        return None
    p, q = np.indices(coefficients.shape)
    return coefficients * float(step) ** (p + q - 1)
