"""Where Galaxy Studio keeps its files.

GALAXY_STUDIO_HOME overrides every location so that tests (and portable installs) never
touch the user's real settings, cache or projects.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "galaxy-studio"


def _home_override() -> Path | None:
    home = os.environ.get("GALAXY_STUDIO_HOME")
    return Path(home) if home else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """User data (demo set, projects by default)."""
    home = _home_override()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME)))


def cache_dir() -> Path:
    """Disposable data: thumbnails. Safe to delete at any time."""
    home = _home_override()
    return _ensure(home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME)))


def config_dir() -> Path:
    """Settings that are not window geometry."""
    home = _home_override()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME)))


def thumbnail_cache_dir() -> Path:
    return _ensure(cache_dir() / "thumbnails")


def demo_dir() -> Path:
    """The built-in demo set lives here once `--demo` has created it."""
    return data_dir() / "demo"


def distill_demo_dir() -> Path:
    """The demo distillation's larger set of the same galaxies (distill/demo.py says why it
    needs more of them than the Library's demo)."""
    return data_dir() / "demo-distill"
