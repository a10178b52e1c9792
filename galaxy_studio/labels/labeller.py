"""Who is labelling: every label carries a name so that several people can share a project.

The name is looked up the same way by the CLI and the GUI: GALAXY_STUDIO_LABELLER (for
scripts and shared lab machines), then the name saved in the settings file, then the
operating-system user.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

from galaxy_studio.atomic_files import write_text_atomically
from galaxy_studio.paths import config_dir

LABELLER_ENV = "GALAXY_STUDIO_LABELLER"
SETTINGS_FILE = "settings.json"
_KEY = "labeller"


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def default_labeller() -> str:
    from_env = os.environ.get(LABELLER_ENV, "").strip()
    if from_env:
        return from_env
    saved = _read_settings().get(_KEY)
    if isinstance(saved, str) and saved.strip():
        return saved.strip()
    try:
        return getpass.getuser() or "anonymous"
    except (KeyError, OSError):
        return "anonymous"


def set_default_labeller(name: str) -> None:
    """Save `name` for later sessions, keeping any other settings in the file."""
    stripped = name.strip()
    if not stripped:
        raise ValueError("a labeller name cannot be empty")
    settings = _read_settings()
    settings[_KEY] = stripped
    write_text_atomically(settings_path(), json.dumps(settings, indent=2))


def _read_settings() -> dict[str, Any]:
    """The settings, or {} when the file is absent or unreadable (a damaged file is replaced
    on the next save rather than stopping anyone from labelling)."""
    try:
        settings = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}
