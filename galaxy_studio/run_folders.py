"""Past runs as the panels list them: one type for every kind of run folder, read without
torch, so listing hundreds of training runs or distillations at window start is instant.

Every run folder holds config.json (written first), history.json (one record per epoch or
iteration), a resumable state file while it is unfinished, the files that mark it finished,
and a JSON file of what was measured: a classifier's metrics.json, a distillation's
evaluation.json. A `RunKind` names those files for one kind of run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from galaxy_studio.path_text import readable

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"


@dataclass(frozen=True)
class RunKind:
    """The files of one kind of run. `finished_files` must all exist for a finished run (and
    the metrics file, when listed there, must be readable); `config_keys` are the keys only
    this kind's config has; `activity_files` are those whose time says how recent a run is."""

    metrics_file: str
    state_file: str
    finished_files: tuple[str, ...]
    config_keys: tuple[str, ...] = ()
    activity_files: tuple[str, ...] = (CONFIG_FILE,)


@dataclass(frozen=True)
class RunSummary:
    """A past run as shown in a list: `status` is "finished", "unfinished" (cancelled or
    crashed; resumable from its state file) or "empty" (stopped before its first checkpoint).
    `metrics` is what the run measured, None until it did; `modified` is the time (epoch
    seconds) of the run's latest activity."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    status: str = "empty"
    modified: float = 0.0

    @property
    def name(self) -> str:
        """The folder's name as lists show it (a byte that is not UTF-8 as U+FFFD)."""
        return readable(self.path.name)

    @property
    def iterations(self) -> int:
        """Iterations (or epochs) recorded: the last record's own count, else the records'."""
        return int(self.history[-1].get("iteration", len(self.history))) if self.history else 0


def new_run_folder(root: Path, stem: str) -> Path:
    """A fresh folder under `root` named by the time and `stem`, never reused."""
    name = f"{datetime.now():%Y%m%d-%H%M%S}-{re.sub(r'[^A-Za-z0-9_.-]', '_', stem)}"
    candidate, number = root / name, 1
    while candidate.exists():
        number += 1
        candidate = root / f"{name}-{number}"
    return candidate


def read_run_folder(path: str | Path, kind: RunKind) -> RunSummary | None:
    """The run in `path`, or None when it is not a run folder of `kind` or its config is unreadable."""
    path = Path(path)
    config = _read_json(path / CONFIG_FILE)
    if not isinstance(config, dict) or any(key not in config for key in kind.config_keys):
        return None
    history = _read_json(path / HISTORY_FILE)
    metrics = _read_json(path / kind.metrics_file)
    metrics = metrics if isinstance(metrics, dict) else None
    if all((path / name).is_file() for name in kind.finished_files) and (
        metrics is not None or kind.metrics_file not in kind.finished_files
    ):
        status = "finished"
    elif (path / kind.state_file).is_file():
        status = "unfinished"
    else:
        status = "empty"
    modified = max((path / name).stat().st_mtime for name in kind.activity_files if (path / name).exists())
    return RunSummary(path, config, history if isinstance(history, list) else [], metrics, status, modified)


def list_run_folders(root: Path, kind: RunKind) -> list[RunSummary]:
    """Every run of `kind` directly under `root`, the most recently active first."""
    if not root.is_dir():
        return []
    runs = [run for folder in root.iterdir() if folder.is_dir() and (run := read_run_folder(folder, kind)) is not None]
    return sorted(runs, key=lambda run: run.modified, reverse=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
