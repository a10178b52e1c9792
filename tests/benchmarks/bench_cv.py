"""Benchmark: training recipes compared by stratified K-fold cross-validation, not by one test split.

Run: python tests/benchmarks/bench_cv.py DATA [--recipes default,ema0,size96] [--k 5] [--seed 0]
     [--work DIR] [--threads N] [--set epochs=30 --set patience=10 ...]

One test split chooses noise: gz-spiral's 210 test images give each accuracy a 95% interval of
about +-4.5 points. For each recipe (the default TrainConfig changed as RECIPES says, then by
every --set) this runs `galaxy-studio train DATA --cv K` into WORK/RECIPE and prints one table:
mean +- std over the folds of the test accuracy, balanced accuracy and macro AUC, and the CPU
minutes (this process's CPU time, every thread) and wall minutes the recipe took. Every recipe
is tested on the same folds (same data and seed), so recipes are also compared fold by fold:
"vs first" is the mean +- std of each fold's accuracy minus the first recipe's on that fold,
which is far steadier than either recipe's own spread. Folds finished by an earlier call with
the same WORK are reused and cost nothing (the "reused" column counts them); delete WORK to time
a recipe afresh. Run it alone: other processes on the machine inflate the minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    "ema0": {"ema": None},
    "size96": {"size": 96},
    "size128": {"size": 128},
    "keep-accuracy": {"keep": "balanced-accuracy"},
    "any-angle": {"rotations": "any"},
    "legacy": {"crop_fraction": 0.5, "rotations": "any"},
    "no-augment": {"augment": False},
    "resnet18": {"arch": "resnet18"},
}


@dataclass(frozen=True)
class Outcome:
    recipe: str
    accuracies: list[float]
    summary: dict[str, Any]
    reused: int
    cpu_minutes: float
    wall_minutes: float


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs: the value read as JSON when it is (10, 0.5, null, true), else as text."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set wants key=value, got {pair!r}")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value
    return settings


def cross_validate_recipe(data: str, work: Path, recipe: str, changes: dict[str, Any], k: int, seed: int) -> Outcome:
    from galaxy_studio.cli.progress import CrossValidationPrinter
    from galaxy_studio.model.config import TrainConfig
    from galaxy_studio.model.cross_validation import cross_validate

    config = TrainConfig(data=data, out_dir=str(work / recipe), seed=seed, **{**RECIPES[recipe], **changes})
    cpu, wall = time.process_time(), time.perf_counter()
    result = cross_validate(config, k, emit=CrossValidationPrinter())
    summary = {name: None if value is None else value.to_dict() for name, value in result.summary.items()}
    return Outcome(
        recipe,
        [fold.metrics["accuracy"] for fold in result.folds],
        summary,
        sum(fold.reused for fold in result.folds),
        (time.process_time() - cpu) / 60,
        (time.perf_counter() - wall) / 60,
    )


def _mean_std(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "n/a"
    std = "?" if summary["std"] is None else f"{summary['std']:.3f}"
    return f"{summary['mean']:.3f} ± {std}"


def print_table(outcomes: list[Outcome], k: int, data: str, settings: dict[str, Any]) -> None:
    first = np.array(outcomes[0].accuracies)
    print(f"\n{k}-fold cross-validation on {data}; every recipe on the same folds; --set {settings or 'nothing'}")
    print(
        "| recipe | accuracy | balanced accuracy | macro AUC | vs first (paired) | reused folds | CPU min | wall min |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for index, outcome in enumerate(outcomes):
        differences = np.array(outcome.accuracies) - first
        paired = (
            "(reference)"
            if index == 0
            else f"{differences.mean():+.3f} ± {differences.std(ddof=1):.3f}"
            if len(differences) > 1
            else "n/a"
        )
        print(
            f"| {outcome.recipe} | {_mean_std(outcome.summary['accuracy'])} "
            f"| {_mean_std(outcome.summary['balanced_accuracy'])} | {_mean_std(outcome.summary['macro_auc'])} "
            f"| {paired} | {outcome.reused}/{k} | {outcome.cpu_minutes:.2f} | {outcome.wall_minutes:.2f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", metavar="DATA", help="anything `galaxy-studio train` reads")
    parser.add_argument("--recipes", default="default,ema0,size96", help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--k", type=int, default=5, help="folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and of every run")
    parser.add_argument("--work", type=Path, help="folder for the folds' runs (default: a new temporary one)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every recipe")
    args = parser.parse_args()
    recipes = args.recipes.split(",")
    unknown = [name for name in recipes if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    settings = parse_settings(args.set)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="galaxy-studio-cv-"))
    outcomes = []
    for recipe in recipes:
        outcome = cross_validate_recipe(args.data, work, recipe, settings, args.k, args.seed)
        print(json.dumps(outcome.__dict__), flush=True)
        outcomes.append(outcome)
    print_table(outcomes, args.k, args.data, settings)
    print(f"runs in {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
