"""The desktop application from the command line: no command, or `open PATH...`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from galaxy_studio import __version__
from galaxy_studio.cli.errors import PROG

PANELS = ("library", "train", "distill", "classify", "explore")


def add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo set (created once)")
    parser.add_argument(
        "--screenshot", metavar="OUT.png", help="open the window, wait for the thumbnails, save a grab and exit"
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check that this installation works (torch, torchvision operators, FITS, window); "
        "one line per check, exit 0 only if all pass",
    )
    parser.add_argument(
        "--samp",
        action="store_true",
        help="connect to the SAMP hub on this computer (DS9, TOPCAT, Aladin) and reconnect when it restarts",
    )
    parser.add_argument(
        "--panel",
        choices=PANELS,
        default="library",
        help="the tab to open; with --demo, distill runs a short live distillation of the demo set "
        "and explore embeds and maps it",
    )


def run_gui(args: argparse.Namespace, paths: Sequence[str] = ()) -> int:
    from galaxy_studio.gui.app import run_app

    return run_app(
        paths=list(paths),
        demo=args.demo,
        screenshot=Path(args.screenshot) if args.screenshot else None,
        panel=args.panel,
        samp=args.samp,
    )


def cmd_open(args: argparse.Namespace) -> int:
    return run_gui(args, paths=args.paths)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("open", help="open files, folders, HDF5 or CSV catalogues in the GUI")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(handler=cmd_open)
