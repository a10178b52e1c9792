"""Run a `galaxy-studio` command as torchrun runs it on a cluster: N processes, one gloo group.

torchrun itself starts the processes (`python -m torch.distributed.run --standalone`, which
picks a free port), so the tests exercise the same environment variables, launcher and
teardown a user's `torchrun ... -m galaxy_studio` gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# Long enough for a 2-process run of a tiny job on a loaded 2-core CI machine.
_TIMEOUT_S = 600


def torchrun(
    args: Sequence[str],
    *,
    processes: int = 2,
    home: Path,
    extra_env: dict[str, str] | None = None,
    script: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc-per-node PROCESSES -m galaxy_studio ARGS`, one torch
    thread per process (as torchrun sets it), the app's data folders under `home`. A test
    that plants a fault in one rank passes the `script` that does so and then runs the
    command, in place of `-m galaxy_studio`."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        *(["-m", "galaxy_studio"] if script is None else [str(script)]),
        *args,
    ]
    return _run(command, home, extra_env, cwd)


def one_process(args: Sequence[str], *, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m galaxy_studio ARGS` with what torchrun gives each rank: one thread (set
    before the process starts, so that NumPy's BLAS takes it too, not only torch)."""
    return _run([sys.executable, "-m", "galaxy_studio", *args], home, None, cwd)


def _run(
    command: list[str], home: Path, extra_env: dict[str, str] | None, cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    # torchrun leaves a log folder in the temporary directory at every start; keep it in the test's.
    temporary = home / "tmp"
    temporary.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TMPDIR": str(temporary),
        "GALAXY_STUDIO_HOME": str(home),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
        **(extra_env or {}),
    }
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S)
