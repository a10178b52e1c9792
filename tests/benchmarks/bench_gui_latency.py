"""Benchmark: does the window stay responsive while a distillation runs?

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_gui_latency.py [--seconds 60] [--threads 1]

The Distill panel of a full main window runs the demo distillation (distill/demo.py: 10
classes x IPC 1 at 32 px, STM) with a snapshot every iteration, so the worker bridge, the
prototype grid, the timeline and the curves are fed as fast as the engine can go. A 10 ms
QTimer probe records when it actually fires; a stall is the time between two firings beyond
the 10 ms asked for. The same probe runs first with the window idle: that baseline (same
machine, same load, same run) says what the OS and Qt alone cost, and the table gives the
ratio. The demo buffer is built first, outside the measurement. The last line is
`max_stall_ms=<x> p99_ms=<y>` over the whole distillation (its start included); the table
also gives the steady state from iteration 3 on.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from event_loop import distill_window, print_table, wait_until  # noqa: E402 - a sibling script module

PROBE_MS = 10
# Before this iteration the job decodes the images on a thread pool and the window lays out
# and paints its plots and grid for the first time; the table shows the steady state apart.
STEADY_FROM = 3


def probe(
    seconds: float, keep_going: Callable[[], bool] | None = None, phase: Callable[[], int] = lambda: 0
) -> list[tuple[float, int]]:
    """(stall in ms beyond PROBE_MS, phase() when the timer fired) for a 10 ms timer over
    `seconds` (or while `keep_going()`)."""
    from PySide6.QtCore import QTimer

    stamps: list[tuple[float, int]] = [(time.perf_counter(), phase())]
    timer = QTimer()
    timer.setInterval(PROBE_MS)
    timer.timeout.connect(lambda: stamps.append((time.perf_counter(), phase())))
    timer.start()
    end = time.perf_counter() + seconds
    wait_until(lambda: time.perf_counter() >= end or (keep_going is not None and not keep_going()), poll_ms=50)
    timer.stop()
    return [(max(0.0, 1000 * (b - a) - PROBE_MS), when) for (a, _), (b, when) in zip(stamps, stamps[1:])]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to probe during the run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the distillation")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="gs-latency-")
    os.environ.setdefault("GALAXY_STUDIO_HOME", home)

    import torch

    torch.set_num_threads(args.threads)
    from galaxy_studio.distill.demo import demo_distill_config, ensure_demo_buffer
    from galaxy_studio.distill.runs import distill_runs_dir

    data, buffer = ensure_demo_buffer()
    app, window, panel = distill_window()
    panel.evaluate_when_done.setChecked(False)
    app.processEvents()
    idle = [stall for stall, _ in probe(min(10.0, args.seconds / 3))]

    config = demo_distill_config(buffer, data, distill_runs_dir() / "latency", iterations=100_000, snapshot_every=1)
    panel.start(config)
    began = time.perf_counter()
    timed = probe(args.seconds, lambda: panel.runner.running, lambda: panel.iteration)
    busy = [stall for stall, _ in timed]
    steady = [stall for stall, iteration in timed if iteration >= STEADY_FROM]
    seconds = time.perf_counter() - began
    iterations, updates = panel.iteration, panel.prototypes.grid.updates
    panel.runner.cancel()
    wait_until(lambda: not panel.runner.running)
    window.close()
    if not busy or iterations == 0:
        print(f"the distillation did not run: {panel.message or panel.progress_label.text()}", file=sys.stderr)
        return 1
    idle_p99, busy_p99 = percentile(idle, 99), percentile(busy, 99)
    load = os.getloadavg()
    print_table(
        [
            ("load average (1, 5, 15 min)", " ".join(f"{value:.1f}" for value in load) + f" on {os.cpu_count()} CPUs"),
            (
                "distillation",
                f"{iterations} iterations in {seconds:.1f} s ({seconds / max(iterations, 1):.2f} s each), "
                f"torch threads {args.threads}",
            ),
            ("snapshots shown", f"{updates} ({updates / seconds:.1f}/s; one saved per iteration)"),
            ("probe firings idle / running", f"{len(idle)} / {len(busy)}"),
            ("idle: max / p99 stall", f"{max(idle):.1f} / {idle_p99:.1f} ms"),
            ("running: max / p99 stall", f"{max(busy):.1f} / {busy_p99:.1f} ms"),
            ("running / idle p99", f"{busy_p99 / max(idle_p99, 0.1):.1f}x"),
            (
                f"from iteration {STEADY_FROM}: max / p99 stall",
                f"{max(steady, default=0):.1f} / {percentile(steady, 99) if steady else 0:.1f} ms",
            ),
        ]
    )
    print(f"max_stall_ms={max(busy):.1f} p99_ms={busy_p99:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
