"""Benchmark: training recipes compared by stratified K-fold cross-validation, not by one test split.

Run: python tests/benchmarks/bench_cv.py DATA [--recipes default,d4,default:3] [--ensemble N] [--tta] [--k 5]
     [--seed 0] [--work DIR] [--threads N] [--set epochs=30 --set patience=10 ...]

One test split chooses noise: gz-spiral's 210 test images give each accuracy a 95% interval of
about +-4.5 points. For each recipe (the default TrainConfig changed as RECIPES says, then by
every --set) this runs `galaxy-studio train DATA --cv K` into WORK/RECIPE and prints one table:
mean +- std over the folds of the test accuracy, balanced accuracy and macro AUC, the CPU
minutes per fold (this process's CPU time, every thread, while the fold trained; recorded in
WORK/RECIPE/bench_cpu.json, so a fold reused later keeps its cost), and the CPU and wall
minutes this call took. Every recipe is tested on the same folds (same data and seed), so
recipes are also compared fold by fold: "vs first" is the mean +- std of each fold's accuracy
minus the first recipe's on that fold, which is far steadier than either recipe's own spread.

An ensemble, RECIPE:N (or every recipe with --ensemble N, which adds RECIPE:N after RECIPE),
is N runs of RECIPE per fold on the fold's own split, their weights, augmentation and batch
order seeded apart (`TrainConfig.weights_seed`): the first is RECIPE's own cross-validation
(WORK/RECIPE, reused when it is there), the others go to WORK/RECIPE.member2, ... Each fold is
scored by the members' averaged calibrated probabilities on its test images
(model/ensemble.py); its CPU minutes per fold are the members' sum. With --tta every recipe's
row is followed by the same runs scored with 8-view test-time augmentation, as
`classify --tta` computes it (skipped where classify skips it: galaxy-cnn-d4, and runs trained
without turning); that costs no training, so its CPU minutes per fold are the recipe's.

Folds finished by an earlier call with the same WORK are reused and cost nothing (the "reused"
column counts them); delete WORK to time a recipe afresh. Run it alone: other processes on the
machine inflate the minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
    "d4": {"arch": "galaxy-cnn-d4"},
    "d4-w16": {"arch": "galaxy-cnn-d4", "width": 16},
    "d4-no-augment": {"arch": "galaxy-cnn-d4", "augment": False},
}
CPU_FILE = "bench_cpu.json"


@dataclass(frozen=True)
class Outcome:
    recipe: str
    accuracies: list[float]
    summary: dict[str, Any]
    reused: str
    cpu_minutes_per_fold: float | None
    cpu_minutes: float
    wall_minutes: float


@dataclass
class FoldClock:
    """Passes events on to `inner` and notes this process's CPU time at each fold's end, from
    the Progressed events that cross_validate sends for the folds (done = 0 before the first)."""

    inner: Any
    marks: dict[int, float] = field(default_factory=dict)

    def __call__(self, event: object) -> None:
        from galaxy_studio.events import Progressed
        from galaxy_studio.model.cross_validation import FOLDS

        if isinstance(event, Progressed) and event.what == FOLDS:
            self.marks[event.done] = time.process_time()
        self.inner(event)


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


def parse_recipes(text: str, ensemble: int | None) -> list[tuple[str, int]]:
    """ "default,d4,default:3" -> [(default, 1), (d4, 1), (default, 3)]; with `ensemble` N
    every single recipe is followed by its N-member ensemble."""
    recipes: list[tuple[str, int]] = []
    for token in text.split(","):
        name, _, members = token.strip().partition(":")
        if name not in RECIPES:
            raise SystemExit(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
        if members and (not members.isdigit() or int(members) < 1):
            raise SystemExit(f"{token!r}: the number of members after ':' must be a whole number >= 1")
        recipes.append((name, int(members or 1)))
        if ensemble is not None and not members and ensemble > 1:
            recipes.append((name, ensemble))
    return recipes


def member_dir(work: Path, recipe: str, member: int) -> Path:
    """Member 1 is the recipe's own cross-validation; the others' weights are seeded apart."""
    return work / (recipe if member == 1 else f"{recipe}.member{member}")


def cross_validate_member(
    data: str, work: Path, recipe: str, member: int, changes: dict[str, Any], k: int, seed: int
) -> tuple[Any, dict[int, float]]:
    """The member's cross-validation and the CPU seconds of each fold (recorded when trained)."""
    from galaxy_studio.cli.progress import CrossValidationPrinter
    from galaxy_studio.model.config import TrainConfig
    from galaxy_studio.model.cross_validation import cross_validate

    out = member_dir(work, recipe, member)
    weights_seed = None if member == 1 else seed + member - 1
    config = TrainConfig(
        data=data, out_dir=str(out), seed=seed, weights_seed=weights_seed, **{**RECIPES[recipe], **changes}
    )
    clock = FoldClock(CrossValidationPrinter())
    result = cross_validate(config, k, emit=clock)
    try:
        cpu = {int(fold): float(seconds) for fold, seconds in json.loads((out / CPU_FILE).read_text()).items()}
    except FileNotFoundError:
        cpu = {}
    for fold in result.folds:
        if not fold.reused and fold.fold in clock.marks and fold.fold - 1 in clock.marks:
            cpu[fold.fold] = clock.marks[fold.fold] - clock.marks[fold.fold - 1]
    (out / CPU_FILE).write_text(json.dumps({str(fold): seconds for fold, seconds in sorted(cpu.items())}))
    return result, cpu


