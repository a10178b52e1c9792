"""Commands on cutout files: inspect, render, demo-data."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from galaxy_studio.cli.errors import CommandError, print_error, require_writable_output
from galaxy_studio.cli.progress import ProgressPrinter, add_quiet_option
from galaxy_studio.count_text import counted
from galaxy_studio.data.colormaps import COLORMAPS, GREY
from galaxy_studio.data.cutout import CutoutError


def _inspect_record(path: str, hdu: int | str | None = None, plane: int | None = None) -> dict[str, Any]:
    from galaxy_studio.data.formats import detect_format, read_cutout

    if detect_format(path) == "hdf5":
        from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES, open_galaxy10

        g10 = open_galaxy10(path)
        return {
            "path": path,
            "format": "galaxy10",
            "shape": [len(g10), *g10.image_shape],
            "dtype": "uint8",
            "bands": ["R", "G", "B"],
            "hdus": None,
            "wcs": None,
            "nan_count": 0,
            "classes": list(GALAXY10_CLASSES),
        }
    cutout = read_cutout(path, hdu=hdu, plane=plane)
    centre = cutout.centre_sky_position()
    record: dict[str, Any] = {
        "path": path,
        "format": cutout.format,
        "shape": list(cutout.data.shape),
        "dtype": str(cutout.meta.get("stored_dtype", cutout.data.dtype)),
        "bands": list(cutout.bands),
        "hdus": None,
        "wcs": None if centre is None else {"ra": centre[0], "dec": centre[1]},
        "nan_count": cutout.nan_count,
    }
    if cutout.format == "fits":
        from galaxy_studio.data.fits import count_hdus

        record["hdus"] = count_hdus(path)
    if cutout.scale > 1:
        record["decimated_by"] = cutout.scale
    return record


def _describe(record: dict[str, Any]) -> str:
    shape = "x".join(str(n) for n in record["shape"])
    parts = [record["path"], record["format"], shape, record["dtype"], "bands " + ",".join(record["bands"])]
    if record["hdus"] is not None:
        parts.append(counted(record["hdus"], "HDU"))
    if record["wcs"]:
        parts.append(f"centre RA {record['wcs']['ra']:.6f} Dec {record['wcs']['dec']:.6f}")
    if record["nan_count"]:
        parts.append(f"{record['nan_count']} non-finite")
    return "  ".join(parts)


def _for_each_file(paths: Sequence[str], action: Callable[[str], None]) -> int:
    """Run `action` on every path; a bad file is reported and skipped, the rest proceed."""
    failures = 0
    for path in paths:
        try:
            action(path)
        except CutoutError as error:
            print_error(str(error))
            failures += 1
        except OSError as error:
            print_error(f"{path}: {error.strerror or error}")
            failures += 1
    return 1 if failures else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    hdu, plane = _parse_hdu(args.hdu), _parse_slice(args.slice)

    def show(path: str) -> None:
        if args.layers:
            _print_layers(path)
        if args.details:
            _print_details(path, hdu, plane)
            return
        record = _inspect_record(path, hdu, plane)
        print(json.dumps(record) if args.json else _describe(record), flush=True)

    return _for_each_file(args.files, show)


def _print_layers(path: str) -> None:
    """Every image HDU and cube plane, as the viewer's Layer menu lists them, with the flags that pick each."""
    from galaxy_studio.data.fits import list_image_layers

    print(f"{path}:")
    for layer in list_image_layers(path):
        flags = f"--hdu {layer.hdu}" + ("" if layer.plane is None else f" --slice {layer.plane + 1}")
        print(f"  {layer.label():<40} {flags}")


def _print_details(path: str, hdu: int | str | None, plane: int | None) -> None:
    """The viewer's Details tab, as text."""
    from galaxy_studio.data.details import detail_rows
    from galaxy_studio.data.display import explain_auto
    from galaxy_studio.data.formats import read_cutout

    cutout = read_cutout(path, hdu=hdu, plane=plane)
    rows = [*detail_rows(cutout), ("Auto display", explain_auto(cutout))]
    width = max(len(label) for label, _ in rows)
    for label, text in rows:
        print(f"{label:>{width}}  {text}")


def _parse_slice(value: int | None) -> int | None:
    """--slice counts planes from 1, as the layer list shows them; the reader counts from 0."""
    if value is None:
        return None
    if value < 1:
        raise CommandError(f"--slice counts cube planes from 1, got {value}")
    return value - 1


