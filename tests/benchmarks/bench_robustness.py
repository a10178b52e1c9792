"""Benchmark: does the default training recipe hold on data it was not designed on?

Run: python tests/benchmarks/bench_robustness.py [--shared ../shared/data] [--work DIR]
     [--kinds gz-spiral,cifar10,...] [--recipes default,legacy] [--seeds 0] [--jobs 2] [--record FILE]

For each kind of data (optical colour JPEGs, everyday pictures, grey digit stamps, FITS
colour galaxies, radio galaxies whose lobes reach the stamp's edge, sparse point sources
on noise; see robustness_sets.py) it trains with `galaxy-studio train DATA --out RUN` as
docs/science/recipe.md gives it (`default`), and with the recipe before the crop followed the data
(`legacy`: central half, lowest validation loss kept), on the same seeded split. Beside
each it fits a multinomial logistic regression on the same network-input pixels (the same
crop, size and normalisation; L2 strength chosen on the validation split) and reports its
test accuracy. A run "collapsed" when its lowest validation loss came in the first 3 epochs
or its test accuracy is within 5 points of chance. Prints one table (mean +- std over seeds;
with --record, over every outcome recorded in the file, so runs can be added in parts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from robustness_sets import (  # noqa: E402 - a sibling script module
    copy_class_folders,
    write_idx_stamps,
    write_point_sources,
    write_radio_set,
)

KINDS = ("gz-spiral", "cifar10", "mnist", "fits-galaxies", "radio", "point-sources")
RECIPES = {
    "default": {},
    # Run with PYTHONPATH pointing at an older checkout, to tabulate the recipe it had.
    "old-default": {},
    "legacy": {"crop_fraction": 0.5, "keep": "loss", "rotations": "any"},
    "any-angle": {"rotations": "any"},
    "right-angles": {"rotations": "right-angles"},
    "keep-accuracy": {"keep": "balanced-accuracy"},
    "crop-0.5": {"crop_fraction": 0.5},
    "any-angle-crop-0.5": {"rotations": "any", "crop_fraction": 0.5},
}


def build_kind(kind: str, shared: Path, work: Path) -> Path:
    """The labelled folder for `kind`, made once under `work`."""
    folder = work / "data" / kind
    if (folder / ".done").exists():
        return folder
    if kind == "gz-spiral":
        copy_class_folders(shared / "gz-spiral" / "train", folder, 700)
    elif kind == "cifar10":
        copy_class_folders(shared / "cifar10" / "test", folder, 300, ("airplane", "automobile", "bird", "cat"))
    elif kind == "mnist":
        mnist = shared / "mnist"
        write_idx_stamps(
            mnist / "t10k-images-idx3-ubyte.gz", mnist / "t10k-labels-idx1-ubyte.gz", folder, 120, tuple(range(10))
        )
    elif kind == "fits-galaxies":
        from galaxy_studio.data.synthetic import write_demo_set

        write_demo_set(folder, per_class=120, size=64, fmt="fits", seed=3)
    elif kind == "radio":
        write_radio_set(folder, 300, seed=5, extent=(0.15, 0.6))
    elif kind == "point-sources":
        write_point_sources(folder, 300, seed=7)
    else:
        raise ValueError(f"unknown kind {kind}")
    (folder / ".done").write_text("")
    return folder


@dataclass(frozen=True)
class Outcome:
    kind: str
    recipe: str
    seed: int
    classes: int
    accuracy: float
    balanced: float
    logistic: float
    best_epoch: int
    lowest_val_loss_epoch: int
    epochs_run: int
    crop: float
    minutes: float


def train_one(kind: str, recipe: str, seed: int, data: str, out: str) -> Outcome:
    import torch

    torch.set_num_threads(1)
    from galaxy_studio.model.config import TrainConfig
    from galaxy_studio.model.training import train_classifier

    began = time.perf_counter()
    result = train_classifier(TrainConfig(data=data, out_dir=out, seed=seed, **RECIPES[recipe]))
    minutes = (time.perf_counter() - began) / 60
    losses = [row["val_loss"] if row["val_loss"] is not None else np.inf for row in result.history]
    logistic, crop, classes = logistic_accuracy(result.checkpoint, data, seed)
    return Outcome(
        kind,
        recipe,
        seed,
        classes,
        float(result.metrics["accuracy"]),
        float(result.metrics["balanced_accuracy"]),
        logistic,
        result.best_epoch,
        int(np.argmin(losses)) + 1,
        result.epochs_run,
        crop,
        minutes,
    )


def logistic_accuracy(checkpoint: str, data: str, seed: int) -> tuple[float, float, int]:
    """Test accuracy of an L2 logistic regression on the run's own input pixels and split."""
    import torch

    from galaxy_studio.model.checkpoint import load_classifier
    from galaxy_studio.model.config import DEFAULT_FRACTIONS
    from galaxy_studio.model.datasets import load_labelled_data, prepare_pixels, stratified_split
    from galaxy_studio.model.preprocessing import Preprocessing, normalise

    prep = Preprocessing.from_dict(load_classifier(checkpoint)[1]["preprocessing"])
    labelled = load_labelled_data(data)
    splits = stratified_split(labelled.labels, DEFAULT_FRACTIONS, seed, classes=labelled.classes)

    def features(indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        pixels, failed = prepare_pixels([labelled.items[int(i)] for i in indices], prep)
        keep = np.setdiff1d(np.arange(len(indices)), failed)
        values = np.stack([normalise(image, prep).ravel() for image in pixels[keep]])
        return torch.from_numpy(values), torch.from_numpy(labelled.labels[indices][keep])

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (features(part) for part in splits)
    n_classes = len(labelled.classes)
    best: tuple[float, float] = (-1.0, 0.0)
    for strength in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        layer = _fitted_logistic(x_train, y_train, n_classes, strength, seed)
        with torch.no_grad():
            val = float((layer(x_val).argmax(1) == y_val).float().mean())
            test = float((layer(x_test).argmax(1) == y_test).float().mean())
        best = max(best, (val, test))
    return best[1], prep.crop_fraction, n_classes


def _fitted_logistic(x: Any, y: Any, n_classes: int, strength: float, seed: int) -> Any:
    """A linear layer fitted by L-BFGS to cross-entropy plus `strength` times the squared weights."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], n_classes)
    optimiser = torch.optim.LBFGS(layer.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.cross_entropy(layer(x), y) + strength * layer.weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return layer


def _summary(values: list[float], percent: bool = True, digits: int = 1) -> str:
    scale = 100.0 if percent else 1.0
    if len(values) == 1:
        return f"{scale * values[0]:.{digits}f}{'%' if percent else ''}"
    return f"{scale * np.mean(values):.{digits}f} +- {scale * np.std(values):.{digits}f}{'%' if percent else ''}"


def print_table(outcomes: list[Outcome]) -> None:
    print(
        "| data | recipe | seeds | crop | test accuracy | balanced | logistic regression | network - logistic "
        "| kept epoch | lowest val loss at epoch | epochs run | collapsed | minutes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        for recipe in RECIPES:
            rows = [o for o in outcomes if o.kind == kind and o.recipe == recipe]
            if not rows:
                continue
            chance = 1.0 / rows[0].classes
            collapsed = sum(o.lowest_val_loss_epoch <= 3 or o.accuracy < chance + 0.05 for o in rows)
            print(
                f"| {kind} | {recipe} | {len(rows)} | {_summary([o.crop for o in rows], False, 2)} "
                f"| {_summary([o.accuracy for o in rows])} | {_summary([o.balanced for o in rows])} "
                f"| {_summary([o.logistic for o in rows])} | {_summary([o.accuracy - o.logistic for o in rows])} "
                f"| {_summary([float(o.best_epoch) for o in rows], False)} "
                f"| {_summary([float(o.lowest_val_loss_epoch) for o in rows], False)} "
                f"| {_summary([float(o.epochs_run) for o in rows], False)} | {collapsed}/{len(rows)} "
                f"| {_summary([o.minutes for o in rows], False)} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("GALAXY_STUDIO_SHARED_DATA", "../shared/data"))
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/galaxy-studio-robustness"))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=2, help="trainings at once (one torch thread each)")
    parser.add_argument(
        "--record", type=Path, help="append each outcome to this JSON-lines file and tabulate everything in it"
    )
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    folders = {kind: build_kind(kind, args.shared, args.work) for kind in kinds}
    tasks = [
        (kind, recipe, int(seed), str(folders[kind]), str(args.work / "runs" / f"{kind}-{recipe}-{seed}"))
        for kind in kinds
        for seed in args.seeds.split(",")
        for recipe in args.recipes.split(",")
    ]
    outcomes: list[Outcome] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for outcome in pool.map(train_one, *zip(*tasks, strict=True)):
            print(json.dumps(outcome.__dict__), flush=True)
            outcomes.append(outcome)
            if args.record is not None:
                with args.record.open("a", encoding="utf-8") as record:
                    record.write(json.dumps(outcome.__dict__) + "\n")
    if args.record is not None:
        lines = args.record.read_text(encoding="utf-8").splitlines()
        outcomes = [Outcome(**json.loads(line)) for line in lines if line.strip()]
    print_table(outcomes)


if __name__ == "__main__":
    main()
