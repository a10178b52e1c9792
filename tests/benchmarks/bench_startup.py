"""Benchmark: how long from launching `python -m galaxy_studio` to the main window on screen?

Run: python tests/benchmarks/bench_startup.py [--runs 7] [--platform offscreen|xcb]

Each run starts a fresh interpreter with GALAXY_STUDIO_REPORT_SHOWN=<file>
(gui/shown_report.py): the app writes the wall-clock time of the window's first paint and
quits. The time is that stamp minus this script's clock just before the launch, so it holds
the interpreter's start, the imports, building the window and its first paint. The same number
of `python -c pass` runs in the same session gives the floor no application can go under on
this machine; the table gives both and the app's margin above it. GALAXY_STUDIO_HOME points at
an empty temporary folder so every run is a first run (no saved geometry, no caches).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from event_loop import print_table  # noqa: E402 - a sibling script module

REPORT_SHOWN_ENV = "GALAXY_STUDIO_REPORT_SHOWN"
TIMEOUT_S = 120.0


def time_python_pass() -> float:
    """Seconds for a bare interpreter to start and exit."""
    started = time.time()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.time() - started


def time_window_shown(env: dict[str, str], stamp: Path, repo: Path) -> float:
    """Seconds from launching the app (of the checkout `repo`: `-m` puts the working folder
    first on the path) to its window's first paint."""
    stamp.unlink(missing_ok=True)
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "galaxy_studio"],
        cwd=repo,
        env={**env, REPORT_SHOWN_ENV: str(stamp)},
        timeout=TIMEOUT_S,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not stamp.exists():
        raise SystemExit(f"the app did not report its window (exit {done.returncode}):\n{done.stderr}")
    return float(stamp.read_text()) - started


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s  min {min(values):.3f} s  max {max(values):.3f} s  (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="launches of each kind")
    parser.add_argument(
        "--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"), help="QT_QPA_PLATFORM for the app"
    )
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": args.platform,
            "GALAXY_STUDIO_HOME": str(Path(folder) / "home"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH", "")])),
        }
        stamp = Path(folder) / "shown.txt"
        time_window_shown(env, stamp, repo)  # warm the OS file cache and the .pyc files; not counted
        app, bare = [], []
        for _ in range(args.runs):
            bare.append(time_python_pass())
            app.append(time_window_shown(env, stamp, repo))
    margin = statistics.median(app) - statistics.median(bare)
    print_table(
        [
            ("platform", args.platform),
            ("python -c pass", summary(bare)),
            ("window shown", summary(app)),
            ("app above python start", f"{margin:.3f} s (medians)"),
            ("ratio", f"{statistics.median(app) / statistics.median(bare):.1f}x python start"),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
