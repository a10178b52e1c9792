"""The run folder: what a training run leaves on disk, and the list of past runs.

A run folder holds config.json (written first, once the data has been read and checked, so
that bad input leaves no folder behind), history.json (after every epoch),
last.pt (the resumable training state, while the run is unfinished) and, once finished,
model.pt (the classifier) and metrics.json. Reading runs needs neither torch nor the
checkpoints, so listing hundreds of past runs in the Train panel is instant. Lists that offer
runs to choose from rank them by how well their test accuracy is known to be (`rank_runs`).
A cross-validation's folder (cv.json, a run per fold inside) is listed as a past run of its own
(`list_cross_validations`), never as a model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from galaxy_studio import paths
from galaxy_studio.atomic_files import output_folder_problem
from galaxy_studio.model.cross_validation_results import CV_FILE, read_cross_validation
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.uncertainty import AccuracyEstimate
from galaxy_studio.run_folders import (
    CONFIG_FILE,
    HISTORY_FILE,
    RunKind,
    RunSummary,
    list_run_folders,
    new_run_folder,
    read_run_folder,
)

METRICS_FILE = "metrics.json"
MODEL_FILE = "model.pt"
STATE_FILE = "last.pt"
TRAINING_RUN = RunKind(
    metrics_file=METRICS_FILE,
    state_file=STATE_FILE,
    finished_files=(MODEL_FILE, METRICS_FILE),
    activity_files=(CONFIG_FILE, HISTORY_FILE, METRICS_FILE),
)


# A cross-validation listed as a past run carries this in its metrics: {"k": folds, "finished": folds done}.
CROSS_VALIDATION = "cross_validation"


def runs_dir() -> Path:
    return paths.data_dir() / "runs"


def new_run_dir(arch: str, root: Path | None = None) -> Path:
    """A fresh folder name under the runs folder: time stamp and architecture, never reused."""
    return new_run_folder(root or runs_dir(), arch)


def read_run(path: str | Path) -> RunSummary | None:
    """The run in `path`, or None when it is not a run folder or its records are unreadable."""
    return read_run_folder(path, TRAINING_RUN)


def list_runs(root: str | Path | None = None) -> list[RunSummary]:
    """Every run directly under `root` (default: the app's runs folder), newest first."""
    return list_run_folders(Path(root) if root is not None else runs_dir(), TRAINING_RUN)


def list_cross_validations(root: str | Path | None = None) -> list[RunSummary]:
    """Every cross-validation directly under `root` (default: the app's runs folder) whose
    record names its config, as a past run, newest first: its config, "finished" once every
    fold is (else "unfinished": running it again continues) and, when finished, the metrics of
    all its folds pooled, so that it ranks by the accuracy over every labelled image."""
    folder = Path(root) if root is not None else runs_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        result = read_cross_validation(path) if path.is_dir() else None
        if result is None or not result.config:
            continue
        metrics = {
            CROSS_VALIDATION: {"k": result.k, "finished": len(result.folds)},
            **(result.pooled_metrics() if result.finished else {}),
        }
        status = "finished" if result.finished else "unfinished"
        modified = (path / CV_FILE).stat().st_mtime
        found.append(RunSummary(path, result.config, [], metrics, status, modified))
    return sorted(found, key=lambda run: run.modified, reverse=True)


def is_cross_validation(run: RunSummary) -> bool:
    return CROSS_VALIDATION in (run.metrics or {})


def rank_runs(runs: Iterable[RunSummary]) -> list[RunSummary]:
    """Best first by the lower bound of the test accuracy's 95% interval, not by the accuracy
    itself: 2 of 2 test images right (100%, interval 34-100%) ranks below 1,050 of 1,400 (75%,
    73-77%). Runs without an interval (unfinished, or recorded without the test split's size)
    follow the ranked ones; equal runs keep the order given (newest first from `list_runs`)."""
    bounds = [(run, AccuracyEstimate.of(run.metrics).lower_bound) for run in runs]
    ranked = sorted((pair for pair in bounds if pair[1] is not None), key=lambda pair: -(pair[1] or 0.0))
    return [run for run, _ in ranked] + [run for run, bound in bounds if bound is None]


def require_output_folder(run_dir: Path) -> None:
    """Refuse a run folder that could not be made or written, before the job reads any data:
    a job checks its output and its input first and writes only when both are usable."""
    problem = output_folder_problem(run_dir)
    if problem is not None:
        raise ModelError(f"{run_dir}: {problem}", "choose another {out_dir} folder")
