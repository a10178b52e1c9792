"""The documentation stays in step with the code: the generated CLI reference covers every
command and option, every page is in the site's navigation, links lead somewhere, and the
README keeps the commands CI runs. (`mkdocs build --strict` in .ci/run checks the rest.)"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from galaxy_studio.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "hooks" / "cli_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_lines(parser: argparse.ArgumentParser, prefix: str) -> dict[str, argparse.ArgumentParser]:
    """Every command line the parser accepts, walked here independently of the hook."""
    found = {prefix: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found |= command_lines(child, f"{prefix} {name}")
    return found


def section(page: str, command: str) -> str:
    start = page.index(f"## `{command}` ")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else None]


def test_the_generated_cli_reference_shows_every_command_and_option() -> None:
    parser = build_parser()
    page = load_hook().render_cli_reference(parser)
    commands = command_lines(parser, parser.prog)
    assert len(commands) > 20
    for command, child in commands.items():
        assert f"## `{command}` " in page, f"{command} is missing from the CLI reference"
        text = section(page, command)
        for action in child._actions:
            for flag in action.option_strings:
                assert flag in text, f"{command}: {flag} is missing from its section"


def test_the_reference_does_not_depend_on_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    render = load_hook().render_cli_reference
    monkeypatch.setenv("COLUMNS", "40")
    narrow = render(build_parser())
    monkeypatch.setenv("COLUMNS", "250")
    assert render(build_parser()) == narrow


def test_the_site_builds_the_reference_and_lists_every_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assert "- docs/hooks/cli_reference.py" in config
    nav = set(re.findall(r"^\s*- [^:\n]+: (\S+\.md)$", config, re.M))
    assert load_hook().PAGE in nav
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert pages == nav - {load_hook().PAGE}, "a page is missing from mkdocs.yml's nav, or nav names no page"


@pytest.mark.parametrize("document", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md"))])
def test_relative_links_lead_to_files(document: str) -> None:
    path = ROOT / document
    generated = DOCS / load_hook().PAGE
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        linked = (path.parent / target.split("#")[0]).resolve()
        assert linked.exists() or linked == generated, f"{document}: {target} leads nowhere"


def test_the_readme_is_short_and_keeps_the_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    assert "pip install . && galaxy-studio --demo" in readme
    [test_command] = re.findall(r"^pip install -e \"\.\[test\]\".*$", (ROOT / ".ci" / "run").read_text(), re.M)
    assert test_command in readme


@pytest.mark.parametrize("document", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md"))])
def test_every_code_block_is_closed(document: str) -> None:
    fences = [line for line in (ROOT / document).read_text().splitlines() if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0, f"{document}: a code block is never closed"
