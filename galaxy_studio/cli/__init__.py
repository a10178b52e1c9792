"""The `galaxy-studio` command: no subcommand opens the GUI; subcommands run jobs headless.

A module per command group, each a thin layer of parsing and printing over the core. Heavy
imports (Qt, torch) happen inside the handlers so that `--help` and the file-inspection
commands start fast; the options of the config-driven commands are generated from the
settings declared on the configs' fields (cli/options.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from galaxy_studio.cli import (
    app,
    classifier,
    distill,
    explore,
    files,
    project,
    unsupervised,
)
from galaxy_studio.cli.errors import PROG, CommandError, print_error
from galaxy_studio.cpu_runtime import restart_with_fast_allocator
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.distributed import launched_ranks, process_group
from galaxy_studio.errors import UserError
from galaxy_studio.model.errors import ModelError
from galaxy_studio.path_text import make_streams_readable
from galaxy_studio.settings import option_flag

__all__ = ["PROG", "CommandError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Galaxy Studio: view, label, train on, distill and classify galaxy cutouts. "
        "Without a command the desktop application opens.",
    )
    app.add_app_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (app, files, project, classifier, distill, explore, unsupervised):
        group.add_commands(sub)
    return parser


def launch() -> int:
    """The `galaxy-studio` program (and `python -m galaxy_studio`): `main` in a process that
    first restarts itself with a faster allocator where the system has one. Only the program
    does this, never a caller of `main` (a test, a notebook)."""
    restart_with_fast_allocator()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    make_streams_readable()
    args = build_parser().parse_args(argv)
    try:
        if args.self_test:
            from galaxy_studio.self_test import self_test

            return self_test()
        if launched_ranks().several:
            return _run_as_rank(args)
        if args.command is None:
            return app.run_gui(args)
        return args.handler(args)
    except UserError as error:
        print_error(error.text(option_flag))
        return 1
    except (CommandError, CutoutError, ModelError) as error:
        print_error(str(error))
        return 1
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130


def _run_as_rank(args: argparse.Namespace) -> int:
    """One of the processes torchrun started: only the commands that split their work join
    the group (the others would each write the same output); ranks other than 0 draw no
    progress bars, so that the terminal shows one."""
    if not getattr(args, "distributed", False):
        raise CommandError(
            f"{args.command or 'the desktop application'} runs in one process; under torchrun run classify, "
            "buffer or train (or start this command without torchrun)"
        )
    with process_group(getattr(args, "device", "auto")) as ranks:
        if not ranks.leader and hasattr(args, "quiet"):
            args.quiet = True
        return int(args.handler(args))