def _parse_limits(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--limits must be LOW,HIGH pixel values, got {text!r}") from None
    if not low < high:
        raise CommandError(f"--limits must have LOW below HIGH, got {text!r}")
    return low, high


def _parse_bands(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        bands = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--bands must be one or three comma-separated band indices, got {text!r}") from None
    if len(bands) not in (1, 3):
        raise CommandError(f"--bands must be one or three comma-separated band indices, got {text!r}")
    return bands


def cmd_render(args: argparse.Namespace) -> int:
    from PIL import Image

    from galaxy_studio.data.display import (
        DisplaySettings,
        default_settings,
        fit_into_square,
        render_rgb,
    )
    from galaxy_studio.data.formats import read_cutout

    cutout = read_cutout(args.file, hdu=_parse_hdu(args.hdu), plane=_parse_slice(args.slice))
    base = default_settings(cutout)
    settings = DisplaySettings(
        stretch=args.stretch or base.stretch,
        interval=args.interval or base.interval,
        composite=args.composite,
        bands=_parse_bands(args.bands),
        invert=args.invert,
        linked=base.linked if args.linked is None else args.linked,
        colormap=args.colormap,
        limits=_parse_limits(args.limits),
    )
    try:
        rgb = render_rgb(cutout, settings)
    except ValueError as error:
        raise CommandError(f"{args.file}: {error}") from None
    if args.size:
        rgb = fit_into_square(rgb, args.size)
    out = Path(args.out)
    try:
        Image.fromarray(rgb).save(out)
    except (OSError, ValueError) as error:
        raise CommandError(f"{out}: cannot write image: {error}") from None
    print(f"{out}: {rgb.shape[1]}x{rgb.shape[0]} {settings.stretch}/{settings.interval}")
    return 0


def _parse_hdu(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def cmd_demo_data(args: argparse.Namespace) -> int:
    from galaxy_studio.data.synthetic import write_demo_set

    require_writable_output(args.dir, folder=True)
    try:
        with ProgressPrinter(quiet=args.quiet) as emit:
            paths = write_demo_set(
                Path(args.dir), per_class=args.per_class, size=args.size, fmt=args.format, seed=args.seed, emit=emit
            )
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(f"wrote {len(paths)} demo galaxies to {args.dir}")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("inspect", help="describe cutout files (one line or JSON object per file)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--hdu", help="FITS HDU index or EXTNAME (default: first image, bands combined)")
    p.add_argument("--slice", type=int, metavar="N", help="cube plane N, counted from 1 (as --layers lists them)")
    p.add_argument("--layers", action="store_true", help="list every image HDU and cube plane of a FITS file")
    p.add_argument(
        "--details", action="store_true", help="describe in words: layer, size, pixel scale, orientation, WCS"
    )
    p.set_defaults(handler=cmd_inspect)

    p = sub.add_parser("render", help="render a cutout to PNG/JPEG with an astronomical stretch")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--stretch", choices=("linear", "sqrt", "log", "asinh", "histeq"))
    p.add_argument("--interval", choices=("minmax", "99.5%", "99%", "95%", "zscale"))
    p.add_argument("--composite", choices=("per-band", "lupton"), default="per-band")
    p.add_argument("--bands", help="band indices: one (grey) or three for R,G,B, e.g. 2,1,0")
    p.add_argument("--hdu", help="FITS HDU index or EXTNAME (default: first image, bands combined)")
    p.add_argument("--slice", type=int, metavar="N", help="cube plane N, counted from 1 (see inspect --layers)")
    p.add_argument("--colormap", choices=COLORMAPS, default=GREY, help="colour map for a single band")
    p.add_argument("--limits", metavar="LOW,HIGH", help="pixel values shown as black and white (replaces --interval)")
    link = p.add_mutually_exclusive_group()
    link.add_argument("--linked", dest="linked", action="store_true", default=None, help="one interval for all bands")
    link.add_argument("--per-band", dest="linked", action="store_false", help="an interval per band")
    p.add_argument("--invert", action="store_true")
    p.add_argument("--size", type=int, help="fit into a SIZE x SIZE square")
    p.add_argument("--out", required=True, metavar="OUT.png")
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("demo-data", help="write procedural demo galaxies, a folder per class")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--size", type=int, default=128, metavar="PX")
    p.add_argument("--format", choices=("jpeg", "fits"), default="jpeg")
    p.add_argument("--seed", type=int, default=0)
    add_quiet_option(p)
    p.set_defaults(handler=cmd_demo_data)
