"""The classifier checkpoint's metadata, checked once when the file is opened.

`weights_only` loading keeps code out of a checkpoint but lets in any plain data: a file
without its preprocessing record, a normalisation mean for two channels of a three-channel
network, one class name for a two-class head or a recorded input size of 30,000 px (which
made classification try to allocate tens of GiB) all loaded and then failed deep inside the
work, with a KeyError or a MemoryError. Every consumer opens a classifier through
`load_classifier`, which calls `validate_classifier_metadata` before building anything, so
such a file is refused with one message naming the file and the field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from galaxy_studio.data.display import DisplaySettings
from galaxy_studio.model.architectures import ARCHITECTURES
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.errors import CheckpointError, ModelError
from galaxy_studio.model.out_of_distribution import OodScorer
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.training_profile import TrainingProfile
from galaxy_studio.settings import settings_of

_HINT = "retrain the model or use the model.pt its training run wrote; a changed checkpoint cannot be trusted"


def input_size_range() -> tuple[int, int]:
    """The image sizes a run may be trained at: the range the size setting declares."""
    declared = settings_of(TrainConfig)["size"].declaration.widget_range
    assert declared is not None
    return int(declared[0]), int(declared[1])


def _refuse(path: Path, field: str, problem: str, hint: str = _HINT) -> CheckpointError:
    return CheckpointError(f"{path}: field {field}: {problem}", hint)


def _record(path: Path, metadata: dict[str, Any], field: str) -> dict[str, Any]:
    value = metadata.get(field)
    if value is None:
        raise _refuse(path, field, "missing")
    if not isinstance(value, dict):
        raise _refuse(path, field, f"should be a record, found {type(value).__name__}")
    return value


def _whole(path: Path, field: str, value: Any, low: int, high: int | None = None) -> int:
    if type(value) is not int:
        raise _refuse(path, field, f"should be a whole number, found {value!r}")
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _refuse(path, field, f"{value} is out of range (it should be {span})")
    return value


def _statistics(path: Path, field: str, values: Any, n_channels: int, *, positive: bool) -> None:
    if not isinstance(values, list | tuple):
        raise _refuse(path, field, "missing (the input statistics of the training split), so it cannot classify")
    if len(values) != n_channels:
        raise _refuse(path, field, f"{len(values)} value(s) for a {n_channels}-channel input")
    for value in values:
        if type(value) not in (int, float) or not math.isfinite(value) or (positive and value <= 0):
            wanted = "positive finite numbers" if positive else "finite numbers"
            raise _refuse(path, field, f"{value!r} is not allowed (it should hold {wanted})")


def _split(path: Path, split: dict[str, Any]) -> None:
    """The recorded split, which `evaluate --split test` rebuilds from the same data."""
    if not isinstance(split.get("fingerprint"), str):
        raise _refuse(path, "split.fingerprint", "should be the data set's fingerprint (text)")
    fractions = split.get("fractions")
    if (
        not isinstance(fractions, list)
        or len(fractions) != 3
        or not all(type(value) in (int, float) and 0 <= value <= 1 for value in fractions)
    ):
        raise _refuse(path, "split.fractions", f"should be three fractions between 0 and 1, found {fractions!r}")
    _whole(path, "split.seed", split.get("seed"), 0)


def _temperature(path: Path, value: Any) -> None:
    """The temperature divides every logit, so zero, a negative number, infinity or NaN would
    turn probabilities into nonsense or NaN; a checkpoint without one is read with T = 1."""
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise _refuse(path, "temperature", f"{value!r} is not allowed (it should be a positive finite number)")


def validate_classifier_metadata(metadata: Any, path: str | Path) -> dict[str, Any]:
    """Refuse metadata that would not classify as it was evaluated: every record present with
    the right types, lengths and ranges, and the class names matching the network's head.
    Returns the metadata, now known to be a record."""
    path = Path(path)
    if not isinstance(metadata, dict):
        raise _refuse(path, "metadata", "missing")
    architecture = _record(path, metadata, "architecture")
    name = architecture.get("name")
    if name not in ARCHITECTURES:
        raise _refuse(
            path,
            "architecture.name",
            f"made with an architecture this version does not know ({name!r}; it knows {', '.join(ARCHITECTURES)})",
            "open it with the Galaxy Studio version that trained it",
        )
    low, high = input_size_range()
    n_classes = _whole(path, "architecture.n_classes", architecture.get("n_classes"), 2)
    in_channels = _whole(path, "architecture.in_channels", architecture.get("in_channels"), 1)
    arch_size = _whole(path, "architecture.size", architecture.get("size"), low, high)

    classes = metadata.get("classes")
    if not isinstance(classes, list) or not all(isinstance(item, str) and item for item in classes):
        raise _refuse(path, "classes", "should be a list of class names")
    if len(classes) != n_classes:
        raise _refuse(path, "classes", f"{len(classes)} name(s) for a network with {n_classes} outputs")
    if len(set(classes)) != len(classes):
        raise _refuse(path, "classes", "a class name is repeated")

    preprocessing = _record(path, metadata, "preprocessing")
    size = _whole(path, "preprocessing.size", preprocessing.get("size"), low, high)
    if size != arch_size:
        raise _refuse(path, "preprocessing.size", f"{size} px, but the network was built for {arch_size} px")
    display = preprocessing.get("display")
    if display is not None:
        try:
            DisplaySettings(**display)
        except (TypeError, ValueError) as exc:
            raise _refuse(path, "preprocessing.display", str(exc)) from None
    try:
        prep = Preprocessing.from_dict(preprocessing)
    except (TypeError, ValueError, ModelError) as exc:
        raise _refuse(path, "preprocessing", str(exc)) from None
    if prep.n_channels != in_channels:
        raise _refuse(
            path, "preprocessing.channels", f"{prep.n_channels} channel(s) for a network reading {in_channels}"
        )
    _statistics(path, "preprocessing.mean", preprocessing.get("mean"), in_channels, positive=False)
    _statistics(path, "preprocessing.std", preprocessing.get("std"), in_channels, positive=True)

    if metadata.get("split") is not None:
        _split(path, _record(path, metadata, "split"))
    if "temperature" in metadata:
        _temperature(path, metadata["temperature"])

    for field, reader in (
        ("training_profile", TrainingProfile.from_dict),
        ("out_of_distribution", OodScorer.from_dict),
    ):
        if metadata.get(field) is None:
            continue
        try:
            reader(_record(path, metadata, field))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise _refuse(path, field, f"unreadable ({type(exc).__name__}: {exc})") from None
    return metadata
