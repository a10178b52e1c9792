"""A cross-validation's result as the Train panel's results box shows it.

A project's first labels give a test split of a handful of images (60 labels: 9), whose
accuracy moves by tens of points with the split. Cross-validation tests every labelled image
once, each by a model that never saw it, so the box leads with the accuracy over all of them
and its interval, then the folds' mean and spread, which say how much one split's figure moves.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from galaxy_studio.count_text import counted
from galaxy_studio.eta import format_duration
from galaxy_studio.model.uncertainty import AccuracyEstimate
from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from galaxy_studio.model.cross_validation_results import CrossValidationResult, MeanStd


def calibration(pooled: dict[str, Any]) -> str:
    """The pooled ECE after each fold's temperature scaling, and of the raw softmax."""
    after, before = pooled.get("ece"), pooled.get("ece_uncalibrated")
    if after is None:
        return "–"
    return f"ECE {after:.3f}" + ("" if before is None else f" · softmax {before:.3f}")


def describe_cross_validation(result: CrossValidationResult) -> str:
    """The result as a small HTML table: pooled accuracy, the folds' mean ± std of each metric,
    the pooled calibration error, each fold's accuracy, the time and the folder."""

    def spread(value: MeanStd | None, percent: bool) -> str:
        if value is None:
            return "–"
        scale, unit, digits = (100.0, "%", 1) if percent else (1.0, "", 3)
        deviation = "?" if value.std is None else f"{scale * value.std:.{digits}f}"
        return f"{scale * value.mean:.{digits}f}{unit} ± {deviation}"

    summary = result.summary
    pooled = result.pooled_metrics()
    folds = ", ".join(
        "–" if fold.metrics.get("accuracy") is None else f"{100 * fold.metrics['accuracy']:.1f}%"
        for fold in result.folds
    )
    rows = [
        f"<tr><td colspan=2><b>{result.k}-fold cross-validation</b> of "
        f"{counted(result.images, 'image', grouped=True)}: each tested once, by a model trained without it</td></tr>",
        f"<tr><td>Accuracy</td><td><b>{AccuracyEstimate.of(pooled).text()}</b></td></tr>",
        f"<tr><td>Over the folds</td><td>accuracy {spread(summary['accuracy'], True)} (mean ± std)</td></tr>",
        f"<tr><td>Balanced accuracy</td><td>{spread(summary['balanced_accuracy'], True)}</td></tr>",
        f"<tr><td>Macro ROC AUC</td><td>{spread(summary['macro_auc'], False)}</td></tr>",
        f"<tr><td>Calibration error</td><td>{calibration(pooled)}</td></tr>",
        f"<tr><td>Each fold</td><td>{folds}</td></tr>",
        f"<tr><td>Took</td><td>{format_duration(result.seconds)}</td></tr>",
        f"<tr><td>Folder</td><td>{html.escape(readable(result.run_dir))}</td></tr>",
    ]
    return "<table cellspacing=3>" + "".join(rows) + "</table>"
