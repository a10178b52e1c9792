"""Saliency overlays as files: the map of each classified cutout's predicted class drawn over
the cutout as the Library shows it, one PNG per input. Written by the classification job, so
that a batch leaves the same files whichever interface started it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from torch import nn

from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.data.catalog import read_item
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.display import render_rgb
from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, Warned, ignore
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.explain import (
    explain_cutout,
    explainable_copy,
    outline_view,
    outlined_box,
    overlay_rgb,
)
from galaxy_studio.model.prediction import resolve_device

if TYPE_CHECKING:
    from galaxy_studio.model.classification import Classifier, Prediction


def overlay_name(prediction: Prediction, used: set[str]) -> str:
    """One PNG per input, named after it; a second input of the same name gets a number."""
    stem = Path(prediction.path).name.split(".")[0] + ("" if prediction.index is None else f"-{prediction.index}")
    name, number = f"{stem}.png", 1
    while name in used:
        number += 1
        name = f"{stem}-{number}.png"
    used.add(name)
    return name


def write_saliency_overlays(
    classifier: Classifier,
    predictions: Sequence[Prediction],
    method: str,
    folder: str | Path,
    *,
    device: str = "auto",
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> list[tuple[str, str]]:
    """Write an overlay per prediction into `folder`; returns (name, reason) for each cutout
    that got none (each also told as a warning), so one bad file does not stop the batch."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelError(f"{folder}: cannot make the saliency folder: {error.strerror or error}") from None
    model = explainable_copy(classifier.model).to(resolve_device(device))
    used: set[str] = set()
    failures: list[tuple[str, str]] = []
    for done, prediction in enumerate(predictions, 1):
        cancel.raise_if_set()
        problem = _write_overlay(model, classifier, prediction, method, folder / overlay_name(prediction, used))
        if problem is not None:
            failures.append((prediction.name, problem))
            emit(Warned(problem))
        emit(Progressed(done, len(predictions), f"{method} overlays"))
    return failures


def _write_overlay(
    model: nn.Module, classifier: Classifier, prediction: Prediction, method: str, out: Path
) -> str | None:
    """None once the overlay is written, else why there is none."""
    try:
        cutout = read_item(prediction.item)
        target = classifier.classes.index(prediction.predicted)
        values = explain_cutout(model, classifier.prep, cutout, target, method)
        pixels = overlay_rgb(render_rgb(cutout), values)
        box = outlined_box(classifier.prep, cutout.height, cutout.width)
        if box is not None:
            pixels = outline_view(pixels, box)
        write_atomically(out, lambda stream: Image.fromarray(pixels).save(stream, format="PNG"))
    except (CutoutError, ModelError, ValueError) as error:
        return f"{prediction.name}: no overlay: {error}"
    except OSError as error:
        return f"{out}: cannot write the overlay: {error.strerror or error}"
    return None
