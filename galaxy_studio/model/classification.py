"""Classifying cutouts with a saved model, exactly as it was evaluated.

A checkpoint records its preprocessing, so any cutout the readers accept (FITS bands
included) is prepared the way the training images were. Decoding dominates the cost for
a small network, so a thread pool decodes the next images while the network works on the
current batch (Pillow, NumPy and torch release the GIL). A file that cannot be read, or
that does not have the bands the model reads, is reported and the batch goes on.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from galaxy_studio.data.catalog import CatalogItem, catalog_from_paths, read_item
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.tables import DEC_COLUMN, RA_COLUMN, TableColumn, build_table, write_table
from galaxy_studio.events import NEVER, CancelToken, EventSink, LeftOut, Noted, Progressed, Warned, ignore
from galaxy_studio.model.architectures import feature_extractor, linear_head
from galaxy_studio.model.calibration import recorded_temperature
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.config import EXPLANATION_METHODS, TURN_INVARIANT_ARCHITECTURES
from galaxy_studio.model.dihedral import dihedral_views
from galaxy_studio.model.errors import CheckpointError, ModelError
from galaxy_studio.model.out_of_distribution import OodScorer, flag_reason
from galaxy_studio.model.overlays import write_saliency_overlays
from galaxy_studio.model.precision import cuda_precision
from galaxy_studio.model.prediction import resolve_device
from galaxy_studio.model.preprocessing import Preprocessing, decode_side, extract_channels, normalise
from galaxy_studio.model.runs import MODEL_FILE
from galaxy_studio.model.training_profile import TrainingProfile, input_warnings
from galaxy_studio.path_text import readable, to_text

if TYPE_CHECKING:
    from astropy.table import Table

DEFAULT_BATCH = 64
# Decoded images waiting for the network, in batches: enough to keep the pool busy while a
# batch is computed, few enough that a cancel or an error stops without much wasted work.
_BATCHES_AHEAD = 2
_PROGRESS_STEPS = 100


@dataclass(frozen=True)
class Classifier:
    """A loaded checkpoint: the network (eval mode, CPU) and what it needs to classify.
    `profile` and `ood` are None for checkpoints saved before they were recorded: their
    predictions then carry no warnings and no out-of-distribution score. `temperature` divides
    the logits before the softmax (fitted on the validation split; 1 for older checkpoints)."""

    model: nn.Module
    prep: Preprocessing
    classes: tuple[str, ...]
    arch: str
    checkpoint: Path
    profile: TrainingProfile | None = None
    ood: OodScorer | None = None
    turned_in_training: bool = True
    temperature: float = 1.0

    @property
    def name(self) -> str:
        """How suggestions name their source: the run folder, or the file when it is not in one."""
        if self.checkpoint.name == MODEL_FILE:
            return readable(self.checkpoint.parent.name)
        return readable(self.checkpoint.stem)


def checkpoint_path(path: str | Path) -> Path:
    """MODEL may be a run folder or a model.pt file."""
    path = Path(path)
    if path.is_dir():
        candidate = path / MODEL_FILE
        if not candidate.is_file():
            raise CheckpointError(
                f"{path}: a folder without {MODEL_FILE} (an unfinished or empty run?); give a finished run "
                "or a checkpoint file"
            )
        return candidate
    return path


def open_classifier(path: str | Path) -> Classifier:
    checkpoint = checkpoint_path(path)
    model, metadata = load_classifier(checkpoint)
    try:
        prep = Preprocessing.from_dict(metadata["preprocessing"])
        classes = tuple(str(name) for name in metadata["classes"])
        arch = str(metadata["architecture"]["name"])
        profile = metadata.get("training_profile")
        ood = metadata.get("out_of_distribution")
        profile = None if profile is None else TrainingProfile.from_dict(profile)
        ood = None if ood is None else OodScorer.from_dict(ood)
        turned = str((metadata.get("metrics") or {}).get("rotations", "any")) != "none"
    except (KeyError, TypeError, ValueError, ModelError) as exc:
        raise CheckpointError(
            f"{checkpoint}: the checkpoint lacks a usable preprocessing or class record ({exc})"
        ) from None
    if prep.mean is None or prep.std is None:
        raise CheckpointError(f"{checkpoint}: the checkpoint has no input statistics, so it cannot classify")
    return Classifier(model, prep, classes, arch, checkpoint, profile, ood, turned, recorded_temperature(metadata))


@dataclass(frozen=True)
class Prediction:
    """One cutout's class probabilities (in the model's class order) and what they say.
    `ood_score` (higher: less like the training data), its `ood_percentile` among the
    validation galaxies, `ood_flag` (above their 99th percentile, or all of them when fewer
    than 99) and `ood_validation_images` (how many; 0: not recorded) are None/False/0 when the
    checkpoint has no calibrated score; `warnings` name how the input differs from the
    training images (bands, format, pixel scale, brightness). `ra` and `dec` (ICRS degrees)
    are the catalogue's position or else the centre of the cutout's WCS; None when neither
    is known."""

    path: str
    index: int | None
    probabilities: tuple[float, ...]
    predicted: str
    confidence: float
    entropy: float
    margin: float
    ood_score: float | None = None
    ood_percentile: float | None = None
    ood_flag: bool = False
    ood_validation_images: int = 0
    warnings: tuple[str, ...] = ()
    ra: float | None = None
    dec: float | None = None

    @property
    def unfamiliar(self) -> bool:
        """The input looks unlike the training data, by its score or by what it is."""
        return self.ood_flag or bool(self.warnings)

    @property
    def unfamiliar_reasons(self) -> list[str]:
        """Why the input looks unlike the training data, in words, for a note or a tooltip."""
        reasons = list(self.warnings)
        if self.ood_flag and self.ood_percentile is not None:
            reasons.append(flag_reason(self.ood_percentile, self.ood_validation_images))
        return reasons

    @property
    def name(self) -> str:
        """The file name (with its row), shown readably: a byte that is not UTF-8 as U+FFFD."""
        base = readable(os.path.basename(self.path))
        return base if self.index is None else f"{base}[{self.index}]"

    @property
    def item(self) -> CatalogItem:
        return CatalogItem(self.path, index=self.index)


def describe_probabilities(
    path: str, index: int | None, probabilities: np.ndarray, classes: Sequence[str]
) -> Prediction:
    """Confidence is the top probability, margin its lead over the runner-up, and entropy
    (in nats; log(n_classes) at most) the spread of belief over all classes."""
    p = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(p)[::-1]
    top = float(p[order[0]])
    second = float(p[order[1]]) if len(p) > 1 else 0.0
    positive = p[p > 0]
    entropy = float(-(positive * np.log(positive)).sum())
    return Prediction(path, index, tuple(float(v) for v in p), classes[int(order[0])], top, entropy, top - second)


@dataclass(frozen=True)
class ClassifyConfig:
    """A batch classification. `paths` are files, folders or catalogues; with `tta` every
    cutout is also seen turned by 90, 180 and 270 degrees and mirrored (8 views) and the
    probabilities are averaged, since a galaxy's class does not depend on its orientation
    (skipped, with a note, for a network that averages over those views itself).
    With `saliency` (an explanation method) an overlay of each cutout's map is written into
    `saliency_dir`."""

    model: str
    paths: tuple[str, ...]
    tta: bool = False
    batch_size: int = DEFAULT_BATCH
    device: str = "auto"
    threads: int | None = None
    saliency: str | None = None
    saliency_dir: str | None = None

    def __post_init__(self) -> None:
        if self.saliency is not None and self.saliency not in EXPLANATION_METHODS:
            raise ModelError(f"unknown explanation method {self.saliency!r}; choose {', '.join(EXPLANATION_METHODS)}")
        if self.saliency is not None and not self.saliency_dir:
            raise ModelError(
                "no folder for the saliency overlays", "{saliency} needs {saliency_dir} DIR for the overlay images"
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paths"] = list(self.paths)
        return data


@dataclass(frozen=True)
class ClassifyResult:
    model: str
    classes: tuple[str, ...]
    predictions: tuple[Prediction, ...]
    failures: tuple[tuple[str, str], ...] = field(default=())
    seconds: float = 0.0
    overlay_failures: tuple[tuple[str, str], ...] = field(default=())


@dataclass
class ClassifyTiming:
    """Where a classification's time went: seconds spent decoding cutouts (summed over the
    decoding threads, so it may exceed the wall time) and seconds the network computed. A
    small network on a CPU is usually bound by decoding, a big one on a GPU by the network:
    the two figures say which knob (threads, batch size, GPUs) would help. Mutable, so that
    one record can add up the chunks of a long run."""

    decode_seconds: float = 0.0
    network_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_decode(self, seconds: float) -> None:
        with self._lock:
            self.decode_seconds += seconds

    def add_network(self, seconds: float) -> None:
        with self._lock:
            self.network_seconds += seconds


@dataclass(frozen=True)
class BatchOutputs:
    """What the network says about a batch: (N, classes) float64 calibrated probabilities
    (averaged over the views with TTA), and the (N, features) penultimate features and
    (N, classes) raw logits of the images as given, which the out-of-distribution score reads
    (it was calibrated on raw logits)."""

    probabilities: np.ndarray
    features: np.ndarray
    logits: np.ndarray


@torch.no_grad()
def batch_outputs(
    model: nn.Module, images: torch.Tensor, *, tta: bool = False, temperature: float = 1.0
) -> BatchOutputs:
    """The outputs of normalised images already on the model's device. Computed in true
    float32 on a GPU too, so that a probability does not depend on which machine classified
    the cutout. The first view is the image itself, so its features are those the score was
    calibrated on. Each view's logits are divided by `temperature` before its softmax, as
    when the temperature was fitted."""
    body, head = feature_extractor(model), linear_head(model)
    views = dihedral_views(images) if tta else [images]
    total = None
    features = logits = None
    for view in views:
        with cuda_precision("fp32", images.device):
            view_features = body(view).float()
            view_logits = head(view_features).float()
        if features is None:
            features, logits = view_features, view_logits
        probabilities = torch.softmax(view_logits / temperature, dim=1)
        total = probabilities if total is None else total + probabilities
    assert total is not None and features is not None and logits is not None
    # float64 after the copy to the CPU: Apple's MPS has no float64.
    return BatchOutputs(
        (total / len(views)).cpu().double().numpy(), features.cpu().numpy(), logits.cpu().double().numpy()
    )


def judge_familiarity(predictions: list[Prediction], outputs: BatchOutputs, ood: OodScorer | None) -> list[Prediction]:
    """The predictions with their out-of-distribution score, percentile and flag."""
    if ood is None:
        return predictions
    scores = ood.scores(outputs.features, outputs.logits)
    percentiles, flags = ood.percentiles(scores), ood.flags(scores)
    return [
        replace(
            prediction,
            ood_score=float(score),
            ood_percentile=float(percentile),
            ood_flag=bool(flag),
            ood_validation_images=ood.validation_images,
        )
        for prediction, score, percentile, flag in zip(predictions, scores, percentiles, flags)
    ]


@dataclass(frozen=True)
class Decoded:
    """One cutout made ready for the network, with what the table says beside its classes."""

    pixels: np.ndarray
    warnings: tuple[str, ...]
    position: tuple[float, float] | None


def sky_position(item: CatalogItem, cutout: Cutout) -> tuple[float, float] | None:
    """Where the cutout lies: the catalogue's ra/dec when it gives both, else its WCS centre."""
    if item.ra is not None and item.dec is not None:
        return item.ra, item.dec
    return cutout.centre_icrs()


