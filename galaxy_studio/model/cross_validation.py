"""K-fold cross-validation: every labelled image is tested once, by a model that never saw it.

One split's test score moves by a few points with the seed (210 test images of gz-spiral give
a 95% interval of about +-4.5 points), so choosing a recipe by it chooses noise. Cross-validation
trains k runs, run i testing on the i-th of k stratified folds and training and validating on
the rest (`datasets.fold_split`), and reports the folds' mean and spread.

Each fold is an ordinary training run (`TrainConfig.fold`) in RUN/fold_i, so a killed
cross-validation continues where it stopped: finished folds are read back, an unfinished one
resumes after its last epoch. RUN/cv.json records the recipe, the data's fingerprint and each
finished fold's metrics; a rerun on other data or with another recipe or fold count is refused.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio.atomic_files import write_json_atomically
from galaxy_studio.events import NEVER, CancelToken, EventSink, Noted, Progressed, ignore
from galaxy_studio.model.calibration import binned_calibration_error, pooled_reliability
from galaxy_studio.model.config import TrainConfig, legacy_fields_translated
from galaxy_studio.model.datasets import load_labelled_data, stratified_folds
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.runs import read_run
from galaxy_studio.model.training import train_classifier
from galaxy_studio.settings import changed_settings_text

CV_FILE = "cv.json"
# The Progressed events of the folds carry this as `what` (the CLI prints them as lines).
FOLDS = "folds"
SUMMARY_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_auc")


@dataclass(frozen=True)
class MeanStd:
    """A metric over the folds: its mean and sample standard deviation (n - 1; None for one fold)."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float | None]) -> MeanStd | None:
        """Of the folds that have the metric (macro AUC is None for a fold with one class); None if none has it."""
        known = [value for value in values if value is not None and math.isfinite(value)]
        if not known:
            return None
        std = float(np.std(known, ddof=1)) if len(known) > 1 else None
        return cls(float(np.mean(known)), std, len(known))

    def text(self, digits: int = 4) -> str:
        """'0.8650 ± 0.0120'."""
        spread = "?" if self.std is None else f"{self.std:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {spread}"

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "folds": self.n}


@dataclass(frozen=True)
class FoldResult:
    """One fold's run: its test metrics (as in its metrics.json) and how it went."""

    fold: int
    run_dir: str
    metrics: dict[str, Any]
    best_epoch: int
    epochs_run: int
    seconds: float
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "run_dir": self.run_dir,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "seconds": round(self.seconds, 1),
            "reused": self.reused,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class CrossValidationResult:
    """The k folds' results and their summary, as written to RUN/cv.json."""

    run_dir: str
    k: int
    folds: tuple[FoldResult, ...]
    seconds: float

    @property
    def summary(self) -> dict[str, MeanStd | None]:
        """Mean and spread over the folds of each of `SUMMARY_METRICS`."""
        return {name: MeanStd.of([fold.metrics.get(name) for fold in self.folds]) for name in SUMMARY_METRICS}

    @property
    def images(self) -> int:
        """Test images over all folds: every readable labelled image once."""
        return sum(int(fold.metrics.get("n", 0)) for fold in self.folds)

    def pooled_metrics(self) -> dict[str, Any]:
        """What the folds measured, as one test of every labelled image by a model that did not
        see it: the summed confusion matrix with its accuracy and n, and the reliability bins
        and calibration error pooled (each fold's probabilities scaled by its own temperature).
        Empty when a fold has no matrix or the folds' classes differ."""
        matrices = [fold.metrics.get("confusion") for fold in self.folds]
        classes = [fold.metrics.get("classes") for fold in self.folds]
        first = classes[0] if classes else None
        if first is None or any(m is None for m in matrices) or any(c != first for c in classes):
            return {}
        matrix = np.sum(np.asarray(matrices, dtype=np.int64), axis=0)
        total = int(matrix.sum())
        pooled: dict[str, Any] = {
            "classes": list(first),
            "confusion": matrix.tolist(),
            "n": total,
            "accuracy": float(np.trace(matrix)) / total if total else None,
        }
        for bins, error in (("reliability", "ece"), ("reliability_uncalibrated", "ece_uncalibrated")):
            parts = [fold.metrics.get(bins) for fold in self.folds]
            if all(isinstance(part, list) for part in parts):
                pooled[bins] = pooled_reliability([part for part in parts if isinstance(part, list)])
                pooled[error] = binned_calibration_error(pooled[bins])
        return pooled

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "images": self.images,
            "summary": {name: None if value is None else value.to_dict() for name, value in self.summary.items()},
            "folds": [fold.to_dict() for fold in self.folds],
        }


