"""Benchmark: the seed paper's classifier comparison on a labelled folder (e.g. gz-spiral).

Run: python tests/benchmarks/bench_classifiers.py --data DIR [--epochs 10] [--sizes 64 128]
(or set GALAXY_STUDIO_BENCH_DATA=DIR). DATA is anything `galaxy-studio train` reads.

For galaxy-cnn, vgg11 from scratch (32 channels), convnet-d3 and resnet18, at each size, with
and without rotation/flip augmentation, it trains with the default recipe for --epochs
(the same seeded split for all), and reports test accuracy and macro one-vs-rest ROC AUC.
Speeds are measured on random batches of 64 (training steps and eval-mode inference, after a
warm-up) and given as images/s and as a ratio to galaxy-cnn at the first size measured in
the same run: the seed paper measured its custom net 5.4x faster than VGG11 on a CPU.
Prints one table. `--measure speed` or `--measure accuracy` runs one half (speeds want an
otherwise idle machine; accuracies only want CPU time), leaving the other columns blank.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ARCHS = ("galaxy-cnn", "vgg11", "convnet-d3", "resnet18")
BATCH = 64
NOT_MEASURED = {"accuracy": float("nan"), "auc": float("nan"), "best_epoch": 0, "minutes": float("nan")}


def measure_speed(arch: str, size: int, steps: int) -> tuple[float, float]:
    """(training images/s, inference images/s) on random batches."""
    import torch
    import torch.nn.functional as F

    from galaxy_studio.model.architectures import build_model

    model = build_model(arch, n_classes=2, in_channels=3, size=size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    images = torch.randn(BATCH, 3, size, size)
    labels = torch.randint(0, 2, (BATCH,))
    model.train()
    timings = []
    for _ in range(steps + 1):
        begin = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        timings.append(time.perf_counter() - begin)
    train_rate = BATCH / min(timings[1:])
    model.eval()
    timings = []
    with torch.no_grad():
        for _ in range(steps + 1):
            begin = time.perf_counter()
            model(images)
            timings.append(time.perf_counter() - begin)
    return train_rate, BATCH / min(timings[1:])


def train_and_test(data: str, out: Path, arch: str, size: int, augment: bool, epochs: int) -> dict[str, float]:
    from galaxy_studio.model.config import TrainConfig
    from galaxy_studio.model.training import train_classifier

    config = TrainConfig(
        data=data, out_dir=str(out), arch=arch, size=size, epochs=epochs, augment=augment, patience=None
    )
    begin = time.perf_counter()
    result = train_classifier(config)
    return {
        "accuracy": result.metrics["accuracy"],
        "auc": result.metrics["macro_auc"],
        "best_epoch": result.best_epoch,
        "minutes": (time.perf_counter() - begin) / 60,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("GALAXY_STUDIO_BENCH_DATA"),
        help="labelled data (default: $GALAXY_STUDIO_BENCH_DATA)",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--speed-steps", type=int, default=3, help="timed batches per speed measurement")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--measure", choices=("all", "speed", "accuracy"), default="all")
    parser.add_argument(
        "--augment",
        choices=("both", "off", "on"),
        default="both",
        help="train without and with rotation/flip augmentation, or only one of them",
    )
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data DIR or set GALAXY_STUDIO_BENCH_DATA")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    baseline: float | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for arch in args.archs:
                train_rate = infer_rate = float("nan")
                if args.measure != "accuracy":
                    train_rate, infer_rate = measure_speed(arch, size, args.speed_steps)
                    baseline = baseline or (train_rate if arch == "galaxy-cnn" else None)
                for augment in {"both": (False, True), "off": (False,), "on": (True,)}[args.augment]:
                    out = Path(tmp) / f"{arch}-{size}-{'aug' if augment else 'plain'}"
                    scores = NOT_MEASURED
                    if args.measure != "speed":
                        scores = train_and_test(args.data, out, arch, size, augment, args.epochs)
                    rows.append((arch, size, augment, scores, train_rate, infer_rate))
                    print(f"  done {arch} {size} px augment={augment}: {scores}", file=sys.stderr, flush=True)

    print(
        f"\nclassifiers on {args.data}: {args.epochs} epochs, default recipe, torch threads "
        f"{torch.get_num_threads()}; speed ratio vs galaxy-cnn at {args.sizes[0]} px training"
    )
    header = (
        f"{'arch':<11} {'px':>4} {'augment':>8} {'test acc':>9} {'macro AUC':>10} {'best ep':>8} "
        f"{'train img/s':>12} {'infer img/s':>12} {'speed ratio':>12} {'run min':>8}"
    )
    print(header)
    print("-" * len(header))
    for arch, size, augment, scores, train_rate, infer_rate in rows:
        ratio = train_rate / baseline if baseline else float("nan")
        print(
            f"{arch:<11} {size:>4} {'rot+flip' if augment else 'none':>8} {scores['accuracy']:>9.3f} "
            f"{scores['auc']:>10.3f} {scores['best_epoch']:>8} {train_rate:>12.1f} {infer_rate:>12.1f} "
            f"{ratio:>12.2f} {scores['minutes']:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
