"""Benchmark: does *Estimate time* hold? Estimate, then train, on a labelled folder (gz-spiral).

Run: python tests/benchmarks/bench_train_estimate.py --data DIR [--epochs 2] [--threads 2]
(or set GALAXY_STUDIO_BENCH_DATA=DIR). DATA is anything `galaxy-studio train` reads.

For each config (galaxy-cnn and resnet18 at 64 px, with and without augmentation) it runs
`estimate_training_time`, then trains --epochs epochs into a temporary folder with the same
config, and prints per-epoch and whole-run estimate/actual ratios; the target is 0.7-1.3.
For comparison it also prints the ratio of the estimator the app had before (#17 §2), which
timed random batches through the network alone and scaled them by the batches per epoch
(validation batches at a third of a training step); it is reproduced here as it was, because
the app no longer has it. Prints one table; all ratios come from the same run and machine.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

# Before torch loads: the package's import sets torch's passive thread waiting, as the app and
# the CLI have it; without it a busy machine slows small kernels many times over.
import galaxy_studio  # noqa: F401

CONFIGS = (("galaxy-cnn", False), ("galaxy-cnn", True), ("resnet18", False), ("resnet18", True))


def old_epoch_estimate(config: object) -> float:
    """The estimator before #17 §2: random pixels, forward and backward only."""
    import numpy as np
    import torch

    from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec
    from galaxy_studio.model.datasets import load_labelled_data, stratified_split
    from galaxy_studio.model.prediction import resolve_device

    labelled = load_labelled_data(config.data)  # type: ignore[attr-defined]
    train, val, _ = stratified_split(labelled.labels, config.split, config.seed)  # type: ignore[attr-defined]
    device = resolve_device(config.device)  # type: ignore[attr-defined]
    size, batch = config.size, config.batch_size  # type: ignore[attr-defined]
    spec = ArchitectureSpec(config.arch, len(labelled.classes), 3, size, config.width)  # type: ignore[attr-defined]
    model = model_from_spec(spec).to(device).train()
    images = torch.randn(batch, 3, size, size, device=device)
    targets = torch.randint(0, len(labelled.classes), (batch,), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)  # type: ignore[attr-defined]
    timings = []
    for _ in range(3):
        begin = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), targets).backward()
        optimizer.step()
        timings.append(time.perf_counter() - begin)
    per_batch = float(np.median(timings[1:]))
    return per_batch * math.ceil(len(train) / batch) + per_batch / 3 * math.ceil(len(val) / batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.environ.get("GALAXY_STUDIO_BENCH_DATA"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch's CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", nargs="*", help="only these architectures")
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data DIR or set GALAXY_STUDIO_BENCH_DATA")

    import torch

    from galaxy_studio.model.config import TrainConfig
    from galaxy_studio.model.training import estimate_training_time, train_classifier

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for arch, augment in CONFIGS:
            if args.arch and arch not in args.arch:
                continue
            config = TrainConfig(
                data=args.data,
                out_dir=str(Path(scratch) / f"{arch}-{augment}"),
                arch=arch,
                size=args.size,
                epochs=args.epochs,
                augment=augment,
                device=args.device,
                patience=0,
            )
            old = old_epoch_estimate(config)
            began = time.perf_counter()
            estimate = estimate_training_time(config)
            estimating = time.perf_counter() - began
            result = train_classifier(replace(config))
            epochs = [float(record["seconds"]) for record in result.history]
            epoch = sum(epochs) / len(epochs)
            rows.append((arch, augment, estimate, estimating, old, epoch, result.seconds))
            print(
                f"{arch} augment={augment}: estimate {estimate.epoch_seconds:.1f} s per epoch "
                f"({estimate.measured}), epochs {', '.join(f'{s:.1f}' for s in epochs)} s",
                file=sys.stderr,
                flush=True,
            )
    device = rows[0][2].device if rows else args.device
    print(f"\n{args.data} · {args.size} px · {args.epochs} epochs · {device}")
    header = (
        f"{'arch':<11} {'augment':>7} {'timing s':>9} {'est/epoch':>10} {'actual':>8} {'ratio':>6} "
        f"{'est total':>10} {'actual':>8} {'ratio':>6} {'old/epoch':>10} {'old ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for arch, augment, estimate, estimating, old, epoch, total in rows:
        print(
            f"{arch:<11} {augment!s:>7} {estimating:>9.1f} {estimate.epoch_seconds:>10.1f} {epoch:>8.1f} "
            f"{estimate.epoch_seconds / epoch:>6.2f} {estimate.total_seconds:>10.1f} {total:>8.1f} "
            f"{estimate.total_seconds / total:>6.2f} {old:>10.1f} {old / epoch:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
