"""Shared fixtures: an isolated GALAXY_STUDIO_HOME for every test, Qt offscreen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SAMPLES = Path(__file__).parent / "data" / "samples"


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
