"""Pictures for a notebook: a cutout, a saliency map over it, a run's prototypes and its curves,
each a matplotlib Figure that Jupyter shows as it is returned.

Figures are made without pyplot, so that making one neither opens a window nor piles up in
pyplot's list of open figures (a notebook that draws a hundred keeps none alive), and they
carry their own PNG rendering, so that Jupyter shows them whatever matplotlib backend is set.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import render_rgb
from galaxy_studio.data.formats import read_cutout
from galaxy_studio.errors import UserError
from galaxy_studio.run_folders import HISTORY_FILE

if TYPE_CHECKING:
    from galaxy_studio.model.classification import Classifier

PathLike = str | Path


class Picture(Figure):
    """A matplotlib Figure with a PNG of its own for Jupyter; `savefig` and the axes work as on
    any Figure."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        FigureCanvasAgg(self)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def _cutout(cutout: Cutout | PathLike) -> Cutout:
    return cutout if isinstance(cutout, Cutout) else read_cutout(cutout)


def _image_axes(figure: Figure, index: int, columns: int, rgb: np.ndarray, title: str) -> None:
    axes = figure.add_subplot(1, columns, index)
    axes.imshow(rgb, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_axis_off()


def show_cutout(cutout: Cutout | PathLike) -> Picture:
    """A cutout (or the file at a path) as the app's viewer first shows it: the automatic stretch
    and band choice."""
    cutout = _cutout(cutout)
    figure = Picture(figsize=(3, 3))
    _image_axes(figure, 1, 1, render_rgb(cutout), Path(cutout.source).name)
    return figure


def explanation(
    model: Any, cutout: Cutout | PathLike, *, method: str, target: str | None
) -> tuple[np.ndarray, Cutout, str, float]:
    """(importance map at the cutout's resolution, the cutout, the class explained, the model's
    probability of it)."""
    import torch

    from galaxy_studio.model.classification import open_classifier
    from galaxy_studio.model.explain import explain_cutout, explainable_copy
    from galaxy_studio.model.preprocessing import prepare_cutout

    classifier = open_classifier(str(getattr(model, "checkpoint", model)))
    cutout = _cutout(cutout)
    probabilities = _probabilities(classifier, prepare_cutout(cutout, classifier.prep), torch)
    if target is None:
        index = int(np.argmax(probabilities))
    elif target in classifier.classes:
        index = classifier.classes.index(target)
    else:
        raise UserError(f"{classifier.name} has no class {target!r}; its classes are {', '.join(classifier.classes)}")
    values = explain_cutout(explainable_copy(classifier.model), classifier.prep, cutout, index, method)
    return values, cutout, classifier.classes[index], float(probabilities[index])


def _probabilities(classifier: Classifier, image: np.ndarray, torch: Any) -> np.ndarray:
    with torch.no_grad():
        logits = classifier.model.eval()(torch.from_numpy(image).unsqueeze(0))
    return torch.softmax(logits[0].double() / classifier.temperature, dim=0).numpy()


def show_saliency(
    model: Any, cutout: Cutout | PathLike, *, method: str = "saliency", target: str | None = None
) -> Picture:
    """The cutout beside the map of what made `model` (a TrainResult, run folder or model.pt)
    see class `target` in it (the predicted class by default), blended over the cutout as the
    Classify panel and `classify --saliency` draw it."""
    from galaxy_studio.model.explain import overlay_rgb

    values, cutout, name, probability = explanation(model, cutout, method=method, target=target)
    rgb = render_rgb(cutout)
    figure = Picture(figsize=(6, 3))
    _image_axes(figure, 1, 2, rgb, Path(cutout.source).name)
    _image_axes(figure, 2, 2, overlay_rgb(rgb, values), f"{method}: {name} ({probability:.0%})")
    return figure


def show_prototypes(run: Any, *, columns: int | None = None) -> Picture:
    """The distilled images of a run (a DistillResult or its folder), a row per class as the
    Distill panel shows them; `columns` caps the images per row (all of a class by default)."""
    from galaxy_studio.distill.export import SYNTHETIC_FILE, image_grid, load_synthetic

    synthetic = load_synthetic(Path(str(getattr(run, "run_dir", run))) / SYNTHETIC_FILE)
    pictures = synthetic.display()
    per_class = max(int(np.sum(synthetic.labels == label)) for label in range(len(synthetic.classes)))
    shown = per_class if columns is None else max(1, min(columns, per_class))
    rows = len(synthetic.classes)
    figure = Picture(figsize=(0.9 * shown + 2.2, 0.9 * rows + 0.2))
    for row, name in enumerate(synthetic.classes):
        padded = np.full((shown, *pictures.shape[1:]), 24, np.uint8)
        mine = pictures[synthetic.labels == row][:shown]
        padded[: len(mine)] = mine
        axes = figure.add_subplot(rows, 1, row + 1)
        axes.imshow(image_grid(padded, shown), interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    figure.subplots_adjust(left=2.0 / (0.9 * shown + 2.2), right=0.98, top=0.98, bottom=0.02, hspace=0.08)
    return figure


def _history(run: Any) -> list[dict[str, Any]]:
    history = getattr(run, "history", None)
    if history is not None:
        return list(history)
    path = Path(str(getattr(run, "run_dir", run))) / HISTORY_FILE
    try:
        return list(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; is {path.parent} a training or distillation run folder?") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read the run's history ({error})") from None


def _series(history: list[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    points = [(record[x], record[y]) for record in history if isinstance(record.get(y), int | float)]
    finite = [(a, b) for a, b in points if math.isfinite(b)]
    return [a for a, _ in finite], [b for _, b in finite]


def show_curves(run: Any) -> Picture:
    """A run's curves: loss and accuracy per epoch for a training run (a TrainResult or its
    folder), matching and validation loss per iteration for a distillation (a DistillResult or
    its folder)."""
    history = _history(run)
    if not history:
        raise UserError("the run has no finished epoch or iteration yet: nothing to draw")
    if "epoch" in history[0]:
        panels = [("loss", ["train_loss", "val_loss"]), ("accuracy", ["train_acc", "val_acc"])]
        x = "epoch"
    else:
        panels = [("loss", ["matching_loss", "validation_loss"])]
        x = "iteration"
    figure = Picture(figsize=(4.5 * len(panels), 3))
    for index, (label, keys) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for key in keys:
            xs, ys = _series(history, x, key)
            if xs:
                axes.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key.replace("_", " "))
        axes.set_xlabel(x)
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    return figure
