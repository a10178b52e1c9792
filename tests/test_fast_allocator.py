"""The `galaxy-studio` program restarts itself once with tcmalloc where the system has it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from galaxy_studio.cpu_runtime import RESTARTED, SWITCH, allocator_environment, fast_allocator

LIBRARY = Path("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4")


def test_linux_with_the_library_restarts_with_it_preloaded_and_marked() -> None:
    env = allocator_environment({"PATH": "/bin"}, "linux", LIBRARY)
    assert env is not None
    assert env["LD_PRELOAD"] == str(LIBRARY) and env[RESTARTED] == str(LIBRARY) and env["PATH"] == "/bin"
    kept = allocator_environment({"LD_PRELOAD": "/opt/libfoo.so"}, "linux", LIBRARY)
    assert kept is not None and kept["LD_PRELOAD"] == f"{LIBRARY}:/opt/libfoo.so"


@pytest.mark.parametrize(
    ("environ", "platform", "library"),
    [
        ({}, "darwin", LIBRARY),
        ({}, "win32", LIBRARY),
        ({}, "linux", None),
        ({SWITCH: "off"}, "linux", LIBRARY),
        ({RESTARTED: str(LIBRARY)}, "linux", LIBRARY),
        ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, "linux", LIBRARY),
    ],
)
def test_no_restart_elsewhere_when_switched_off_twice_or_beside_the_users_allocator(
    environ: dict[str, str], platform: str, library: Path | None
) -> None:
    assert allocator_environment(environ, platform, library) is None


def test_the_library_is_found_only_where_it_is(tmp_path: Path) -> None:
    assert fast_allocator((str(tmp_path),)) is None
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert fast_allocator((str(tmp_path / "missing"), str(tmp_path))) == tmp_path / "libtcmalloc_minimal.so.4"


@pytest.mark.skipif(fast_allocator() is None or not sys.platform.startswith("linux"), reason="no tcmalloc here")
def test_the_program_runs_with_tcmalloc_loaded_and_its_arguments_intact(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from galaxy_studio.cpu_runtime import restart_with_fast_allocator\n"
        "restart_with_fast_allocator()\n"
        "maps = open('/proc/self/maps').read()\n"
        "print('tcmalloc' in maps, sys.argv[1:])\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in (RESTARTED, SWITCH)}
    env.pop("LD_PRELOAD", None)
    out = subprocess.run(
        [sys.executable, "-c", script, "a b", "--c"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out.strip() == "True ['a b', '--c']"
