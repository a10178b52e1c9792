"""A cross-validation's results as cv.json records them, read without torch: the Train panel
lists past cross-validations beside past runs and shows their results, and the panel never
imports torch itself (model/cross_validation.py trains the folds and imports it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio.model.calibration import binned_calibration_error, pooled_reliability

CV_FILE = "cv.json"
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

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> FoldResult:
        return cls(
            int(record["fold"]),
            str(record["run_dir"]),
            dict(record["metrics"]),
            int(record["best_epoch"]),
            int(record["epochs_run"]),
            float(record["seconds"]),
            bool(record["reused"]),
        )


@dataclass(frozen=True)
class CrossValidationResult:
    """The k folds' results (those finished so far) and their summary, as written to
    RUN/cv.json, with the config the folds trained with (TrainConfig.to_dict)."""

    run_dir: str
    k: int
    folds: tuple[FoldResult, ...]
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return len(self.folds) == self.k

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


def read_cross_validation(folder: str | Path) -> CrossValidationResult | None:
    """The cross-validation recorded in `folder`/cv.json, or None when there is none or it is
    unreadable. Its time is the folds' own (a fold reused from an earlier call counts again)."""
    path = Path(folder) / CV_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        folds = tuple(FoldResult.from_dict(fold) for fold in record.get("folds", []))
        config = record.get("config")
        return CrossValidationResult(
            str(folder),
            int(record["k"]),
            folds,
            sum(fold.seconds for fold in folds),
            config if isinstance(config, dict) else {},
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
