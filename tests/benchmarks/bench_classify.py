"""Benchmark: batch classification throughput on the CPU, decoding included.

Run: python tests/benchmarks/bench_classify.py --data DIR [--limit N] [--size 64]
     [--archs galaxy-cnn,galaxy-cnn-d4] [--threads N]
(or set GALAXY_STUDIO_BENCH_DATA=DIR), e.g. a folder of Galaxy Zoo JPEGs (gz-spiral/train).

A checkpoint of each architecture (at its default width) at --size px is written with the
preprocessing training would record for this data (the weights do not change the speed, so
they are left untrained). The files are read once to warm the OS cache, then timed: decoding
and preparing alone (the baseline: the training loader's thread pool), classification
(decoding in a thread pool beside the network), and classification with 8-view test-time
augmentation, except for a network that averages over those views itself (galaxy-cnn-d4:
classification skips TTA for it). Throughputs are in cutouts/s with their ratio to the
baseline; the issue asks for >= 200/s without TTA.
Prints one table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from event_loop import print_table  # noqa: E402 - a sibling script module

REQUIRED_RATE = 200.0


def write_checkpoint(items: list, size: int, arch: str, out: Path) -> None:
    from galaxy_studio.data.catalog import read_item
    from galaxy_studio.model.architectures import ArchitectureSpec, build_model
    from galaxy_studio.model.checkpoint import save_classifier
    from galaxy_studio.model.datasets import prepare_pixels
    from galaxy_studio.model.preprocessing import channel_statistics, choose_preprocessing

    prep = choose_preprocessing(read_item(items[0]), size=size, crop_fraction=0.5, channels="display")
    sample, _ = prepare_pixels(items[:64], prep)
    prep = prep.with_statistics(*channel_statistics(sample, prep))
    classes = sorted({item.label or "unknown" for item in items})
    if len(classes) < 2:
        classes.append("other")
    model = build_model(arch, n_classes=len(classes), in_channels=3, size=size)
    spec = ArchitectureSpec(arch, len(classes), 3, size)
    save_classifier(out, model, {"architecture": spec.to_dict(), "classes": classes, "preprocessing": prep.to_dict()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("GALAXY_STUDIO_BENCH_DATA"),
        help="a folder of cutouts (default: $GALAXY_STUDIO_BENCH_DATA)",
    )
    parser.add_argument("--limit", type=int, default=0, help="use at most this many cutouts (0: all)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--archs", default="galaxy-cnn,galaxy-cnn-d4", help="comma-separated architectures")
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data DIR or set GALAXY_STUDIO_BENCH_DATA")

    import torch

    from galaxy_studio.data.catalog import open_catalog
    from galaxy_studio.model.classification import classify_items, open_classifier
    from galaxy_studio.model.config import TURN_INVARIANT_ARCHITECTURES
    from galaxy_studio.model.datasets import prepare_pixels

    if args.threads:
        torch.set_num_threads(args.threads)
    items = open_catalog(args.data).items
    items = items[: args.limit] if args.limit else items
    if not items:
        parser.error(f"{args.data}: no cutouts found")
    archs = args.archs.split(",")
    rates: dict[tuple[str, bool], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        classifiers = {}
        for arch in archs:
            checkpoint = Path(tmp) / f"{arch}.pt"
            write_checkpoint(items, args.size, arch, checkpoint)
            classifiers[arch] = open_classifier(checkpoint)
        for item in items:
            Path(item.path).read_bytes()
        for classifier in classifiers.values():
            classify_items(classifier, items[:64], device="cpu")

        begin = time.perf_counter()
        _, failed = prepare_pixels(items, classifiers[archs[0]].prep)
        decode_rate = (len(items) - len(failed)) / (time.perf_counter() - begin)
        for arch, classifier in classifiers.items():
            for tta in (False, True) if arch not in TURN_INVARIANT_ARCHITECTURES else (False,):
                begin = time.perf_counter()
                predictions, _ = classify_items(classifier, items, tta=tta, device="cpu")
                rates[arch, tta] = len(predictions) / (time.perf_counter() - begin)

    rows = [
        ("data", f"{args.data}: {len(items)} cutouts at {args.size} px"),
        (
            "machine",
            f"{os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}",
        ),
        ("decoding alone (baseline)", f"{decode_rate:8.1f} cutouts/s  1.00"),
    ]
    for (arch, tta), rate in rates.items():
        verdict = (
            "" if tta else f"  ({'meets' if rate >= REQUIRED_RATE else 'MISSES'} the required {REQUIRED_RATE:.0f}/s)"
        )
        what = f"{arch}, {'8-view TTA' if tta else 'no TTA'}"
        rows.append((what, f"{rate:8.1f} cutouts/s  {rate / decode_rate:.2f} x baseline{verdict}"))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
