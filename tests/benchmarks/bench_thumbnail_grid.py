"""Benchmark: a 20,000-item library grid — time to first thumbnails and memory.

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_thumbnail_grid.py [--items 20000]

Prints one table. Times are compared with a baseline measured in the same run: decoding
and rendering one screenful of thumbnails sequentially without the GUI, so the ratio says
what the model/view, the thread pool and the event loop add on this machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from event_loop import print_table, wait_until  # noqa: E402 - a sibling script module


def build_folder(root: Path, count: int) -> None:
    """`count` real-sized JPEG cutouts in 10 class folders (copies of a few demo images)."""
    import shutil

    from galaxy_studio.data.synthetic import write_demo_set

    seed_dir = root / "seed"
    seeds = write_demo_set(seed_dir, per_class=5, size=128, fmt="jpeg")
    for i in range(count):
        src = seeds[i % len(seeds)]
        dst = root / "library" / src.parent.name / f"{i:06d}.jpg"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        with open(dst, "ab") as handle:  # distinct content so each file gets its own cache entry
            handle.write(i.to_bytes(4, "little"))
    shutil.rmtree(seed_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    args = parser.parse_args()

    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["GALAXY_STUDIO_HOME"] = str(root / "home")
        t0 = time.perf_counter()
        build_folder(root, args.items)
        build_s = time.perf_counter() - t0

        from galaxy_studio.data.catalog import open_catalog
        from galaxy_studio.data.thumbnails import make_thumbnail
        from galaxy_studio.gui.app import application
        from galaxy_studio.gui.main_window import MainWindow

        process = psutil.Process()
        application()
        gc.collect()
        rss0 = process.memory_info().rss

        window = MainWindow()
        window.resize(1440, 880)
        window.show()
        t_open = time.perf_counter()
        window.library.open_paths([root / "library"], replace=True)
        library = window.library
        wait_until(lambda: len(library.catalog.items) == args.items)
        t_listed = time.perf_counter()
        wait_until(library.grid.visible_thumbnails_drawn)
        t_first = time.perf_counter()
        visible = library.model.visible_count()
        rss_first = process.memory_info().rss

        scroll = library.grid.verticalScrollBar()
        t_scroll = time.perf_counter()
        for fraction in (0.25, 0.5, 0.75, 1.0):
            scroll.setValue(int(scroll.maximum() * fraction))
            wait_until(library.grid.visible_thumbnails_drawn)
        scroll_s = (time.perf_counter() - t_scroll) / 4
        rss_scrolled = process.memory_info().rss
        window.close()

        catalog = open_catalog(root / "library")
        t_base = time.perf_counter()
        for item in catalog.items[-visible:]:
            make_thumbnail(item, 128)
        baseline_s = time.perf_counter() - t_base

    first_s = t_first - t_open
    rows = [
        ("items", f"{args.items}"),
        ("build test folder (s)", f"{build_s:.1f}"),
        ("scan folder to catalogue (s)", f"{t_listed - t_open:.3f}"),
        ("visible thumbnails", f"{visible}"),
        ("time from open to first screenful (s)", f"{first_s:.3f}"),
        ("  of which after the scan (s)", f"{t_first - t_listed:.3f}"),
        ("baseline: same count decoded sequentially, no GUI (s)", f"{baseline_s:.3f}"),
        ("ratio (first screenful after scan) / baseline", f"{(t_first - t_listed) / baseline_s:.2f}"),
        ("mean time per jump-scroll screenful (s)", f"{scroll_s:.3f}"),
        ("RSS growth at first screenful (MB)", f"{(rss_first - rss0) / 2**20:.0f}"),
        ("RSS growth after 4 jump scrolls (MB)", f"{(rss_scrolled - rss0) / 2**20:.0f}"),
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
