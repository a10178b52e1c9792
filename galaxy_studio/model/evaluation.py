"""Scoring a saved classifier on labelled data, through the same preparation and prediction
code that produced its recorded metrics, so that re-evaluating its own test split gives them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from galaxy_studio.events import NEVER, CancelToken, EventSink, Warned, ignore
from galaxy_studio.model.calibration import calibrated_probabilities, calibration_report, recorded_temperature
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.datasets import load_labelled_data, prepare_pixels, run_split
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.metrics import classification_report
from galaxy_studio.model.prediction import predict_logits, resolve_device
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.uncertainty import sample_warnings

SPLITS: tuple[str, ...] = ("all", "test")


def evaluate_classifier(
    checkpoint: str | Path,
    data: str | Path,
    *,
    split: str = "all",
    device: str = "auto",
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> dict[str, Any]:
    """Metrics (as in metrics.json, warnings about too few images included) of the checkpoint on
    every labelled image of `data`, or with split="test" on the test split the training run drew
    from that same data."""
    if split not in SPLITS:
        raise ModelError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    model, metadata = load_classifier(checkpoint)
    prep = Preprocessing.from_dict(metadata["preprocessing"])
    classes = list(metadata["classes"])
    labelled = load_labelled_data(data, classes=classes)
    for note in labelled.notes:
        emit(Warned(f"{labelled.source}: {note}"))
    if split == "test":
        recorded = metadata.get("split")
        if recorded is None:
            raise ModelError(
                f"{checkpoint}: the model records no split (it is older than split records), "
                "so its test split cannot be rebuilt",
                "evaluate on all of the data instead ({split} all)",
            )
        if labelled.fingerprint() != recorded["fingerprint"]:
            raise ModelError(
                f"{data}: not the images and labels this model was trained on, so its test split cannot be rebuilt",
                "evaluate on all of it instead ({split} all)",
            )
        labelled = labelled.subset(
            run_split(
                labelled.labels, recorded["fractions"], recorded["seed"], recorded.get("fold"), classes=labelled.classes
            )[2]
        )
    pixels, failed = prepare_pixels(labelled.items, prep, what="decoding images", emit=emit, cancel=cancel)
    keep = np.setdiff1d(np.arange(len(labelled)), failed)
    target = resolve_device(device)
    logits = predict_logits(model.to(target), pixels[keep], prep, device=target, cancel=cancel)
    temperature = recorded_temperature(metadata)
    report = classification_report(labelled.labels[keep], calibrated_probabilities(logits, temperature), classes)
    report.update(calibration_report(temperature, logits, labelled.labels[keep]))
    report.update({"checkpoint": str(checkpoint), "data": str(data), "split": split, "left_out": len(failed)})
    report["warnings"] = sample_warnings(report, "test" if split == "test" else "evaluated")
    return report
