"""Where Qt looks for its platform plugins, for the self-test's check that the one the app
will use can load (asking Qt needs Qt, so this lives on the GUI side)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QLibraryInfo


def platform_plugin_dirs() -> list[Path]:
    """Where Qt looks for platform plugins: the environment's paths first, then PySide6's own."""
    dirs = [os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")]
    dirs += [
        str(Path(entry) / "platforms") for entry in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if entry
    ]
    dirs.append(str(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"))
    return [Path(folder) for folder in dirs if folder]
