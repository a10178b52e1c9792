"""Distillation run folders as the Distill panel lists them: read without torch.

A run folder is what `runner.distill` writes (config.json, state.pt, history.json,
snapshots/, synthetic.npz) plus evaluation.json once the panel evaluated it. The names are
repeated here rather than imported from runner.py, which imports torch: the panel lists
past runs at window start, long before torch is loaded (a test keeps the names equal).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio import paths
from galaxy_studio.atomic_files import write_json_atomically
from galaxy_studio.model.errors import ModelError

CONFIG_FILE = "config.json"
STATE_FILE = "state.pt"
HISTORY_FILE = "history.json"
SNAPSHOT_DIR = "snapshots"
SYNTHETIC_FILE = "synthetic.npz"
EVALUATION_FILE = "evaluation.json"
_SNAPSHOT_NAME = re.compile(r"^step_(\d+)\.npz$")


@dataclass(frozen=True)
class DistillRun:
    """A past run: `status` is "finished" (synthetic.npz written), "unfinished" (a checkpoint
    to resume from) or "empty" (stopped before its first checkpoint)."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None
    status: str = "empty"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def iterations(self) -> int:
        return int(self.history[-1].get("iteration", len(self.history))) if self.history else 0


def distill_runs_dir() -> Path:
    return paths.data_dir() / "distillations"


def buffers_dir() -> Path:
    return paths.data_dir() / "buffers"


def new_run_folder(root: Path, stem: str) -> Path:
    """A fresh folder under `root` named by the time and `stem`, never reused."""
    name = f"{datetime.now():%Y%m%d-%H%M%S}-{re.sub(r'[^A-Za-z0-9_.-]', '_', stem)}"
    candidate, number = root / name, 1
    while candidate.exists():
        number += 1
        candidate = root / f"{name}-{number}"
    return candidate


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_distill_run(path: str | Path) -> DistillRun | None:
    """The run in `path`, or None when it is not a distillation run folder."""
    path = Path(path)
    config = _read_json(path / CONFIG_FILE)
    if not isinstance(config, dict) or "buffer" not in config or "ipc" not in config:
        return None
    history = _read_json(path / HISTORY_FILE)
    evaluation = _read_json(path / EVALUATION_FILE)
    if (path / SYNTHETIC_FILE).is_file():
        status = "finished"
    elif (path / STATE_FILE).is_file():
        status = "unfinished"
    else:
        status = "empty"
    return DistillRun(path, config, history if isinstance(history, list) else [],
                      evaluation if isinstance(evaluation, dict) else None, status)


def list_distill_runs(root: Path | None = None) -> list[DistillRun]:
    """Runs under `root` (default: the app's distillations folder), newest first."""
    root = root or distill_runs_dir()
    if not root.is_dir():
        return []
    runs = [run for folder in root.iterdir() if folder.is_dir() and (run := read_distill_run(folder)) is not None]
    return sorted(runs, key=lambda run: (run.path / CONFIG_FILE).stat().st_mtime, reverse=True)


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
        raise ModelError(f"{path}: snapshot of shape {images.shape} ({images.dtype}) with {len(labels)} labels "
                         "is not (N, H, W, 3) uint8")
    return images, labels


def save_evaluation(run_dir: str | Path, report: dict[str, Any]) -> Path:
    path = Path(run_dir) / EVALUATION_FILE
    write_json_atomically(path, report)
    return path