def cross_validate_recipe(
    data: str, work: Path, recipe: str, members: int, changes: dict[str, Any], k: int, seed: int, tta: bool
) -> list[Outcome]:
    """The recipe's (or its ensemble's) outcome, and with `tta` also the same folds' runs
    scored with 8-view test-time augmentation (no training: the CPU minutes per fold are
    the training's)."""
    from galaxy_studio.model.ensemble import ensemble_test_report

    cpu, wall = time.process_time(), time.perf_counter()
    runs = [cross_validate_member(data, work, recipe, member, changes, k, seed) for member in range(1, members + 1)]
    fold_dirs = [
        [member_dir(work, recipe, member) / f"fold_{fold}" for member in range(1, members + 1)]
        for fold in range(1, k + 1)
    ]
    if members == 1:
        reports = [fold.metrics for fold in runs[0][0].folds]
    else:
        reports = [ensemble_test_report(dirs) for dirs in fold_dirs]
    fold_cpu = [sum(seconds.get(fold, np.nan) for _, seconds in runs) for fold in range(1, k + 1)]
    per_fold = None if np.isnan(fold_cpu).any() else float(np.mean(fold_cpu)) / 60
    reused = f"{sum(fold.reused for result, _ in runs for fold in result.folds)}/{k * members}"
    name = recipe if members == 1 else f"{recipe} ×{members}"
    outcomes = [_outcome(name, reports, reused, per_fold, cpu, wall)]
    if tta:
        cpu, wall = time.process_time(), time.perf_counter()
        reports = [ensemble_test_report(dirs, tta=True) for dirs in fold_dirs]
        views = "+TTA" if all(report["tta"] for report in reports) else "+TTA (skipped, as classify skips it)"
        outcomes.append(_outcome(f"{name} {views}", reports, reused, per_fold, cpu, wall))
    return outcomes


def _outcome(
    name: str, reports: list[dict[str, Any]], reused: str, per_fold: float | None, cpu: float, wall: float
) -> Outcome:
    from galaxy_studio.model.cross_validation_results import SUMMARY_METRICS, MeanStd

    summary = {}
    for metric in SUMMARY_METRICS:
        value = MeanStd.of([report.get(metric) for report in reports])
        summary[metric] = None if value is None else value.to_dict()
    return Outcome(
        name,
        [report["accuracy"] for report in reports],
        summary,
        reused,
        per_fold,
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
        "| recipe | accuracy | balanced accuracy | macro AUC | vs first (paired) | CPU min per fold | reused folds "
        "| CPU min | wall min |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for index, outcome in enumerate(outcomes):
        differences = np.array(outcome.accuracies) - first
        paired = (
            "(reference)"
            if index == 0
            else f"{differences.mean():+.3f} ± {differences.std(ddof=1):.3f}"
            if len(differences) > 1
            else "n/a"
        )
        per_fold = "?" if outcome.cpu_minutes_per_fold is None else f"{outcome.cpu_minutes_per_fold:.2f}"
        print(
            f"| {outcome.recipe} | {_mean_std(outcome.summary['accuracy'])} "
            f"| {_mean_std(outcome.summary['balanced_accuracy'])} | {_mean_std(outcome.summary['macro_auc'])} "
            f"| {paired} | {per_fold} | {outcome.reused} | {outcome.cpu_minutes:.2f} | {outcome.wall_minutes:.2f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", metavar="DATA", help="anything `galaxy-studio train` reads")
    parser.add_argument(
        "--recipes",
        default="default,ema0,size96",
        help=f"comma-separated, of {', '.join(RECIPES)}; NAME:N is an N-seed ensemble of NAME",
    )
    parser.add_argument("--ensemble", type=int, metavar="N", help="follow every recipe by its N-seed ensemble")
    parser.add_argument(
        "--tta", action="store_true", help="also score every recipe's runs with 8-view test-time augmentation"
    )
    parser.add_argument("--k", type=int, default=5, help="folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and of every run")
    parser.add_argument("--work", type=Path, help="folder for the folds' runs (default: a new temporary one)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every recipe")
    args = parser.parse_args()
    recipes = parse_recipes(args.recipes, args.ensemble)
    settings = parse_settings(args.set)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="galaxy-studio-cv-"))
    outcomes = []
    for recipe, members in recipes:
        for outcome in cross_validate_recipe(args.data, work, recipe, members, settings, args.k, args.seed, args.tta):
            print(json.dumps(outcome.__dict__), flush=True)
            outcomes.append(outcome)
    print_table(outcomes, args.k, args.data, settings)
    print(f"runs in {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
