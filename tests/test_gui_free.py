"""The house rule: nothing outside galaxy_studio/gui/ may import Qt.

Imports written in galaxy_studio itself are checked by import-linter's contracts
(pyproject.toml, run by .ci/run); what they cannot see is a third-party library that pulls
Qt in when imported (a plotting backend, say), so this imports the whole core in one fresh
interpreter and looks.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import galaxy_studio

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph")


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(galaxy_studio.__path__, "galaxy_studio."):
        if not info.name.startswith("galaxy_studio.gui") and info.name != "galaxy_studio.__main__":
            names.append(info.name)
    return sorted(names)


def test_core_modules_are_found() -> None:
    names = core_modules()
    assert "galaxy_studio.data.display" in names
    assert any(name == "galaxy_studio.cli" or name.startswith("galaxy_studio.cli.") for name in names)
    assert not any(name.startswith("galaxy_studio.gui") for name in names)


def test_core_does_not_import_qt_at_run_time() -> None:
    code = (
        f"import sys, importlib\nfor name in {core_modules()!r}:\n    importlib.import_module(name)\n"
        f"bad = [m for m in {QT_MODULES!r} if m in sys.modules]\n"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"the core imports {result.stdout.strip()} {result.stderr[-500:]}"


def test_cli_help_does_not_import_torch_or_qt() -> None:
    code = (
        "import sys; from galaxy_studio import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('torch', 'PySide6') if m in sys.modules]\n"
        "sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
