"""The install recipe stays in step with the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_in_the_tree_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "galaxy_studio").rglob("__init__.py")
    } | {"galaxy_studio.resources"}
    assert listed == found


def test_resources_are_reachable_through_the_package() -> None:
    from galaxy_studio.resources import resource_path

    icon = resource_path("galaxy-studio.png")
    assert icon.is_file() and icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
