"""How good is a synthetic set: MTT's evaluation protocol beside the baselines that give it
meaning.

K freshly initialised networks (the buffer's architecture) are trained on the synthetic set
alone (all K at once as one vmapped model, distill/net_batch.py, when the set is a handful of
images; one after another on larger sets), with the learned step size,
SGD momentum 0.9, weight decay 5e-4, the run's differentiable augmentation, for `epochs` epochs
with the lr divided by 10 half-way; their accuracy on the buffer's real test split is reported
as mean +- std. The same protocol runs on IPC random real images per class (a new draw per net,
at the initial step size lr_teacher), on the per-class mean images. The full training split
would take 1000 epochs of hundreds of batches (about 17 minutes for 5 nets x 30 epochs of
ConvNet-D3 width 128 on gz-spiral on 2 cores): by default (`full_epochs` 0) its row is the
buffer's experts, networks of the same architecture already trained on that split (MTT's expert
recipe: the buffer's epochs and lr, no momentum), their recorded test accuracies at no cost.
With `full_epochs` > 0 fresh nets train for that many epochs at the experts' lr instead, and
the result is cached in the buffer folder, since it does not depend on the synthetic set.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from galaxy_studio.atomic_files import write_json_atomically
from galaxy_studio.cpu_share import cores_shared
from galaxy_studio.data.tables import TableColumn, build_table
from galaxy_studio.distill.config import EvaluationProtocol
from galaxy_studio.distill.experts import Buffer, load_buffer_data, open_buffer
from galaxy_studio.distill.export import SYNTHETIC_FILE, load_synthetic
from galaxy_studio.distill.fitting import seeded_generator
from galaxy_studio.distill.init import class_mean_images
from galaxy_studio.distill.net_batch import NetBatch, batch_accuracies, train_batch_epoch
from galaxy_studio.distill.readability import PictureReadability, describe_readability
from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, ignore
from galaxy_studio.model.architectures import model_from_spec
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.prediction import resolve_device

if TYPE_CHECKING:
    from astropy.table import Table

SET_NAMES: tuple[str, ...] = ("distilled", "random_real", "class_mean", "full")
FULL_CACHE_FILE = "full_baseline.json"
EVAL_MOMENTUM = 0.9
EVAL_WEIGHT_DECAY = 5e-4
EVAL_BATCH = 256
_SET_STREAMS = {name: index for index, name in enumerate(SET_NAMES)}
# Images per net up to which the nets train as one model: stacking paid 1.2-1.3x at 10 and
# cost 0.9x at 30 (see _together), so the break-even lies near 20.
_TOGETHER_MAX_IMAGES = 20


@dataclass(frozen=True)
class _TrainingSet:
    name: str
    images: np.ndarray | None
    labels: np.ndarray | None
    lr: float
    epochs: int


def evaluate_synthetic(
    run_dir: str | Path,
    data: str | Path | None = None,
    protocol: EvaluationProtocol = EvaluationProtocol(),
    *,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> dict[str, Any]:
    """{"distilled", "random_real", "class_mean", "full"}: each {"mean", "std", "accuracies",
    "lr", "epochs", "images"}, plus "protocol", "ipc" and "test_images" (how many real test
    images every accuracy was measured on). `data` defaults to the buffer's."""
    device = resolve_device(protocol.device)
    synthetic = load_synthetic(Path(run_dir) / SYNTHETIC_FILE)
    config = synthetic.config
    buffer = open_buffer(config["buffer"])
    real = load_buffer_data(buffer, data, emit=emit, cancel=cancel)
    ipc = int(config["ipc"])
    strategy = str(config["augment"])
    rng = np.random.default_rng([protocol.seed, 7])
    sets = [
        _TrainingSet("distilled", synthetic.images, synthetic.labels, synthetic.lr, protocol.epochs),
        _TrainingSet("random_real", None, None, float(config["lr_teacher"]), protocol.epochs),
        _TrainingSet(
            "class_mean",
            class_mean_images(real.train_images, real.train_labels, real.n_classes),
            np.arange(real.n_classes, dtype=np.int64),
            float(config["lr_teacher"]),
            protocol.epochs,
        ),
        _TrainingSet("full", real.train_images, real.train_labels, buffer.config.lr, protocol.full_epochs),
    ]
    test_images = torch.from_numpy(real.test_images).to(device)
    test_labels = torch.from_numpy(real.test_labels).to(device)
    # The full-data row without training: the experts, or fresh nets' result cached earlier.
    known_full = (
        _experts_row(buffer, len(real.train_labels))
        if protocol.full_epochs == 0
        else _cached_full(buffer, protocol, strategy)
    )
    steps = sum(
        _steps(s, ipc * real.n_classes if s.images is None else len(s.images), protocol.nets)
        for s in sets
        if not (s.name == "full" and known_full is not None)
    )
    progress = _Progress(emit, steps)
    report: dict[str, Any] = {
        "ipc": ipc,
        "protocol": {
            **asdict(protocol),
            "momentum": EVAL_MOMENTUM,
            "weight_decay": EVAL_WEIGHT_DECAY,
            "augment": strategy,
        },
        "readability": PictureReadability(real.train_images, real.zca, real.prep).measure(synthetic.images),
        "test_images": len(real.test_labels),
    }
    for chosen in sets:
        if chosen.name == "full" and known_full is not None:
            report["full"] = known_full
            continue
        draws = [
            (chosen.images, chosen.labels)
            if chosen.images is not None and chosen.labels is not None
            else _random_real(real.train_images, real.train_labels, real.n_classes, ipc, rng)
            for _ in range(protocol.nets)
        ]
        accuracies: list[float] = []
        for group in _net_groups(len(draws), len(draws[0][1])):
            accuracies += _train_and_test(
                buffer, chosen, draws, group, strategy, test_images, test_labels, protocol, device, progress, cancel
            )
        report[chosen.name] = {
            "mean": float(np.mean(accuracies)),
            "std": float(np.std(accuracies)),
            "accuracies": accuracies,
            "lr": chosen.lr,
            "epochs": chosen.epochs,
            "images": len(chosen.images) if chosen.images is not None else ipc * real.n_classes,
        }
        if chosen.name == "full":
            write_json_atomically(
                buffer.folder / FULL_CACHE_FILE, {"key": _full_key(protocol, strategy), "result": report["full"]}
            )
    return report


