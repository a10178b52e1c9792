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

`GALAXY_STUDIO_CPU_RUNTIME=off` leaves both alone; an OMP_WAIT_POLICY the user set is kept.
"""

from __future__ import annotations

import ctypes
import os
import sys

SWITCH = "GALAXY_STUDIO_CPU_RUNTIME"
WAIT_POLICY = "PASSIVE"
# glibc's mallopt parameters and the values used (the mmap threshold's maximum on 64-bit).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024


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