def classify_items(
    classifier: Classifier,
    items: Sequence[CatalogItem],
    *,
    tta: bool = False,
    batch_size: int = DEFAULT_BATCH,
    device: str = "auto",
    threads: int | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
    timing: ClassifyTiming | None = None,
) -> tuple[list[Prediction], list[tuple[str, str]]]:
    """Predictions for the items that could be read (in item order) and (name, reason) for
    those that could not. Decoding runs `batch_size` x 2 images ahead of the network. The
    decoding and network seconds are added to `timing` when one is given."""
    clock = timing if timing is not None else ClassifyTiming()
    if batch_size < 1:
        raise ModelError(f"batch size must be at least 1, got {batch_size}")
    if tta and classifier.arch in TURN_INVARIANT_ARCHITECTURES:
        emit(
            Noted(
                f"{classifier.name} ({classifier.arch}) already averages over the 8 right-angle turns and mirrors of "
                "each cutout, so test-time augmentation would give the same probabilities 8 times slower: it is skipped"
            )
        )
        tta = False
    if tta and not classifier.turned_in_training:
        emit(
            Warned(
                f"{classifier.name} was trained on images that share an orientation, without turning them: "
                "test-time rotations would show it images of another kind, so each cutout is classified as it is"
            )
        )
        tta = False
    target = resolve_device(device)
    model = classifier.model.to(target).eval()
    prep = classifier.prep
    max_side = decode_side(prep)

    def decode(item: CatalogItem) -> Decoded:
        started = time.perf_counter()
        try:
            cutout = read_item(item, max_side=max_side)
            pixels = extract_channels(cutout, prep)
            profile = classifier.profile
            warnings = () if profile is None else tuple(input_warnings(profile, cutout, pixels, prep))
            return Decoded(pixels, warnings, sky_position(item, cutout))
        finally:
            clock.add_decode(time.perf_counter() - started)

    predictions: list[Prediction] = []
    failures: list[tuple[str, str]] = []
    waiting: list[tuple[CatalogItem, Decoded]] = []
    every = max(1, len(items) // _PROGRESS_STEPS)
    done = 0

    def run_batch() -> None:
        started = time.perf_counter()
        pixels = normalise(np.stack([decoded.pixels for _, decoded in waiting]), prep)
        outputs = batch_outputs(model, torch.from_numpy(pixels).to(target), tta=tta, temperature=classifier.temperature)
        described = [
            replace(
                describe_probabilities(item.path, item.index, row, classifier.classes),
                warnings=decoded.warnings,
                ra=None if decoded.position is None else decoded.position[0],
                dec=None if decoded.position is None else decoded.position[1],
            )
            for (item, decoded), row in zip(waiting, outputs.probabilities)
        ]
        predictions.extend(judge_familiarity(described, outputs, classifier.ood))
        waiting.clear()
        clock.add_network(time.perf_counter() - started)

    workers = threads or min(8, os.cpu_count() or 1)
    queue: deque[tuple[CatalogItem, Future[Decoded]]] = deque()
    upcoming = iter(items)
    with ThreadPoolExecutor(max_workers=workers) as pool, _cores_left_for_torch(target, workers):
        try:
            for item in upcoming:
                queue.append((item, pool.submit(decode, item)))
                if len(queue) >= batch_size * _BATCHES_AHEAD:
                    break
            while queue:
                cancel.raise_if_set()
                item, future = queue.popleft()
                following = next(upcoming, None)
                if following is not None:
                    queue.append((following, pool.submit(decode, following)))
                try:
                    waiting.append((item, future.result()))
                except (CutoutError, OSError, ModelError, ValueError) as error:
                    reason = str(error) if isinstance(error, (CutoutError, ModelError)) else f"{item.path}: {error}"
                    failures.append((item.name, reason))
                    emit(LeftOut(f"left out {item.name}: {reason}"))
                if len(waiting) >= batch_size or (not queue and waiting):
                    run_batch()
                done += 1
                if done % every == 0 or done == len(items):
                    emit(Progressed(done, len(items), "classifying"))
        finally:
            for _, future in queue:
                future.cancel()
    return predictions, failures


@contextmanager
def _cores_left_for_torch(device: torch.device, decoders: int) -> Iterator[None]:
    """On the CPU, let torch use only the cores the decoding pool leaves free while it runs.
    torch's worker threads spin while they wait, so on a busy CPU they and the decoders slow
    each other badly: on 2 cores under load, galaxy-cnn at 64 px computed 426 images/s on one
    thread and 78 on two. torch's thread count is per process, so it is restored afterwards."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, (os.cpu_count() or 1) - decoders)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def classify(config: ClassifyConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> ClassifyResult:
    """Classify every cutout under `config.paths`; files that are not images are reported
    among the failures with the reason, like unreadable ones."""
    started = time.perf_counter()
    classifier = open_classifier(config.model)
    catalog = catalog_from_paths(config.paths)
    for where, reason in catalog.skipped:
        emit(LeftOut(f"left out {where}: {reason}"))
    predictions, failures = classify_items(
        classifier,
        catalog.items,
        tta=config.tta,
        batch_size=config.batch_size,
        device=config.device,
        threads=config.threads,
        emit=emit,
        cancel=cancel,
    )
    skipped = [(os.path.basename(where), f"{where}: {reason}") for where, reason in catalog.skipped]
    overlay_failures: list[tuple[str, str]] = []
    if config.saliency is not None and config.saliency_dir and predictions:
        overlay_failures = write_saliency_overlays(
            classifier,
            predictions,
            config.saliency,
            config.saliency_dir,
            device=config.device,
            emit=emit,
            cancel=cancel,
        )
    return ClassifyResult(
        str(classifier.checkpoint),
        classifier.classes,
        tuple(predictions),
        tuple(skipped + failures),
        time.perf_counter() - started,
        tuple(overlay_failures),
    )


def prediction_schema(classes: Sequence[str]) -> list[TableColumn]:
    """The predictions table's columns; the familiarity columns and then the position come
    after the probabilities, so that readers of the older columns by position keep working."""
    return [
        TableColumn("path", str, None, "the cutout's file; a Galaxy10 row as FILE[ROW]"),
        TableColumn("predicted", str, None, "the most probable class"),
        TableColumn("confidence", float, "", "probability of the predicted class", ".6f"),
        TableColumn("entropy", float, "", "spread of the probabilities in nats; ln(classes) at most", ".6f"),
        *(TableColumn(f"p_{name}", float, "", f"probability of class {name}", ".6f") for name in classes),
        TableColumn("ood_score", float, "", "distance from the training galaxies' features; higher is stranger", ".6g"),
        TableColumn(
            "ood_percentile", float, None, "percentile (0 to 100) of ood_score among the validation galaxies", ".2f"
        ),
        TableColumn("unfamiliar", bool, None, "the input looks unlike the training data"),
        TableColumn("warnings", str, None, "how the input differs from the training images"),
        RA_COLUMN,
        DEC_COLUMN,
    ]


def predictions_table(result: ClassifyResult) -> Table:
    """One row per classified cutout, with units, descriptions and the model in the metadata."""
    rows = []
    for prediction in result.predictions:
        path = to_text(prediction.path)
        if prediction.index is not None:
            path = f"{path}[{prediction.index}]"
        rows.append(
            (
                path,
                prediction.predicted,
                prediction.confidence,
                prediction.entropy,
                *prediction.probabilities,
                prediction.ood_score,
                prediction.ood_percentile,
                prediction.unfamiliar,
                "; ".join(prediction.warnings),
                prediction.ra,
                prediction.dec,
            )
        )
    meta = {"MODEL": to_text(result.model), "CLASSES": ",".join(result.classes)}
    return build_table(rows, prediction_schema(result.classes), meta=meta)


def write_predictions(result: ClassifyResult, out: str | Path, *, fmt: str | None = None) -> str:
    """Write the predictions table as CSV, ECSV, FITS or VOTable (by `fmt`, else by the name);
    written whole or not at all. Returns the format written."""
    try:
        return write_table(predictions_table(result), out, fmt=fmt)
    except OSError as exc:
        raise ModelError(f"{out}: cannot write the predictions: {exc.strerror or exc}") from None
