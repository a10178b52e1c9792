"""What Galaxy Studio's own files record, checked once when the file is opened: a classifier's
metadata, an autoencoder's, and the resumable state of a training or distillation run.

`weights_only` loading keeps code out of a checkpoint but lets in any plain data: a file
without its preprocessing record, a normalisation mean for two channels of a three-channel
network, one class name for a two-class head or a recorded input size of 30,000 px (which
made classification try to allocate tens of GiB) all loaded and then failed deep inside the
work, with a KeyError or a MemoryError. Every consumer opens a classifier through
`load_classifier`, which calls `validate_classifier_metadata` before building anything, so
such a file is refused with one message naming the file and the field. The autoencoder
(`validate_autoencoder_metadata`, `check_weight_shapes`) and the run states
(`check_state_like`) go through the same field checks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from galaxy_studio.count_text import counted
from galaxy_studio.data.display import DisplaySettings
from galaxy_studio.model.architectures import ARCHITECTURES
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.errors import CheckpointError, ModelError
from galaxy_studio.model.out_of_distribution import OodScorer
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.training_profile import TrainingProfile
from galaxy_studio.settings import settings_of

_HINT = "retrain the model or use the model.pt its training run wrote; a changed checkpoint cannot be trusted"
AUTOENCODER_HINT = "train the autoencoder again (embed without a FILE trains one); a changed file cannot be trusted"


def input_size_range() -> tuple[int, int]:
    """The image sizes a run may be trained at: the range the size setting declares."""
    declared = settings_of(TrainConfig)["size"].declaration.widget_range
    assert declared is not None
    return int(declared[0]), int(declared[1])


class _Fields:
    """Checks of one file's fields; each refusal names the file and the field and carries
    the hint for that kind of file."""

    def __init__(self, path: Path, hint: str) -> None:
        self.path, self.hint = path, hint

    def refuse(self, field: str, problem: str, hint: str | None = None) -> CheckpointError:
        return CheckpointError(f"{self.path}: field {field}: {problem}", hint or self.hint)

    def record(self, metadata: dict[str, Any], field: str) -> dict[str, Any]:
        value = metadata.get(field)
        if value is None:
            raise self.refuse(field, "missing")
        if not isinstance(value, dict):
            raise self.refuse(field, f"should be a record, found {type(value).__name__}")
        return value

    def whole(self, field: str, value: Any, low: int, high: int | None = None) -> int:
        if type(value) is not int:
            raise self.refuse(field, f"should be a whole number, found {value!r}")
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.refuse(field, f"{value} is out of range (it should be {span})")
        return value

    def statistics(self, field: str, values: Any, n_channels: int, *, positive: bool) -> None:
        if not isinstance(values, list | tuple):
            raise self.refuse(field, "missing (the input statistics of the training split), so it cannot be used")
        if len(values) != n_channels:
            raise self.refuse(field, f"{counted(len(values), 'value')} for a {n_channels}-channel input")
        for value in values:
            if type(value) not in (int, float) or not math.isfinite(value) or (positive and value <= 0):
                wanted = "positive finite numbers" if positive else "finite numbers"
                raise self.refuse(field, f"{value!r} is not allowed (it should hold {wanted})")

    def preprocessing(
        self, metadata: dict[str, Any], in_channels: int, size: int, *, statistics_required: bool = True
    ) -> Preprocessing:
        """The preprocessing record, which must give the network's input: its size, its
        channels, and one mean and standard deviation per channel (which a network fed
        display pixels in 0..1 may go without: `statistics_required` False)."""
        preprocessing = self.record(metadata, "preprocessing")
        low, high = input_size_range()
        recorded = self.whole("preprocessing.size", preprocessing.get("size"), low, high)
        if recorded != size:
            raise self.refuse("preprocessing.size", f"{recorded} px, but the network was built for {size} px")
        display = preprocessing.get("display")
        if display is not None:
            try:
                DisplaySettings(**display)
            except (TypeError, ValueError) as exc:
                raise self.refuse("preprocessing.display", str(exc)) from None
        try:
            prep = Preprocessing.from_dict(preprocessing)
        except (TypeError, ValueError, ModelError) as exc:
            raise self.refuse("preprocessing", str(exc)) from None
        if prep.n_channels != in_channels:
            raise self.refuse(
                "preprocessing.channels", f"{counted(prep.n_channels, 'channel')} for a network reading {in_channels}"
            )
        for field, positive in (("mean", False), ("std", True)):
            values = preprocessing.get(field)
            if statistics_required or values is not None:
                self.statistics(f"preprocessing.{field}", values, in_channels, positive=positive)
        return prep


def _split(fields: _Fields, split: dict[str, Any]) -> None:
    """The recorded split, which `evaluate --split test` rebuilds from the same data."""
    if not isinstance(split.get("fingerprint"), str):
        raise fields.refuse("split.fingerprint", "should be the data set's fingerprint (text)")
    fractions = split.get("fractions")
    if (
        not isinstance(fractions, list)
        or len(fractions) != 3
        or not all(type(value) in (int, float) and 0 <= value <= 1 for value in fractions)
    ):
        raise fields.refuse("split.fractions", f"should be three fractions between 0 and 1, found {fractions!r}")
    fields.whole("split.seed", split.get("seed"), 0)
    fold = split.get("fold")
    if fold is not None and not (
        isinstance(fold, list) and len(fold) == 2 and all(type(v) is int for v in fold) and 1 <= fold[0] <= fold[1]
    ):
        raise fields.refuse("split.fold", f"should be [i, k], fold i of k-fold cross-validation, found {fold!r}")


def _temperature(fields: _Fields, value: Any) -> None:
    """The temperature divides every logit, so zero, a negative number, infinity or NaN would
    turn probabilities into nonsense or NaN; a checkpoint without one is read with T = 1."""
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise fields.refuse("temperature", f"{value!r} is not allowed (it should be a positive finite number)")


def validate_classifier_metadata(metadata: Any, path: str | Path) -> dict[str, Any]:
    """Refuse metadata that would not classify as it was evaluated: every record present with
    the right types, lengths and ranges, and the class names matching the network's head.
    Returns the metadata, now known to be a record."""
    fields = _Fields(Path(path), _HINT)
    if not isinstance(metadata, dict):
        raise fields.refuse("metadata", "missing")
    architecture = fields.record(metadata, "architecture")
    name = architecture.get("name")
    if name not in ARCHITECTURES:
        raise fields.refuse(
            "architecture.name",
            f"made with an architecture this version does not know ({name!r}; it knows {', '.join(ARCHITECTURES)})",
            "open it with the Galaxy Studio version that trained it",
        )
    low, high = input_size_range()
    n_classes = fields.whole("architecture.n_classes", architecture.get("n_classes"), 2)
    in_channels = fields.whole("architecture.in_channels", architecture.get("in_channels"), 1)
    arch_size = fields.whole("architecture.size", architecture.get("size"), low, high)

    classes = metadata.get("classes")
    if not isinstance(classes, list) or not all(isinstance(item, str) and item for item in classes):
        raise fields.refuse("classes", "should be a list of class names")
    if len(classes) != n_classes:
        raise fields.refuse(
            "classes", f"{counted(len(classes), 'name')} for a network with {counted(n_classes, 'output')}"
        )
    if len(set(classes)) != len(classes):
        raise fields.refuse("classes", "a class name is repeated")

    fields.preprocessing(metadata, in_channels, arch_size)

    if metadata.get("split") is not None:
        _split(fields, fields.record(metadata, "split"))
    if "temperature" in metadata:
        _temperature(fields, metadata["temperature"])

    for field, reader in (
        ("training_profile", TrainingProfile.from_dict),
        ("out_of_distribution", OodScorer.from_dict),
    ):
        if metadata.get(field) is None:
            continue
        try:
            reader(fields.record(metadata, field))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise fields.refuse(field, f"unreadable ({type(exc).__name__}: {exc})") from None
    return metadata


def validate_autoencoder_metadata(metadata: Any, path: str | Path, *, size_multiple: int) -> dict[str, Any]:
    """Refuse an autoencoder file whose records would not embed as it was trained: the
    architecture's whole numbers in range (the input size a multiple of `size_multiple`, the
    network's downsampling), and the preprocessing giving exactly that input. The weights are
    then checked against the architecture by `check_weight_shapes`, before any network is built
    at the recorded sizes. Returns the metadata, now known to be a record."""
    fields = _Fields(Path(path), AUTOENCODER_HINT)
    if not isinstance(metadata, dict):
        raise fields.refuse("metadata", "missing")
    architecture = fields.record(metadata, "architecture")
    low, high = input_size_range()
    in_channels = fields.whole("architecture.in_channels", architecture.get("in_channels"), 1)
    size = fields.whole("architecture.size", architecture.get("size"), low, high)
    if size % size_multiple:
        raise fields.refuse("architecture.size", f"{size} px is not a multiple of {size_multiple}")
    fields.whole("architecture.latent", architecture.get("latent"), 1)
    fields.whole("architecture.width", architecture.get("width"), 1)
    fields.preprocessing(metadata, in_channels, size, statistics_required=False)
    return metadata


def check_weight_shapes(
    path: str | Path,
    weights: Any,
    expected: dict[str, tuple[int, ...]],
    *,
    field: str = "state_dict",
    hint: str,
) -> dict[str, Any]:
    """Refuse weights that are not exactly the tensors of the recorded architecture (names and
    shapes), so that a network is never built from sizes the file does not back with weights.
    `expected` comes from the architecture built on the meta device, which allocates nothing."""
    fields = _Fields(Path(path), hint)
    if not isinstance(weights, dict) or not all(isinstance(value, torch.Tensor) for value in weights.values()):
        raise fields.refuse(field, "missing (the network's weights)")
    missing = [name for name in expected if name not in weights]
    extra = [name for name in weights if name not in expected]
    if missing or extra:
        named = ", ".join([*(f"no {name}" for name in missing[:2]), *(f"unexpected {name}" for name in extra[:2])])
        raise fields.refuse(field, f"does not match the recorded architecture ({named})")
    for name, shape in expected.items():
        found = tuple(weights[name].shape)
        if found != shape:
            raise fields.refuse(f"{field}.{name}", f"shape {found}, but the recorded architecture needs {shape}")
    return weights


def check_state_like(
    path: str | Path, saved: dict[str, Any], fresh: dict[str, Any], *, hint: str, optional: tuple[str, ...] = ()
) -> None:
    """Refuse a saved run state whose fields differ from those of the state `fresh` that a new
    run of the same recipe and data would save: a field missing or of another type, a count
    below zero, or a tensor (alone or in a network's weights) of another shape. Records whose
    content grows as the run goes (an optimiser's state) are only checked for being records.
    A field that `fresh` leaves empty (None) is not compared; one named in `optional` may be
    empty in `saved`."""
    fields = _Fields(Path(path), hint)
    for name, template in fresh.items():
        value = saved.get(name)
        if template is None or (value is None and name in optional):
            continue
        if value is None:
            raise fields.refuse(name, "missing")
        if isinstance(template, torch.Tensor):
            if not isinstance(value, torch.Tensor) or value.shape != template.shape:
                found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise fields.refuse(name, f"{found}, but this run needs a tensor of shape {tuple(template.shape)}")
        elif isinstance(template, dict) and template and all(isinstance(v, torch.Tensor) for v in template.values()):
            shapes = {key: tuple(tensor.shape) for key, tensor in template.items()}
            check_weight_shapes(path, value, shapes, field=name, hint=hint)
        elif type(template) is int:
            fields.whole(name, value, 0)
        elif type(template) is float:
            if type(value) not in (int, float):
                raise fields.refuse(name, f"should be a number, found {value!r}")
        elif not isinstance(value, type(template)):
            raise fields.refuse(name, f"should be {type(template).__name__}, found {type(value).__name__}")
