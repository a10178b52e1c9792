"""The resumable state of a distillation run folder, shared by trajectory matching and the
unsupervised method: one file rewritten after every step, never left half-written."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from galaxy_studio.atomic_files import write_bytes_atomically, write_json_atomically
from galaxy_studio.distill.runs import STATE_FILE
from galaxy_studio.model.errors import ModelError
from galaxy_studio.run_folders import HISTORY_FILE

DAMAGED_STATE_HINT = "delete the run's state.pt to start over, or choose another {out_dir} folder"
"""What to do about a saved state that cannot be resumed (the caller names the file and field)."""


def save_run_state(run_dir: Path, payload: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """The state, then the history the GUI plots. Serialised in memory first, so a failing
    torch.save cannot leave half a file in place of the last good one."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomically(run_dir / STATE_FILE, buffer.getvalue())
    write_json_atomically(run_dir / HISTORY_FILE, history)


def load_run_state(
    run_dir: Path, device: torch.device, state_format: str, damaged: str, not_ours: str
) -> dict[str, Any] | None:
    """The saved state (None: the run has not saved one), loaded so that it cannot run code.
    `damaged` and `not_ours` name the file's kind in the two errors."""
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise ModelError(
            f"{path}: damaged {damaged} (not a file Galaxy Studio wrote, or one that asks to run code)",
            DAMAGED_STATE_HINT,
        ) from None
    except Exception as exc:  # torch raises many types for a damaged file; all mean the same here
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"{path}: damaged {damaged} ({type(exc).__name__}: {first_line})", DAMAGED_STATE_HINT
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != state_format:
        raise ModelError(f"{path}: not {not_ours}")
    return saved