def _steps(chosen: _TrainingSet, n_images: int, nets: int) -> int:
    """Optimiser steps of a set's evaluation: one per batch for each group of nets."""
    return chosen.epochs * math.ceil(n_images / EVAL_BATCH) * len(_net_groups(nets, n_images))


class _Progress:
    def __init__(self, emit: EventSink, total: int) -> None:
        self.emit, self.total, self.done = emit, total, 0

    def __call__(self) -> None:
        self.done += 1
        self.emit(Progressed(self.done, self.total, "training evaluation nets"))


def _random_real(
    images: np.ndarray, labels: np.ndarray, n_classes: int, ipc: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    chosen = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == label), size=ipc, replace=int(np.sum(labels == label)) < ipc)
            for label in range(n_classes)
        ]
    )
    return images[chosen], labels[chosen]


def _net_groups(nets: int, n_images: int) -> list[range]:
    """The nets of one set in the groups that train together: all of them when each step is a
    handful of images, one by one when it is more (`_together`). Net k draws from its own
    streams either way, so the grouping changes only rounding."""
    return [range(nets)] if _together(n_images) else [range(k, k + 1) for k in range(nets)]


def _together(n_images: int) -> bool:
    """Whether the nets of one set train as one vmapped model. Stacking pays the fixed cost of
    each kernel once for all nets, which is where a step on a few images spends its time; on
    larger steps the grouped convolutions are slower than the nets one after another
    (bench_distill_speed.py, ConvNet-D3 width 128, 5 nets, 2 cores: 1.2-1.3x faster at 10
    images per step, 0.9x at 30, 0.8x at 50, 0.6-0.8x at 100)."""
    return n_images <= _TOGETHER_MAX_IMAGES


