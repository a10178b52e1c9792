"""How torch's CPU threads wait and how the C allocator keeps memory: set once per process,
on the package's import, before torch loads.

Both are measured by benchmarks and both are process settings that torch cannot change:

- torch's CPU kernels run on an OpenMP pool (libgomp on Linux) whose idle threads spin on a
  core before they sleep. On a desktop where other programs hold the cores, a spinning thread
  keeps a core from the thread it waits for, and every small kernel pays: beside two CPU-bound
  processes on 2 cores the demo distillation ran 4-5x slower than idle, and two torch jobs at
  once 40x (tests/benchmarks/bench_cpu_load.py). Passive waiting (threads sleep at once)
  bounds that. The OpenMP runtime reads the policy from the environment when it loads, so it
  is set while torch is not loaded yet.
- glibc returns freed blocks above a moving threshold to the kernel and takes them back as
  fresh zeroed pages: an unrolled distillation step frees and reallocates its activations
  every step, about two million page faults per iteration at IPC 10. Keeping freed memory in
  the heap (mallopt: a fixed mmap threshold at glibc's maximum, no trimming below 1 GiB)
  removes most of them (tests/benchmarks/bench_distill_speed.py); the price is that the
  process keeps its peak heap until it exits.

- glibc's malloc still returns blocks above 32 MiB (its mmap threshold's ceiling) to the kernel,
  and an unrolled step's activations are such blocks: 2.8 million page faults per iteration at
  IPC 10 remain. tcmalloc keeps them: with it preloaded the same iteration took 0.64x the CPU
  time (full memory mode; 0.73x constant) and 0.01 million faults. An allocator can only be
  chosen before the process starts, so the `galaxy-studio` program restarts itself once with
  tcmalloc preloaded when the system has it (`restart_with_fast_allocator`; Debian's
  libtcmalloc-minimal4, which the .deb depends on).

`GALAXY_STUDIO_CPU_RUNTIME=off` leaves all three alone; an OMP_WAIT_POLICY or LD_PRELOAD the user
set is kept.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping
from pathlib import Path

SWITCH = "GALAXY_STUDIO_CPU_RUNTIME"
WAIT_POLICY = "PASSIVE"
# glibc's mallopt parameters and the values used (the mmap threshold's maximum on 64-bit).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024
# tcmalloc's minimal build (no profiler) and where Linux distributions put it.
FAST_ALLOCATOR = "libtcmalloc_minimal.so.4"
_LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")
# Set in the restarted process: it is never restarted twice, even when the preload failed.
RESTARTED = "GALAXY_STUDIO_ALLOCATOR"
# tcmalloc reports every allocation over 1 GiB on stderr; a full-memory unroll makes several.
_QUIET_LARGE_ALLOCATIONS = {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(2**62)}


def configure_cpu_runtime() -> None:
    if os.environ.get(SWITCH, "").lower() == "off":
        return
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    keep_freed_memory()


def keep_freed_memory() -> bool:
    """Whether glibc took the settings (False elsewhere: macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The running program's own symbols: libc is loaded already (no ldconfig lookup).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def fast_allocator(directories: tuple[str, ...] = _LIBRARY_DIRS) -> Path | None:
    """tcmalloc's library where the system has it."""
    for directory in directories:
        candidate = Path(directory) / FAST_ALLOCATOR
        if candidate.is_file():
            return candidate
    return None


def allocator_environment(environ: Mapping[str, str], platform: str, library: Path | None) -> dict[str, str] | None:
    """The environment to restart the program in with `library` preloaded, or None when the
    program should go on as it is (not Linux, switched off, restarted already, no library, or
    an allocator the user preloaded)."""
    preloaded = environ.get("LD_PRELOAD", "")
    if (
        not platform.startswith("linux")
        or library is None
        or environ.get(SWITCH, "").lower() == "off"
        or RESTARTED in environ
        or "malloc" in preloaded
    ):
        return None
    env = {**_QUIET_LARGE_ALLOCATIONS, **environ}
    env["LD_PRELOAD"] = f"{library}:{preloaded}" if preloaded else str(library)
    env[RESTARTED] = str(library)
    return env


def restart_with_fast_allocator() -> None:
    """Replaces this process by the same command with tcmalloc preloaded, where that applies;
    returns when it does not (or when the restart fails: glibc's malloc works, only slower)."""
    env = allocator_environment(os.environ, sys.platform, fast_allocator())
    if env is None:
        return
    # A frozen bundle is its own executable; a Python program is the interpreter's command line.
    argv = [sys.executable, *sys.argv[1:]] if getattr(sys, "frozen", False) else list(sys.orig_argv)
    try:
        os.execve(sys.executable, argv, env)
    except OSError:
        return
