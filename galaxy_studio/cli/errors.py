"""How a command fails: one line on stderr, no traceback, and a hint in the CLI's words."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from galaxy_studio.distributed import launched_ranks

PROG = "galaxy-studio"

Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A failure the user can act on; printed as one line without a traceback."""


def print_error(text: str) -> None:
    print(f"{PROG}: {_rank_prefix()}error: {text}", file=sys.stderr, flush=True)


def print_warning(text: str) -> None:
    print(f"{PROG}: {_rank_prefix()}warning: {text}", file=sys.stderr, flush=True)


def _rank_prefix() -> str:
    """Under torchrun every process prints to the same terminal: say which one speaks."""
    ranks = launched_ranks()
    return f"rank {ranks.rank}: " if ranks.several else ""


def require_writable_output(path: str, *, folder: bool = False) -> None:
    """Refuse an output file (or `folder`) that could not be written before the command does
    its work."""
    from galaxy_studio.atomic_files import output_folder_problem, output_problem

    problem = output_folder_problem(path) if folder else output_problem(path)
    if problem is not None:
        raise CommandError(f"{path}: {problem}; nothing was done")


def write_result_table(table: Any, out: str, fmt: str | None, what: str) -> None:
    """Write a command's result table (an astropy Table) to `out`; a disk that is full or gone
    is one line naming the file. Says on stderr what was written, in which format."""
    from galaxy_studio.data.tables import write_table

    try:
        written = write_table(table, out, fmt=fmt)
    except OSError as error:
        raise CommandError(f"{out}: cannot write {what}: {error.strerror or error}") from None
    print(f"{out}: {what}, {len(table)} rows ({written.upper()})", file=sys.stderr)


def reporting_project_errors(handler: Handler) -> Handler:
    """Project problems (damaged, busy, unknown class, ...) are one-line errors like the rest."""

    def run(args: argparse.Namespace) -> int:
        from galaxy_studio.labels.errors import ProjectError

        try:
            return handler(args)
        except ProjectError as error:
            raise CommandError(str(error)) from None

    return run


def model_errors(action: Callable[[], Any], interrupted: str) -> Any:
    """Run a job: its ModelError becomes one line; Ctrl-C says what was kept."""
    from galaxy_studio.model.errors import ModelError

    try:
        return action()
    except ModelError as error:
        raise CommandError(str(error)) from None
    except KeyboardInterrupt:
        print_error(interrupted)
        raise
