"""Benchmark: adding a folder-per-class set whose folder names differ from the project's classes.

Run: python tests/benchmarks/bench_class_mapping.py --data DIR
(DIR: e.g. shared/data/gz-spiral/train, with spirals/ and non_spirals/; or set
GALAXY_STUDIO_BENCH_MAPPING to it).

The same folder is added to two fresh projects: one whose classes are the folder names (the
baseline: no mapping needed) and one with the `spiral` scheme (`spiral`, `non-spiral`), where
every label goes through the class mapping. A first, discarded add warms the file cache. Both
must take every label; the table gives the times and their ratio, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from galaxy_studio.labels.folder_scheme import folder_scheme
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES, ClassScheme
from galaxy_studio.labels.store import AddedImages, Project


def timed_add(path: Path, scheme: ClassScheme, data: Path) -> tuple[AddedImages, float]:
    with Project.create(path, scheme) as project:
        started = time.perf_counter()
        result = project.add_paths([data])
        return result, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("GALAXY_STUDIO_BENCH_MAPPING"))
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data DIR or set GALAXY_STUDIO_BENCH_MAPPING")
    data = Path(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GALAXY_STUDIO_HOME"] = str(Path(tmp) / "home")
        timed_add(Path(tmp) / "warm-up.gsproj", folder_scheme(data), data)  # file cache, imports
        base, base_s = timed_add(Path(tmp) / "folders.gsproj", folder_scheme(data), data)
        mapped, mapped_s = timed_add(Path(tmp) / "spiral.gsproj", BUILTIN_SCHEMES["spiral"], data)
    rows = [
        ("folder names as classes (baseline)", base, base_s),
        ("spiral scheme, names mapped", mapped, mapped_s),
    ]
    print(f"{'project':<36} {'images':>6} {'taken':>6} {'mapped':>6} {'unmapped':>8} {'skipped':>7} {'s':>7}")
    for name, result, seconds in rows:
        c = result.counts
        print(f"{name:<36} {result.added:>6} {c.taken:>6} {c.mapped:>6} {c.unmapped:>8} {c.skipped:>7} {seconds:>7.2f}")
    print(f"ratio mapped / baseline: {mapped_s / base_s:.2f}")
    print(f"spiral project: {mapped.counts.describe()}")
    return 0 if mapped.counts.taken == base.counts.taken == base.added else 1


if __name__ == "__main__":
    sys.exit(main())