def cross_validate(
    config: TrainConfig, k: int, *, emit: EventSink = ignore, cancel: CancelToken = NEVER
) -> CrossValidationResult:
    """Train `config` k times into config.out_dir/fold_i, fold i testing on the i-th of k
    stratified folds, and summarise the folds' test metrics. Labels too few for k folds are
    refused before anything is written; a folder of an earlier, unfinished cross-validation
    of the same recipe, data and k is continued."""
    started = time.perf_counter()
    labelled = load_labelled_data(config.data)
    folds = stratified_folds(labelled.labels, k, config.seed, fractions=config.split, classes=labelled.classes)
    run_dir = Path(config.out_dir)
    # Through JSON, as it reads back from cv.json (tuples become lists).
    record = json.loads(json.dumps({"k": k, "recipe": config.recipe(), "fingerprint": labelled.fingerprint()}))
    _require_same_cross_validation(run_dir, record)
    run_dir.mkdir(parents=True, exist_ok=True)
    results: list[FoldResult] = []
    _write_record(run_dir, record, config, CrossValidationResult(str(run_dir), k, (), 0.0))
    emit(Progressed(0, k, FOLDS))
    for fold in range(1, k + 1):
        cancel.raise_if_set()
        fold_dir = run_dir / f"fold_{fold}"
        previous = read_run(fold_dir)
        reused = previous is not None and previous.status == "finished"
        tested = int(np.sum(folds == fold))
        emit(
            Noted(
                f"fold {fold}/{k}{' (finished earlier: its results are reused)' if reused else ''}: tested on "
                f"{tested} images, trained and validated on the other {len(folds) - tested}"
            )
        )
        # A finished fold's run only says, again, that it was finished.
        run = train_classifier(
            replace(config, out_dir=str(fold_dir), fold=(fold, k)), emit=ignore if reused else emit, cancel=cancel
        )
        results.append(
            FoldResult(fold, fold_dir.name, run.metrics, run.best_epoch, run.epochs_run, run.seconds, reused)
        )
        partial = CrossValidationResult(str(run_dir), k, tuple(results), time.perf_counter() - started)
        _write_record(run_dir, record, config, partial)
        emit(Progressed(fold, k, FOLDS))
    return CrossValidationResult(str(run_dir), k, tuple(results), time.perf_counter() - started)


def _require_same_cross_validation(run_dir: Path, record: dict[str, Any]) -> None:
    """Refuse a folder that holds a training run, or a cross-validation of another recipe,
    fold count or data: its finished folds would be mixed with folds of this one."""
    if read_run(run_dir) is not None:
        raise ModelError(f"{run_dir} holds a training run, not a cross-validation", "choose another {out_dir} folder")
    try:
        earlier = json.loads((run_dir / CV_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise ModelError(f"{run_dir / CV_FILE} is unreadable ({exc})", "choose another {out_dir} folder") from None
    if earlier.get("fingerprint") != record["fingerprint"]:
        raise ModelError(
            f"{run_dir}: the images or labels changed since this cross-validation started, so it cannot be continued",
            "cross-validate into another {out_dir} folder",
        )
    recipe = earlier.get("recipe")
    recorded = {"k": earlier.get("k"), **legacy_fields_translated(recipe)} if isinstance(recipe, dict) else None
    wanted = {"k": record["k"], **record["recipe"]}
    if recorded != wanted:
        raise ModelError(
            f"{run_dir} holds a cross-validation of another config or number of folds "
            f"({changed_settings_text(recorded, wanted)})",
            "choose another {out_dir} folder or delete it",
        )


def _write_record(run_dir: Path, record: dict[str, Any], config: TrainConfig, result: CrossValidationResult) -> None:
    """cv.json: what identifies the cross-validation, then the folds finished so far."""
    write_json_atomically(run_dir / CV_FILE, {**record, "config": config.to_dict(), **result.to_dict()})