def _train_and_test(
    buffer: Buffer,
    chosen: _TrainingSet,
    draws: list[tuple[np.ndarray, np.ndarray]],
    group: range,
    strategy: str,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    protocol: EvaluationProtocol,
    device: torch.device,
    progress: _Progress,
    cancel: CancelToken,
) -> list[float]:
    """The test accuracies of fresh nets trained together, one per draw of (images, labels)
    in `group` (indices into `draws`)."""
    generators, nets = [], []
    for net_index in group:
        generator = seeded_generator(protocol.seed, _SET_STREAMS[chosen.name], net_index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            nets.append(model_from_spec(buffer.spec).to(device))
        generators.append(generator)
    batch = NetBatch(nets)
    optimizer = torch.optim.SGD(
        batch.parameters(), lr=chosen.lr, momentum=EVAL_MOMENTUM, weight_decay=EVAL_WEIGHT_DECAY
    )
    inputs = torch.from_numpy(np.ascontiguousarray(np.stack([draws[k][0] for k in group]), dtype=np.float32))
    targets = torch.from_numpy(np.stack([np.asarray(draws[k][1], dtype=np.int64) for k in group]))
    inputs, targets = inputs.to(device), targets.to(device)
    with cores_shared(device):
        for epoch in range(chosen.epochs):
            if epoch == chosen.epochs // 2:
                for settings in optimizer.param_groups:
                    settings["lr"] = chosen.lr * 0.1
            losses = train_batch_epoch(
                batch,
                optimizer,
                inputs,
                targets,
                batch_size=EVAL_BATCH,
                strategy=strategy,
                generators=generators,
                cancel=cancel,
                on_batch=progress,
            )
            if not bool(torch.isfinite(losses).all()):
                raise ModelError(
                    f"an evaluation net on the {chosen.name} set diverged at lr {chosen.lr:.3g} (epoch {epoch + 1})"
                )
    return batch_accuracies(batch, test_images, test_labels, cancel)


def _experts_row(buffer: Buffer, train_images: int) -> dict[str, Any]:
    accuracies = [float(expert["test_accuracy"]) for expert in buffer.metadata["experts"]]
    return {
        "mean": float(np.mean(accuracies)),
        "std": float(np.std(accuracies)),
        "accuracies": accuracies,
        "lr": buffer.config.lr,
        "epochs": buffer.config.epochs,
        "images": train_images,
        "source": "experts",
    }


def _full_key(protocol: EvaluationProtocol, strategy: str) -> dict[str, Any]:
    return {"nets": protocol.nets, "full_epochs": protocol.full_epochs, "seed": protocol.seed, "augment": strategy}


def _cached_full(buffer: Buffer, protocol: EvaluationProtocol, strategy: str) -> dict[str, Any] | None:
    path = buffer.folder / FULL_CACHE_FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != _full_key(protocol, strategy):
        return None
    return stored.get("result")


def evaluation_table(report: dict[str, Any]) -> Table:
    """The report of `evaluate_synthetic` as a table: one row per training set with its size,
    recipe and test accuracy (mean and spread over the nets); the images per class and the
    number of test images go in the metadata."""
    columns = [
        TableColumn("training_set", str, None, "distilled, random_real, class_mean or full"),
        TableColumn("images", int, None, "training images"),
        TableColumn("epochs", int, None, "training epochs of each net"),
        TableColumn("lr", float, None, "learning rate"),
        TableColumn("accuracy_mean", float, "", "mean test accuracy over the nets", ".6f"),
        TableColumn("accuracy_std", float, "", "standard deviation of the test accuracy over the nets", ".6f"),
        TableColumn("nets", int, None, "networks trained (for full: the experts when they were used)"),
        TableColumn("nets_from", str, None, "fresh nets trained for this evaluation, or the buffer's experts"),
    ]
    rows = [
        (
            name,
            report[name]["images"],
            report[name]["epochs"],
            report[name]["lr"],
            report[name]["mean"],
            report[name]["std"],
            len(report[name]["accuracies"]),
            report[name].get("source", "fresh"),
        )
        for name in SET_NAMES
    ]
    return build_table(rows, columns, meta={"IPC": report["ipc"], "TESTIMGS": report["test_images"]})


def format_table(report: dict[str, Any]) -> str:
    """One line per training set: images, epochs, lr, mean +- std test accuracy in percent."""
    titles = {
        "distilled": "distilled",
        "random_real": "random real",
        "class_mean": "class mean",
        "full": "full (experts)" if report["full"].get("source") == "experts" else "full training set",
    }
    lines = [
        f"{'training set':<18} {'images':>7} {'epochs':>7} {'lr':>9}   test accuracy (mean +- std of "
        f"{report['protocol']['nets']} nets)"
    ]
    for name in SET_NAMES:
        row = report[name]
        experts = f"  ({len(row['accuracies'])} experts)" if row.get("source") == "experts" else ""
        lines.append(
            f"{titles[name]:<18} {row['images']:>7} {row['epochs']:>7} {row['lr']:>9.3g}   "
            f"{100 * row['mean']:6.2f} +- {100 * row['std']:5.2f} %{experts}"
        )
    if "readability" in report:
        lines.append(describe_readability(report["readability"]))
    return "\n".join(lines)
