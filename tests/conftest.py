"""Shared fixtures: an isolated GALAXY_STUDIO_HOME for every test, Qt offscreen."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

import galaxy_studio

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SAMPLES = Path(__file__).parent / "data" / "samples"
RESOURCES_INIT = Path(__file__).resolve().parent.parent / "resources" / "__init__.py"


def _bind_resources_to_this_checkout() -> None:
    """resources/ installs as galaxy_studio.resources through a package-dir mapping, so an
    editable install made from another checkout maps it to that checkout's folder; the tests
    of this tree must read this tree's resources."""
    import galaxy_studio.resources as found

    if Path(found.__file__).resolve() == RESOURCES_INIT:
        return
    spec = importlib.util.spec_from_file_location(
        "galaxy_studio.resources", RESOURCES_INIT, submodule_search_locations=[str(RESOURCES_INIT.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["galaxy_studio.resources"] = module
    spec.loader.exec_module(module)
    galaxy_studio.resources = module  # type: ignore[attr-defined]


_bind_resources_to_this_checkout()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every user location at a temporary folder so no test touches real settings."""
    home = tmp_path / "gs-home"
    monkeypatch.setenv("GALAXY_STUDIO_HOME", str(home))
    return home


@pytest.fixture
def samples() -> Path:
    """Small real files copied from the shared data set (see tests/data/README.md)."""
    return SAMPLES
