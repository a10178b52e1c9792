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
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio.atomic_files import write_json_atomically
from galaxy_studio.events import NEVER, CancelToken, EventSink, Noted, Progressed, ignore
from galaxy_studio.model.config import TrainConfig, legacy_fields_translated
from galaxy_studio.model.cross_validation_results import CV_FILE, CrossValidationResult, FoldResult
from galaxy_studio.model.datasets import load_labelled_data, stratified_folds
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.runs import read_run
from galaxy_studio.model.training import train_classifier
from galaxy_studio.settings import changed_settings_text

# The Progressed events of the folds carry this as `what` (the CLI prints them as lines).
FOLDS = "folds"


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
    recorded = config.to_dict()
    _write_record(run_dir, record, CrossValidationResult(str(run_dir), k, (), 0.0, recorded))
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
        partial = CrossValidationResult(str(run_dir), k, tuple(results), time.perf_counter() - started, recorded)
        _write_record(run_dir, record, partial)
        emit(Progressed(fold, k, FOLDS))
    return CrossValidationResult(str(run_dir), k, tuple(results), time.perf_counter() - started, recorded)


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


def _write_record(run_dir: Path, record: dict[str, Any], result: CrossValidationResult) -> None:
    """cv.json: what identifies the cross-validation, its config, then the folds finished so far."""
    write_json_atomically(run_dir / CV_FILE, {**record, "config": result.config, **result.to_dict()})
