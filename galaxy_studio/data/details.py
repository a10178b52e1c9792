"""The viewer's Details tab as rows a user reads: what was read, from where, and how it maps to the sky.

Cutout.meta holds what the readers record for programs (`hdus_used`, `stored_dtype`);
these rows say the same in words, and add what the WCS tells (pixel scale,
orientation) or say plainly that there is no WCS.
"""

from __future__ import annotations

import re
from pathlib import Path

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.orientation import compass, pixel_scale_arcsec

_GENERIC_BAND = re.compile(r"band\d+")  # the reader's name for a band the file does not name
_STORED_AS = {
    "uint8": "8-bit integers",
    "int16": "16-bit integers",
    "int32": "32-bit integers",
    "int64": "64-bit integers",
    "float32": "32-bit floating point",
    "float64": "64-bit floating point",
}


def image_layer_text(cutout: Cutout) -> str | None:
    """ "HDU 2 (SCI)", "HDUs 1, 2, 3 combined as bands g, r, i", or "HDU 0, plane 3 of the cube"; None for rasters."""
    meta = cutout.meta
    if "hdu" not in meta:
        return None
    used = list(meta.get("hdus_used", [meta["hdu"]]))
    name = str(meta.get("hdu_name", ""))
    named = f" ({name})" if name and name != "PRIMARY" else ""
    if len(used) > 1:
        return f"HDUs {', '.join(str(i) for i in used)} combined as bands {', '.join(cutout.bands)}"
    text = f"HDU {used[0]}{named}"
    if "plane" in meta:
        text += f", plane {int(meta['plane']) + 1} ({cutout.bands[0]})"
    elif cutout.n_bands > 1:
        text += f", all {cutout.n_bands} planes as bands"
    return text


def detail_rows(cutout: Cutout) -> list[tuple[str, str]]:
    """(label, text) rows for the Details tab, in reading order."""
    rows = [("File", Path(cutout.source).name), ("Folder", str(Path(cutout.source).parent))]
    rows.append(("Format", cutout.format.upper()))
    layer = image_layer_text(cutout)
    if layer is not None:
        rows.append(("Image layer", layer))
    band_word = "band" if cutout.n_bands == 1 else "bands"
    full_h, full_w = cutout.meta.get("full_shape", (cutout.height * cutout.scale, cutout.width * cutout.scale))
    named = [band for band in cutout.bands if not _GENERIC_BAND.fullmatch(band)]
    names = f": {', '.join(cutout.bands)}" if named else ""
    rows.append(("Size", f"{full_w} × {full_h} pixels, {cutout.n_bands} {band_word}{names}"))
    if cutout.scale > 1:
        rows.append(
            (
                "Shown at",
                f"1 pixel in {cutout.scale} along each axis ({cutout.width} × {cutout.height}): "
                "the full image is larger than the viewer keeps in memory",
            )
        )
    stored = str(cutout.meta.get("stored_dtype", cutout.meta.get("bit_depth", "")))
    if stored in _STORED_AS:
        rows.append(("Stored as", _STORED_AS[stored]))
    elif stored.isdigit():
        rows.append(("Stored as", f"{stored}-bit integers"))
    if "bunit" in cutout.meta:
        rows.append(("Pixel units", str(cutout.meta["bunit"])))
    rows.append(
        ("Blank pixels", "none" if cutout.nan_count == 0 else f"{cutout.nan_count:,} (NaN or infinite, shown black)")
    )
    rows += _sky_rows(cutout)
    if "note" in cutout.meta:
        rows.append(("Note", str(cutout.meta["note"])))
    return rows


def _sky_rows(cutout: Cutout) -> list[tuple[str, str]]:
    centre = cutout.centre_sky_position()
    direction = compass(cutout)
    scale = pixel_scale_arcsec(cutout)
    if centre is None or direction is None or scale is None:
        return [
            (
                "World coordinates",
                "none: the file has no celestial WCS, so there is no RA/Dec, compass or pixel scale",
            )
        ]
    field_w = cutout.width * cutout.scale * scale / 60.0
    field_h = cutout.height * cutout.scale * scale / 60.0
    return [
        ("World coordinates", f"celestial WCS ({_projection(cutout)})"),
        ("Centre", f"RA {centre[0]:.6f}°, Dec {centre[1]:+.6f}°"),
        ("Pixel scale", f"{scale:.3g}″/px"),
        ("Field of view", f"{field_w:.2f}′ × {field_h:.2f}′"),
        ("Orientation", direction.describe()),
    ]


def _projection(cutout: Cutout) -> str:
    ctype = [str(name) for name in cutout.wcs.wcs.ctype]
    code = ctype[0][-3:] if ctype and len(ctype[0]) >= 3 else "?"
    return f"{code} projection"
