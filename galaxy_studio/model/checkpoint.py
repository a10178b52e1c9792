"""Checkpoint files: weights plus plain metadata, written atomically and read without running code.

A `.pt` file is a pickle, and unpickling an arbitrary pickle can run any code, so models
shared between colleagues would be a way in. Every file is therefore read with
`torch.load(weights_only=True)`, which only rebuilds tensors and plain containers, and the
metadata is restricted to dicts, lists, strings, numbers, booleans and None when saved.
"""

from __future__ import annotations

import pickle
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from galaxy_studio import __version__
from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec
from galaxy_studio.model.checkpoint_schema import validate_classifier_metadata
from galaxy_studio.model.errors import CheckpointError, ModelError

CLASSIFIER_FORMAT = "galaxy-studio-classifier"
TRAINING_STATE_FORMAT = "galaxy-studio-training-state"
FORMAT_VERSION = 1
_PLAIN = (str, int, float, bool, type(None))


def package_versions() -> dict[str, str]:
    import torchvision

    return {
        "galaxy_studio": __version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def check_plain(value: Any, where: str = "metadata") -> None:
    """Refuse anything `weights_only` loading could not read back (NumPy scalars, subclasses
    of str such as torch's version, dataclasses): finding it when saving beats a checkpoint
    that will not open."""
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a string")
            check_plain(item, f"{where}.{key}")
    elif type(value) is list:
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
    elif type(value) not in _PLAIN:
        raise TypeError(f"{where}: {type(value).__name__} is not a plain JSON-like value")


def save_payload(path: str | Path, payload: dict[str, Any]) -> None:
    write_atomically(path, lambda stream: torch.save(payload, stream))


def load_payload(path: str | Path, expected_format: str, *, version: int = FORMAT_VERSION) -> dict[str, Any]:
    """The saved dict, loaded so that it cannot execute code, after checking what it is."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {'is a folder' if path.is_dir() else 'no such checkpoint file'}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():
            raise CheckpointError(
                f"{path}: refused: the file asks to run code or build objects other than weights and "
                "plain data, so it was not loaded (a checkpoint from elsewhere can be crafted to run code)"
            ) from None
        raise CheckpointError(
            f"{path}: refused: not a Galaxy Studio checkpoint (damaged, or a pickle that cannot be "
            "read without running code), so it was not loaded"
        ) from None
    except (KeyError, IndexError):
        raise CheckpointError(f"{path}: not a Galaxy Studio checkpoint (damaged or another kind of file)") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a Galaxy Studio checkpoint (damaged or another kind of file: {exc})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a {expected_format} file (found {found!r})")
    if payload.get("format_version", 0) > version:
        raise CheckpointError(
            f"{path}: written by a newer Galaxy Studio (format {payload['format_version']}); update to read it"
        )
    return payload


def save_classifier(path: str | Path, model: nn.Module, metadata: dict[str, Any]) -> None:
    """The trained classifier: CPU weights and metadata (architecture, classes, preprocessing,
    metrics, config, versions) so that it classifies exactly as it was evaluated."""
    check_plain(metadata)
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    save_payload(
        path, {"format": CLASSIFIER_FORMAT, "format_version": FORMAT_VERSION, "metadata": metadata, "state_dict": state}
    )


def load_classifier(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, metadata) from a classifier checkpoint."""
    payload = load_payload(path, CLASSIFIER_FORMAT)
    metadata = validate_classifier_metadata(payload.get("metadata"), path)
    try:
        spec = ArchitectureSpec.from_dict(metadata["architecture"])
    except (TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: the checkpoint's architecture record is unreadable ({exc})") from None
    try:
        model = model_from_spec(spec)
        model.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError, ModelError) as exc:
        raise CheckpointError(f"{path}: the weights do not fit the recorded architecture ({exc})") from None
    model.eval()
    return model, metadata
