"""JPEG, PNG, TIFF (anything Pillow decodes) as Cutouts in the file's own pixel units.

Survey colour cutouts (SDSS, Legacy Survey, Galaxy Zoo) are JPEGs and PNGs; lab
and amateur data are often 16-bit TIFF/PNG. Values stay 0..255 or 0..65535 so the
display stretch sees what the file holds; colour models are mapped to RGB or grey.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from galaxy_studio.data.cutout import Cutout, CutoutError, require_file
from galaxy_studio.data.decimation import decimation_step

_GREY_MODES = {"1", "L", "LA", "La", "I", "F"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_QUARTER_TURNS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_BIT_DEPTHS = {"uint16": 16, "int32": 32, "float32": 32}  # the display treats 8 bits as rendered
_BANDS = {"L": ["L"], "I": ["L"], "F": ["L"], "RGB": ["R", "G", "B"]}


def read_raster(path: str | Path, *, max_side: int | None = None) -> Cutout:
    """Decode an image file; with `max_side`, decode a reduced version (JPEG at 1/2..1/8 scale).

    The format comes from the decoded content, so a JPEG named .png reads as jpeg.
    Images past Pillow's decompression-bomb limit are refused with their size
    rather than decoded into gigabytes.
    """
    path = Path(path)
    require_file(path)
    try:
        with Image.open(path) as image:
            return _decode(image, path, max_side)
    except CutoutError:
        raise
    except Image.DecompressionBombError as exc:
        raise CutoutError(path, _too_large_problem(path)) from exc
    except UnidentifiedImageError as exc:
        raise CutoutError(path, "not an image Pillow can decode") from exc
    except MemoryError as exc:
        raise CutoutError(path, "not enough memory to decode this image") from exc
    # Truncated or corrupt data surfaces as OSError, SyntaxError, ValueError, EOFError...
    except Exception as exc:
        raise CutoutError(path, f"corrupt or truncated image ({exc})") from exc


def _decode(image: Image.Image, path: Path, max_side: int | None) -> Cutout:
    """Pixels of an opened image: draft (JPEG), orient, map to grey/RGB, reduce, to float32."""
    full_width, full_height = image.size
    fmt = (image.format or "raster").lower()
    original_mode = image.mode
    step, note = decimation_step(full_height, full_width, max_side)
    draft_scale = 1
    if step > 1 and fmt == "jpeg":
        image.draft(image.mode, (math.ceil(full_width / step), math.ceil(full_height / step)))
        draft_scale = max(1, round(full_width / image.size[0]))
    has_alpha = original_mode in _ALPHA_MODES or (original_mode == "P" and "transparency" in image.info)
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
    image = _to_plain_mode(image, path)
    reduce_by = math.ceil(step / draft_scale) if step > 1 else 1
    if reduce_by > 1:
        image = image.reduce(reduce_by)
    data = np.asarray(image, dtype=np.float32)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if orientation in _QUARTER_TURNS:
        full_width, full_height = full_height, full_width
    stored_dtype = _stored_dtype(original_mode)
    meta: dict[str, Any] = {
        "mode": original_mode,
        "full_shape": (full_height, full_width),
        "stored_dtype": stored_dtype,
        "bit_depth": _BIT_DEPTHS.get(stored_dtype, 8),
    }
    if has_alpha:
        meta["alpha"] = True
    if orientation != 1:
        meta["exif_orientation"] = orientation
    if note:
        meta["note"] = note
    return Cutout(
        data=data,
        bands=list(_BANDS[image.mode]),
        source=str(path),
        format=fmt,
        meta=meta,
        scale=draft_scale * reduce_by,
    )


def _to_plain_mode(image: Image.Image, path: Path) -> Image.Image:
    """Grey ("L"), 32-bit integer ("I", holds 16-bit values), float ("F") or "RGB".

    Alpha is dropped (the sky has no transparency; the meta records it was there);
    palette, CMYK, YCbCr, LAB and HSV become RGB.
    """
    mode = image.mode
    if mode in ("L", "I", "F", "RGB"):
        return image
    if mode in _SIXTEEN_BIT_MODES:
        return image.convert("I")
    if mode == "La":
        return image.convert("LA").convert("L")
    if mode in _GREY_MODES:
        return image.convert("L")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise CutoutError(path, f"unsupported pixel mode {mode}") from exc


def _stored_dtype(mode: str) -> str:
    """The sample type in the file (the Cutout always holds float32)."""
    if mode in _SIXTEEN_BIT_MODES:
        return "uint16"
    return {"1": "bool", "I": "int32", "F": "float32"}.get(mode, "uint8")


def _too_large_problem(path: Path) -> str:
    """Name the size of an image Pillow refused to open, read from its header alone."""
    limit = Image.MAX_IMAGE_PIXELS * 2 if Image.MAX_IMAGE_PIXELS else 0
    size = _declared_size(path)
    limit_text = f"larger than the {limit / 1e6:.0f} MP Pillow limit"
    if size is None:
        return f"image is {limit_text}"
    width, height = size
    return f"image is {width}x{height} ({width * height / 1e6:.0f} MP), {limit_text}"


def _declared_size(path: Path) -> tuple[int, int] | None:
    """The header's width and height, asked of each Pillow plugin without the size check.

    Image.open applies the decompression-bomb check after the plugin has parsed the
    header; calling the plugin's factory directly (as Image.open does) skips it.
    """
    Image.init()
    with path.open("rb") as stream:
        prefix = stream.read(16)
        for plugin_id in Image.ID:
            factory, accept = Image.OPEN[plugin_id]
            if accept is not None and not accept(prefix):
                continue
            stream.seek(0)
            try:
                return factory(stream, str(path)).size
            except Exception:  # this plugin does not understand the file; try the next
                continue
    return None
