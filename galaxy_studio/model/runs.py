"""The run folder: what a training run leaves on disk, and the list of past runs.

A run folder holds config.json (written first), history.json (after every epoch),
last.pt (the resumable training state, while the run is unfinished) and, once finished,
model.pt (the classifier) and metrics.json. Reading runs needs neither torch nor the
checkpoints, so listing hundreds of past runs in the Train panel is instant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from galaxy_studio import paths

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.pt"
STATE_FILE = "last.pt"


@dataclass(frozen=True)
class RunSummary:
    """A past run as shown in a list: `status` is "finished", "unfinished" (cancelled or
    crashed; resumable from last.pt) or "empty" (stopped before its first epoch)."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    status: str = "empty"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def modified(self) -> float:
        return max(
            (self.path / name).stat().st_mtime
            for name in (CONFIG_FILE, HISTORY_FILE, METRICS_FILE)
            if (self.path / name).exists()
        )


def runs_dir() -> Path:
    return paths.data_dir() / "runs"


def new_run_dir(arch: str, root: Path | None = None) -> Path:
    """A fresh folder name under the runs folder: time stamp and architecture, never reused."""
    root = root or runs_dir()
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{re.sub(r'[^A-Za-z0-9_.-]', '_', arch)}"
    candidate, number = root / stem, 1
    while candidate.exists():
        number += 1
        candidate = root / f"{stem}-{number}"
    return candidate


def read_run(path: str | Path) -> RunSummary | None:
    """The run in `path`, or None when it is not a run folder or its records are unreadable."""
    path = Path(path)
    config = _read_json(path / CONFIG_FILE)
    if not isinstance(config, dict):
        return None
    history = _read_json(path / HISTORY_FILE)
    metrics = _read_json(path / METRICS_FILE)
    history = history if isinstance(history, list) else []
    metrics = metrics if isinstance(metrics, dict) else None
    if metrics is not None and (path / MODEL_FILE).is_file():
        status = "finished"
    elif (path / STATE_FILE).is_file():
        status = "unfinished"
    else:
        status = "empty"
    return RunSummary(path, config, history, metrics, status)


def list_runs(root: str | Path | None = None) -> list[RunSummary]:
    """Every run directly under `root` (default: the app's runs folder), newest first."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return []
    runs = [run for run in (read_run(child) for child in root.iterdir() if child.is_dir()) if run]
    return sorted(runs, key=lambda run: run.modified, reverse=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
