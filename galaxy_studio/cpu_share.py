"""How many of torch's CPU threads a job uses: the cores that other programs leave free, read
again every few seconds while the job runs.

On a desktop, other programs come and go beside a long job. A job that keeps one thread per
core while two busy programs hold both cores waits for each core at every small kernel: the
demo distillation ran 4.4x slower than idle that way, where one thread ran 1.9x
(tests/benchmarks/bench_cpu_load.py). So a job's loop calls `share_cores()` at every step; every
`INTERVAL` seconds it measures how much CPU time the rest of the machine took (Linux's
/proc/stat less this process's own time) and sets torch's thread count to the cores left,
between one and the count the job started with.

torch's thread count belongs to the thread that sets it (OpenMP keeps it per thread), so the
job's own thread must make the call; `cores_shared` starts the measuring in that thread and
restores the count when the job ends. Elsewhere than Linux, and on a GPU, nothing changes.

More threads are not always faster: a small network's kernels are too short to split, and
on this project's 2-core build machine the demo distillation ran 1.8x slower with two threads
than with one (60 iterations: 28.9 s against 16.3 s), where a galaxy-cnn training step ran
1.4x faster with two (33 ms against 45 ms, tests/benchmarks/bench_cpu_load.py). So a job first
times its own steps: one window at the count it starts with, then at half as many, and so on
down to one, while the rest of the machine is quiet; fewer threads are kept when their median
step is at least 10% faster (`ThreadProbe`). The busy-cores rule then works below that count.

A run's last bits depend on the thread count (torch splits sums by thread), so a run that must
repeat bit for bit on a busy machine fixes the count: with OMP_NUM_THREADS set, or with
GALAXY_STUDIO_CPU_RUNTIME=off, the count stays as it is.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from galaxy_studio.cpu_runtime import SWITCH

INTERVAL = 2.0
# A probe window needs this many steps for its median, and the rest of the machine must have
# used less than QUIET cores in it; fewer threads must make the median step this much faster.
MIN_STEPS = 3
QUIET = 0.5
FASTER = 0.9
_STAT = "/proc/stat"


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores have spent busy since boot (None where /proc/stat is missing)."""
    try:
        with open(_STAT, encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    ticks = [int(value) for value in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class _Reading:
    wall: float
    machine: float
    own: float


class ThreadProbe:
    """Which thread count runs a job's steps fastest, found by timing windows of steps at the
    starting count and then at half as many each time, down to one. The first window is not
    timed (allocations, caches); the probe stops at the first count slower than the best so
    far, since fewer threads than that will not win either."""

    def __init__(self, ceiling: int) -> None:
        self.candidates = [ceiling]
        while self.candidates[-1] > 1:
            self.candidates.append(self.candidates[-1] // 2)
        self.index = 0
        self.best = ceiling
        self.medians: dict[int, float] = {}
        self.durations: list[float] = []
        self.warming = True

    @property
    def count(self) -> int:
        return self.candidates[self.index]

    def record(self, seconds: float) -> None:
        self.durations.append(seconds)

    @property
    def ready(self) -> bool:
        return len(self.durations) >= MIN_STEPS

    def restart(self) -> None:
        """A window the rest of the machine took part in times nothing: start again, warming up."""
        self.index, self.best, self.medians, self.durations, self.warming = 0, self.candidates[0], {}, [], True

    def close_window(self) -> int | None:
        """Ends a window run at `count` threads: the count for the next window, or None when the
        probe is over (`best` holds its answer)."""
        durations, self.durations = self.durations, []
        if self.warming:
            self.warming = False
            return self.count
        median = statistics.median(durations)
        self.medians[self.count] = median
        if median <= FASTER * self.medians[self.best]:
            self.best = self.count
        elif median > self.medians[self.best]:
            return None
        if self.index + 1 == len(self.candidates):
            return None
        self.index += 1
        return self.count


class CoreShare:
    """Keeps torch's thread count in the calling thread at the count that runs the job's steps
    fastest (`ThreadProbe`), lowered to the cores other programs leave free."""

    def __init__(
        self,
        ceiling: int,
        cores: int,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        machine: Callable[[], float | None] = machine_busy_seconds,
        own: Callable[[], float] = time.process_time,
        apply: Callable[[int], None] = torch.set_num_threads,
    ) -> None:
        self.ceiling, self.cores, self.interval = max(1, ceiling), cores, interval
        self._clock, self._machine, self._own, self._apply = clock, machine, own, apply
        self.threads = self.ceiling
        self._last = self._read()
        probing = self.ceiling > 1 and self._last is not None
        self._probe: ThreadProbe | None = ThreadProbe(self.ceiling) if probing else None
        self._step_started = self._clock()

    def _read(self) -> _Reading | None:
        machine = self._machine()
        return None if machine is None else _Reading(self._clock(), machine, self._own())

    def adjust(self) -> int:
        """The thread count now in force, changed when at least `interval` seconds have passed
        (and, while probing, the window holds enough steps)."""
        started, self._step_started = self._step_started, self._clock()
        if self._probe is not None:
            self._probe.record(self._step_started - started)
        if self._last is None or self._step_started - self._last.wall < self.interval:
            return self.threads
        if self._probe is not None and not self._probe.ready:
            return self.threads
        now = self._read()
        if now is None:
            self._probe = None
            return self.threads
        wall = now.wall - self._last.wall
        others = max(0.0, (now.machine - self._last.machine) - (now.own - self._last.own)) / wall
        self._last = now
        if self._probe is not None:
            if others < QUIET:
                trying = self._probe.close_window()
                if trying is not None:
                    self._use(trying)
                    return self.threads
                self.ceiling, self._probe = self._probe.best, None
            else:
                self._probe.restart()
        self._use(min(self.ceiling, max(1, math.floor(self.cores - others + 0.5))))
        return self.threads

    def _use(self, threads: int) -> None:
        if threads != self.threads:
            self.threads = threads
            self._apply(threads)


_active = threading.local()


@contextmanager
def cores_shared(device: torch.device) -> Iterator[None]:
    """While the block runs in this thread, `share_cores()` follows the machine's free cores
    (on the CPU); afterwards this thread's torch thread count is what it was."""
    fixed = "OMP_NUM_THREADS" in os.environ or os.environ.get(SWITCH, "").lower() == "off"
    if device.type != "cpu" or fixed or machine_busy_seconds() is None:
        yield
        return
    before = torch.get_num_threads()
    outer = getattr(_active, "share", None)
    _active.share = CoreShare(before, os.cpu_count() or 1)
    try:
        yield
    finally:
        _active.share = outer
        torch.set_num_threads(before)


def share_cores() -> None:
    """Called at every step of a job's loop: cheap (a clock read) between measurements."""
    share: CoreShare | None = getattr(_active, "share", None)
    if share is not None:
        share.adjust()
