"""Scoring a saved classifier on labelled data, through the same preparation and prediction
code that produced its recorded metrics, so that re-evaluating its own test split gives them back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_studio.data.tables import TableColumn, build_table
from galaxy_studio.events import NEVER, CancelToken, EventSink, Warned, ignore
from galaxy_studio.model.calibration import calibrated_probabilities, calibration_report, recorded_temperature
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.datasets import load_labelled_data, prepare_pixels, run_split
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.metrics import classification_report
from galaxy_studio.model.prediction import predict_logits, resolve_device
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.uncertainty import sample_warnings

if TYPE_CHECKING:
    from astropy.table import Table

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


def evaluation_table(report: dict[str, Any]) -> Table:
    """The per-class part of an `evaluate_classifier` report as a table: support, precision,
    recall and its Wilson 95% interval, then the row of the confusion matrix (how many of
    the class's images went to each class); the overall scores go in the metadata."""
    classes = report["classes"]
    columns = [
        TableColumn("class", str, None, "the true class"),
        TableColumn("support", int, None, "images of the class that were evaluated"),
        TableColumn("precision", float, "", "share of the images predicted as the class that are of it", ".6f"),
        TableColumn("recall", float, "", "share of the class's images predicted as the class", ".6f"),
        TableColumn("recall_low", float, "", "lower end of the recall's Wilson 95% interval", ".6f"),
        TableColumn("recall_high", float, "", "upper end of the recall's Wilson 95% interval", ".6f"),
        *(TableColumn(f"predicted_{name}", int, None, f"images of the class predicted as {name}") for name in classes),
    ]
    rows = []
    for name, confusion in zip(classes, report["confusion"]):
        stats = report["per_class"][name]
        interval = stats.get("recall_ci95") or (None, None)
        rows.append((name, stats["support"], stats["precision"], stats["recall"], *interval, *confusion))
    # Keys of at most 8 letters: FITS header keywords.
    names = {"n": "N", "accuracy": "ACCURACY", "balanced_accuracy": "BALACC", "macro_auc": "MACROAUC"}
    names.update({"checkpoint": "MODEL", "data": "DATA", "split": "SPLIT"})
    meta = {keyword: report[key] for key, keyword in names.items() if report.get(key) is not None}
    return build_table(rows, columns, meta=meta)
