"""Benchmark: the Distill panel's demo from a new user's first click to the filled evaluation table.

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_distill_demo.py [--load 2] [--screenshot OUT.png]

A full main window in an empty app data folder runs File -> Distill the Demo Data exactly as a
user starts it (distill/demo.py): the demo galaxies and the demo buffer are made, the
distillation runs to STM's stop or its iteration cap, and the evaluation the panel runs when
done fills the table. The table gives the time of each phase, the iterations and why the run
stopped, the evaluation and the prototypes' readability. `--load N` runs N CPU-bound
processes beside it (a busy desktop); the issue asks for the whole demo in <= 3 minutes on
an idle 2-core machine. `--screenshot` saves the window at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from event_loop import busy_processes, distill_window, print_table, wait_until  # noqa: E402 - a sibling script module

REQUIRED_SECONDS = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=int, default=0, help="CPU-bound processes beside the demo")
    parser.add_argument("--screenshot", help="save the window at the end to this PNG")
    args = parser.parse_args()
    os.environ["GALAXY_STUDIO_HOME"] = tempfile.mkdtemp(prefix="gs-demo-")
    with busy_processes(args.load):
        return run_demo(args)


def run_demo(args: argparse.Namespace) -> int:
    app, window, panel = distill_window()
    app.processEvents()
    marks: dict[str, float] = {}
    began = time.perf_counter()
    panel.start_demo()

    def phase() -> bool:
        now = time.perf_counter() - began
        if panel.iteration > 0:
            marks.setdefault("preparation (demo set and buffer)", now)
        if panel.run_dir is not None and (panel.run_dir / "synthetic.npz").is_file():
            marks.setdefault("distillation done", now)
        return not panel.runner.running and (panel.evaluation is not None or bool(panel.message))

    wait_until(phase, poll_ms=50)
    total = time.perf_counter() - began
    if args.screenshot:
        window.grab().save(args.screenshot)
    window.close()
    evaluation = panel.run_dir / "evaluation.json" if panel.run_dir is not None else None
    if evaluation is None or not evaluation.is_file():
        print(f"the demo did not finish: {panel.message or panel.progress_label.text()}", file=sys.stderr)
        return 1
    report = json.loads(evaluation.read_text(encoding="utf-8"))
    history = json.loads((panel.run_dir / "history.json").read_text(encoding="utf-8"))
    readability = report["readability"]
    preparation = marks.get("preparation (demo set and buffer)", 0.0)
    distilled_at = marks.get("distillation done", total)
    rows = [
        ("machine", f"{os.cpu_count()} cores, {args.load} CPU-bound processes beside"),
        ("preparation (demo set, buffer)", f"{preparation:.1f} s"),
        (
            "distillation",
            f"{distilled_at - preparation:.1f} s, {len(history)} iterations "
            f"({(distilled_at - preparation) / max(len(history), 1):.2f} s each), last stage "
            f"{history[-1]['stage']}, lr_img {history[-1]['lr_img']:g}",
        ),
        (
            "evaluation",
            f"{total - distilled_at:.1f} s ({report['protocol']['nets']} nets x {report['protocol']['epochs']} epochs)",
        ),
        ("whole demo", f"{total:.1f} s ({'ok' if total <= REQUIRED_SECONDS else 'over'} {REQUIRED_SECONDS:g} s)"),
        (
            "accuracy: distilled / random real / class mean / full",
            " / ".join(
                f"{100 * report[name]['mean']:.1f}%" for name in ("distilled", "random_real", "class_mean", "full")
            ),
        ),
        (
            "readability",
            f"{100 * readability['outside_fraction']:.1f}% outside, "
            f"{100 * readability['colour_outside_fraction']:.1f}% in colours no real pixel has, "
            f"spread {readability['std_ratio']:.2f}x, "
            f"nearest {readability['nearest_ratio']:.2f}x, readable {readability['readable']}",
        ),
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
