"""The CLI reference page, written from the argparse parser at every docs build.

A hand-kept copy of `--help` goes stale the first time an option is added; this mkdocs hook
(`hooks:` in mkdocs.yml) renders `cli-reference.md` from `galaxy_studio.cli.build_parser()`
itself, so the page always shows the options of the code it was built from.
tests/test_docs.py checks that every subcommand appears.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

PAGE = "cli-reference.md"
HELP_WIDTH = "80"

INTRO = """# CLI reference

Generated from the `galaxy-studio` argument parser when this site was built: the text below is
each command's own `--help`. [Command line](commands.md) says in a table what each command does
and which files it reads and writes.
"""


def subcommands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command below `parser`, depth first, as (full command line, its parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, child in action.choices.items():
                if id(child) in seen:
                    continue
                seen.add(id(child))
                path = f"{prefix} {name}"
                yield path, child
                yield from subcommands(child, path)


def render_cli_reference(parser: argparse.ArgumentParser) -> str:
    """Markdown for the whole command tree: each command's help text under a heading of its own."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps to the terminal; the page must not depend on it
    try:
        commands = [(parser.prog, parser), *subcommands(parser, parser.prog)]
        sections = [
            f"## `{path}` {{#{anchor(path)}}}\n\n```text\n{child.format_help().rstrip()}\n```\n"
            for path, child in commands
        ]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join([INTRO, *sections])


def anchor(path: str) -> str:
    """A stable heading id for a command line: `galaxy-studio project add` -> `galaxy-studio-project-add`."""
    return path.replace(" ", "-")


def on_files(files: Any, config: Any) -> Any:
    """mkdocs event: add the generated page to the site's files before the pages are read."""
    from mkdocs.structure.files import File

    from galaxy_studio.cli import build_parser

    files.append(File.generated(config, PAGE, content=render_cli_reference(build_parser())))
    return files
