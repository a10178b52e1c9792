"""An ensemble scored on its members' shared test split: the members' calibrated probabilities
averaged, then the same report a single run writes.

Seeds change a small network's answer on the harder galaxies by more than most recipe
changes do, so averaging a few members is the cheapest known way to gain accuracy; whether
it pays for its CPU time has to be measured on the same folds as the single network. The
members must have been trained on one split (the same data, `seed`, fractions and fold) and
differ only in `TrainConfig.weights_seed`; each is scored with its own preprocessing and
temperature, exactly as its own test report was. An ensemble of one run, scored with
test-time augmentation, says on the same folds what `classify --tta` buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galaxy_studio.events import NEVER, CancelToken
from galaxy_studio.model.calibration import calibrated_probabilities
from galaxy_studio.model.classification import Classifier, batch_outputs, checkpoint_path, open_classifier
from galaxy_studio.model.config import TURN_INVARIANT_ARCHITECTURES
from galaxy_studio.model.datasets import load_labelled_data, prepare_pixels, run_split
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.metrics import classification_report
from galaxy_studio.model.prediction import DEFAULT_BATCH, predict_logits
from galaxy_studio.model.preprocessing import normalise
from galaxy_studio.model.runs import read_run


def ensemble_test_report(
    run_dirs: Sequence[str | Path], *, tta: bool = False, threads: int | None = None, cancel: CancelToken = NEVER
) -> dict[str, Any]:
    """`classification_report` of the members' averaged calibrated probabilities on their
    common test split (`n`, accuracy, balanced accuracy, macro AUC, ...), plus `members` and
    `tta`: with `tta` each member averages over the 8 right-angle turns and mirrors as
    `classify --tta` does, and where classify would not (a network that takes the views
    itself, or one trained without turning) neither does this, and `tta` says so.
    Members of other data, classes or splits are refused: their test images would differ."""
    if not run_dirs:
        raise ModelError("an ensemble needs at least one finished run")
    splits = [_recorded_split(Path(run_dir)) for run_dir in run_dirs]
    first = read_run(Path(run_dirs[0]))
    assert first is not None  # _recorded_split read it
    data = str(first.config["data"])
    for run_dir, split in zip(run_dirs[1:], splits[1:]):
        if split != splits[0]:
            raise ModelError(
                f"{run_dir} was tested on other images than {run_dirs[0]} (split {split} against {splits[0]})",
                "ensemble runs of one data set, seed and fold that differ only in the weights' seed",
            )
    labelled = load_labelled_data(data)
    if labelled.fingerprint() != splits[0].get("fingerprint"):
        raise ModelError(f"{data}: the images or labels changed since {run_dirs[0]} was trained")
    fold = splits[0].get("fold")
    _, _, test_idx = run_split(
        labelled.labels, splits[0]["fractions"], int(splits[0]["seed"]), fold, classes=labelled.classes
    )
    items = [labelled.items[int(i)] for i in test_idx]
    total: np.ndarray | None = None
    keep: np.ndarray | None = None
    turned = []
    for run_dir in run_dirs:
        classifier = open_classifier(checkpoint_path(run_dir))
        if classifier.classes != tuple(labelled.classes):
            raise ModelError(f"{run_dir}: its classes {classifier.classes} are not the data's {labelled.classes}")
        pixels, failed = prepare_pixels(items, classifier.prep, threads=threads, cancel=cancel)
        keep = np.setdiff1d(np.arange(len(items)), failed)
        views = tta and classifier.turned_in_training and classifier.arch not in TURN_INVARIANT_ARCHITECTURES
        probabilities = _probabilities(classifier, pixels[keep], views=views, cancel=cancel)
        total = probabilities if total is None else total + probabilities
        turned.append(views)
    assert total is not None and keep is not None
    report = classification_report(labelled.labels[test_idx][keep], total / len(run_dirs), labelled.classes)
    return {**report, "members": len(run_dirs), "tta": all(turned)}


def _probabilities(classifier: Classifier, pixels: np.ndarray, *, views: bool, cancel: CancelToken) -> np.ndarray:
    """Calibrated probabilities of prepared images, averaged over the 8 views with `views`
    (through `batch_outputs`, as classification computes them)."""
    if not views:
        logits = predict_logits(classifier.model, pixels, classifier.prep, cancel=cancel)
        return calibrated_probabilities(logits, classifier.temperature)
    model = classifier.model.cpu().eval()
    rows = []
    for start in range(0, len(pixels), DEFAULT_BATCH):
        cancel.raise_if_set()
        batch = torch.from_numpy(normalise(pixels[start : start + DEFAULT_BATCH], classifier.prep))
        rows.append(batch_outputs(model, batch, tta=True, temperature=classifier.temperature).probabilities)
    return np.concatenate(rows) if rows else np.zeros((0, len(classifier.classes)))


def _recorded_split(run_dir: Path) -> dict[str, Any]:
    """What a finished run recorded about its split (fractions, seed, fingerprint, counts, fold)."""
    run = read_run(run_dir)
    if run is None or run.status != "finished":
        raise ModelError(f"{run_dir}: not a finished training run, so it cannot be an ensemble's member")
    split = (run.metrics or {}).get("split")
    if not isinstance(split, dict) or "seed" not in split or "fractions" not in split:
        raise ModelError(f"{run_dir}: its metrics.json records no split, so its test images are unknown")
    return split
