"""Distillation run folders as the Distill panel lists them: read without torch.

A run folder is what `runner.distill` writes (config.json, state.pt, history.json,
snapshots/, synthetic.npz) plus evaluation.json once the panel evaluated it. The names are
repeated here rather than imported from runner.py, which imports torch: the panel lists
past runs at window start, long before torch is loaded (a test keeps the names equal).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio import paths
from galaxy_studio.atomic_files import write_json_atomically
from galaxy_studio.model.errors import ModelError
from galaxy_studio.run_folders import (
    RunKind,
    RunSummary,
    list_run_folders,
    read_run_folder,
)

STATE_FILE = "state.pt"
SNAPSHOT_DIR = "snapshots"
SYNTHETIC_FILE = "synthetic.npz"
EVALUATION_FILE = "evaluation.json"
_SNAPSHOT_NAME = re.compile(r"^step_(\d+)\.npz$")
# A distillation's metrics are its evaluation; it is finished once synthetic.npz is written.
DISTILLATION_RUN = RunKind(
    metrics_file=EVALUATION_FILE,
    state_file=STATE_FILE,
    finished_files=(SYNTHETIC_FILE,),
    config_keys=("buffer", "ipc"),
)


def distill_runs_dir() -> Path:
    return paths.data_dir() / "distillations"


def buffers_dir() -> Path:
    return paths.data_dir() / "buffers"


def read_distill_run(path: str | Path) -> RunSummary | None:
    """The run in `path`, or None when it is not a distillation run folder."""
    return read_run_folder(path, DISTILLATION_RUN)


def list_distill_runs(root: Path | None = None) -> list[RunSummary]:
    """Runs under `root` (default: the app's distillations folder), newest first."""
    return list_run_folders(root or distill_runs_dir(), DISTILLATION_RUN)


def snapshot_steps(run_dir: str | Path) -> list[int]:
    """Iterations at which the run saved its pictures, ascending."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return []
    steps = [int(match.group(1)) for file in folder.iterdir() if (match := _SNAPSHOT_NAME.match(file.name))]
    return sorted(steps)


def snapshot_file(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"step_{step:06d}.npz"


def load_snapshot(run_dir: str | Path, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 pictures and their class indices saved at `step`."""
    path = snapshot_file(run_dir, step)
    try:
        with np.load(path, allow_pickle=False) as stored:
            images, labels = stored["images"], stored["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable snapshot ({exc})") from exc
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(labels) != len(images):
        raise ModelError(
            f"{path}: snapshot of shape {images.shape} ({images.dtype}) with {len(labels)} labels "
            "is not (N, H, W, 3) uint8"
        )
    return images, labels


def save_evaluation(run_dir: str | Path, report: dict[str, Any]) -> Path:
    path = Path(run_dir) / EVALUATION_FILE
    write_json_atomically(path, report)
    return path
