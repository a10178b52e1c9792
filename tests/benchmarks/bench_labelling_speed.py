"""Benchmark: from a labelling key press to the next galaxy on screen.

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_labelling_speed.py --data DIR
(DIR: a folder of cutouts, e.g. the 1,400 Galaxy Zoo images of shared/data/gz-spiral/train;
or set GALAXY_STUDIO_BENCH_LABELLING to it).

Each press labels the current image (committed to SQLite with synchronous=FULL) and the
time runs until the next image has been drawn in the viewer. Two paces: back to back
(the next key the moment the image is drawn: the worst case, nothing prefetched) and a
human pace (a pause between presses, as a labeller looks at each galaxy). The baseline, measured in the
same run, is reading and rendering one cutout directly, without the GUI or the project.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from event_loop import print_table, wait_until  # noqa: E402 - a sibling script module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("GALAXY_STUDIO_BENCH_LABELLING"))
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--pause-ms", type=int, default=300, help="the human pace's pause between presses")
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data DIR or set GALAXY_STUDIO_BENCH_LABELLING")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GALAXY_STUDIO_HOME"] = str(Path(tmp) / "home")
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        from galaxy_studio.data.catalog import read_item
        from galaxy_studio.data.display import render_rgb
        from galaxy_studio.gui.app import application
        from galaxy_studio.gui.main_window import MainWindow
        from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
        from galaxy_studio.labels.store import Project

        project_path = Path(tmp) / "bench.gsproj"
        with Project.create(project_path, BUILTIN_SCHEMES["spiral"]) as project:
            added = project.add_paths([args.data]).added
            items = [record.item() for record in project.images()]

        app = application()
        window = MainWindow()
        window.resize(1440, 880)
        window.show()
        window.open_project(project_path)
        library = window.library

        wait_until(lambda: library.cutout is not None)
        presses = min(args.presses, (added - 1) // 2)
        shown = {"count": 0}
        library.cutout_shown.connect(lambda: shown.__setitem__("count", shown["count"] + 1))

        def label_run(first: int, pause_s: float) -> list[float]:
            latencies = []
            for press in range(first, first + presses):
                expected = items[press + 1].path
                before = shown["count"]
                start = time.perf_counter()
                QTest.keyClick(library.grid, Qt.Key.Key_1 if press % 2 else Qt.Key.Key_2)
                wait_until(
                    lambda before=before, expected=expected: (
                        shown["count"] > before and library.cutout is not None and library.cutout.source == expected
                    )
                )
                app.processEvents()
                latencies.append((time.perf_counter() - start) * 1000)
                pause_end = time.perf_counter() + pause_s
                wait_until(lambda pause_end=pause_end: time.perf_counter() >= pause_end)
            return sorted(latencies)

        back_to_back = label_run(0, 0.0)
        human = label_run(presses, args.pause_ms / 1000)
        window.close()

        baseline = []
        for item in items[:100]:
            start = time.perf_counter()
            render_rgb(read_item(item))
            baseline.append((time.perf_counter() - start) * 1000)

    base = statistics.median(baseline)
    rows = [("images in project", f"{added}"), ("key presses per pace", f"{presses}")]
    for pace, latencies in (("back to back", back_to_back), (f"human pace ({args.pause_ms} ms pause)", human)):
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        rows += [
            (f"{pace}: median key -> next image shown (ms)", f"{statistics.median(latencies):.1f}"),
            (f"{pace}: p95 / max (ms)", f"{p95:.1f} / {latencies[-1]:.1f}"),
            (f"{pace}: ratio median / baseline", f"{statistics.median(latencies) / base:.2f}"),
        ]
    rows.append(("baseline: read + render one cutout, no GUI (ms)", f"{base:.1f}"))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
