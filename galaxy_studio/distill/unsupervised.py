"""Unsupervised distillation (seed paper 002): pretrain an autoencoder, then learn encoder, head
and a synthetic set together; checkpointed at every epoch and exactly resumable.

The seed reports 96.7% validation accuracy, but that is the jointly trained encoder + head,
which saw every real image; it says nothing about what the synthetic set holds. So a run
reports both: that accuracy, and the test accuracy of fresh networks trained only on the
synthetic samples, labelled by the trained head's predictions (the set itself has no labels;
the head is the model that the set was distilled beside). Beside them: the same fresh-network
protocol on as many random real training images with their true labels, and the homogeneity
(mean pairwise distance) of the synthetic set, of its starting point and of random real images.

Batch order in an epoch depends only on (seed, phase, epoch) and the models start from a seeded
generator, so a run resumed from its last epoch checkpoint takes the same steps as one that was
never stopped. Run folder: config.json, state.pt (replaced atomically after every epoch),
history.json, then synthetic.npz, samples.png, samples_initial.png, reconstructions.png and
result.json when the run ends.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from galaxy_studio.atomic_files import write_atomically, write_json_atomically
from galaxy_studio.distill.autoencoder import (
    ShallowAutoencoder,
    dense_classifier,
    diversity,
    mean_pairwise_distance,
    nearest_neighbour_repulsion,
    reconstruction_loss,
    synthetic_reconstruction_terms,
    warmup_factor,
)
from galaxy_studio.distill.flat_data import FlatData, load_flat_data
from galaxy_studio.distill.run_state import DAMAGED_STATE_HINT, load_run_state, save_run_state
from galaxy_studio.distill.runs import STATE_FILE
from galaxy_studio.distill.sample_grid import samples_to_uint8_nhwc, save_grid_png
from galaxy_studio.distill.unsupervised_config import UnsupervisedConfig
from galaxy_studio.events import NEVER, CancelToken, EventSink, MetricLogged, Progressed, SnapshotTaken, Warned, ignore
from galaxy_studio.model.checkpoint_schema import check_state_like
from galaxy_studio.model.config import with_absolute_paths
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.prediction import resolve_device
from galaxy_studio.model.runs import require_output_folder
from galaxy_studio.run_folders import CONFIG_FILE
from galaxy_studio.settings import changed_settings_text

RESULT_FILE = "result.json"
SYNTHETIC_FILE = "synthetic.npz"
SAMPLES_PNG = "samples.png"
INITIAL_PNG = "samples_initial.png"
RECONSTRUCTIONS_PNG = "reconstructions.png"
STATE_FORMAT = "galaxy-studio-unsupervised-state"
PRETRAIN, JOINT = "pretrain", "joint"
_PHASE_STREAMS = {PRETRAIN: 0, JOINT: 1}
_INIT_STREAM, _REFERENCE_STREAM, _FRESH_STREAM = 7, 11, 13
_EVAL_BATCH = 4096
_RECONSTRUCTION_COLUMNS = 10
_TERMS = ("total", "cls", "rec", "grad", "div", "real_rec", "repel")


@dataclass(frozen=True)
class UnsupervisedResult:
    """What a run measured. Accuracies are fractions; `fresh_*` are mean and std over
    `fresh_nets` fresh networks trained only on the synthetic samples (labelled by the head),
    `random_real_*` the same protocol on as many random real training images with true labels."""

    run_dir: str
    synthetic: str
    samples_png: str
    joint_val_accuracy: float
    joint_test_accuracy: float
    fresh_test_accuracy: float
    fresh_test_std: float
    random_real_test_accuracy: float
    random_real_test_std: float
    homogeneity: float
    initial_homogeneity: float
    random_real_homogeneity: float
    predicted_counts: tuple[int, ...]
    classes: tuple[str, ...]
    test_source: str
    pretrain_epochs: int
    epochs: int
    resumed_from: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["predicted_counts"] = list(self.predicted_counts)
        record["classes"] = list(self.classes)
        return record


@dataclass
class _Run:
    """Everything that changes during a run; saved whole at every epoch end."""

    autoencoder: ShallowAutoencoder
    head: nn.Linear
    synthetic: torch.Tensor
    initial: torch.Tensor
    pretrain_optimizer: torch.optim.Adam
    model_optimizer: torch.optim.Adam
    synthetic_optimizer: torch.optim.Adam
    phase: str
    epoch: int
    step: int
    best_val: float
    best_autoencoder: dict[str, torch.Tensor]
    bad_epochs: int
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class _Tensors:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def distill_unsupervised(
    config: UnsupervisedConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER
) -> UnsupervisedResult:
    """Distil `config.data` into `config.samples` unlabelled synthetic samples in `config.out_dir`,
    resuming from the folder's checkpoint when it holds one of the same recipe."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    run_dir = Path(config.out_dir)
    require_output_folder(run_dir)
    saved = _saved_state(config, run_dir, device)
    data = load_flat_data(
        config.data,
        size=config.size,
        crop_fraction=config.crop_fraction,
        colour=config.colour,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        emit=emit,
        cancel=cancel,
    )
    _check_data(config, data)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(run_dir / CONFIG_FILE, config.to_dict())
    run = _new_run(config, data, device)
    if saved is not None:
        run = _restored_run(config, data, saved, run)
    resumed_from = "start" if saved is None else f"{run.phase} epoch {run.epoch}"
    if saved is not None:
        emit(Warned(f"resuming {run_dir} at {resumed_from}"))
    try:
        tensors = _Tensors(
            *(
                torch.from_numpy(array).to(device)
                for array in (data.train_x, data.train_y, data.val_x, data.val_y, data.test_x, data.test_y)
            )
        )
        while run.phase == PRETRAIN:
            _pretrain_epoch(config, run, tensors, emit, cancel)
            _save_state(config, run_dir, run)
        if run.epoch == 0:
            emit(
                SnapshotTaken(
                    0,
                    samples_to_uint8_nhwc(run.synthetic.detach().cpu().numpy(), data.shape),
                    _predicted(run, run.synthetic.detach()).cpu().numpy(),
                )
            )
        while run.epoch < config.epochs:
            _joint_epoch(config, run, tensors, data, emit, cancel)
            _save_state(config, run_dir, run)
        return _finish(config, run, data, tensors, run_dir, resumed_from, started, emit, cancel)
    except torch.OutOfMemoryError as exc:
        raise ModelError(
            f"out of {device.type} memory with {len(data.train_x)} training images of "
            f"{data.features} values on the device (batch {config.batch_size})",
            f"use {{device}} cpu or fewer images; the last checkpoint in {run_dir} is kept",
        ) from exc
    except OSError as exc:
        raise ModelError(
            f"{run_dir}: cannot write the run's files ({exc.strerror or exc}); the last complete checkpoint is kept"
        ) from exc


def _check_data(config: UnsupervisedConfig, data: FlatData) -> None:
    sizes = {"training": len(data.train_x), "validation": len(data.val_x), "test": len(data.test_x)}
    empty = [name for name, size in sizes.items() if size == 0]
    if empty:
        raise ModelError(f"{config.data}: the {' and '.join(empty)} split is empty; use more images")
    if config.samples > len(data.train_x):
        raise ModelError(
            f"{config.data}: {config.samples} synthetic samples need as many real training images "
            f"to start from, the training split has {len(data.train_x)}"
        )


def _seeded(config: UnsupervisedConfig, *stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.default_rng([config.seed, *stream]).integers(2**62)))


def _new_run(config: UnsupervisedConfig, data: FlatData, device: torch.device) -> _Run:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        autoencoder = ShallowAutoencoder(data.features, config.hidden, tied=config.tied)
        head = nn.Linear(config.hidden, len(data.classes))
    autoencoder, head = autoencoder.to(device), head.to(device)
    rng = np.random.default_rng([config.seed, _INIT_STREAM])
    starts = data.train_x[rng.choice(len(data.train_x), config.samples, replace=False)]
    noise = rng.random(starts.shape, dtype=np.float32)
    initial = torch.from_numpy(config.init_real_fraction * starts + (1.0 - config.init_real_fraction) * noise)
    synthetic = initial.clone().to(device).requires_grad_(True)
    return _Run(
        autoencoder,
        head,
        synthetic,
        initial,
        *_optimizers(config, autoencoder, head, synthetic),
        PRETRAIN,
        0,
        0,
        math.inf,
        _copy_state(autoencoder),
        0,
        [],
    )


def _optimizers(
    config: UnsupervisedConfig, autoencoder: ShallowAutoencoder, head: nn.Linear, synthetic: torch.Tensor
) -> tuple[torch.optim.Adam, torch.optim.Adam, torch.optim.Adam]:
    return (
        torch.optim.Adam(autoencoder.parameters(), lr=config.lr),
        torch.optim.Adam([*autoencoder.parameters(), *head.parameters()], lr=config.lr),
        torch.optim.Adam([synthetic], lr=config.lr_syn),
    )


def _copy_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _batches(config: UnsupervisedConfig, run: _Run, n: int, device: torch.device) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=_seeded(config, _PHASE_STREAMS[run.phase], run.epoch)).to(device)
    return list(order.split(config.batch_size))


def _pretrain_epoch(
    config: UnsupervisedConfig, run: _Run, tensors: _Tensors, emit: EventSink, cancel: CancelToken
) -> None:
    """One epoch of plain reconstruction of real images; early stopping on the validation MSE
    restores the best weights before the joint phase begins."""
    autoencoder, optimizer = run.autoencoder, run.pretrain_optimizer
    batches = _batches(config, run, len(tensors.train_x), tensors.train_x.device)
    total = 0.0
    what = f"pretraining epoch {run.epoch + 1}/{config.pretrain_epochs}"
    for done, batch in enumerate(batches, 1):
        cancel.raise_if_set()
        loss = reconstruction_loss(autoencoder, tensors.train_x[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch)
        emit(Progressed(done, len(batches), what))
    with torch.no_grad():
        val = float(_batched_mean(lambda x: F.mse_loss(autoencoder(x), x, reduction="sum") / x.shape[1], tensors.val_x))
    _check_finite(val, f"pretraining epoch {run.epoch + 1}")
    run.epoch += 1
    train = total / len(tensors.train_x)
    run.history.append({"phase": PRETRAIN, "epoch": run.epoch, "train_mse": train, "val_mse": val})
    emit(MetricLogged("pretrain_train_mse", run.epoch, train))
    emit(MetricLogged("pretrain_val_mse", run.epoch, val))
    if val < run.best_val:
        run.best_val, run.best_autoencoder, run.bad_epochs = val, _copy_state(autoencoder), 0
    else:
        run.bad_epochs += 1
    if run.bad_epochs >= config.patience or run.epoch >= config.pretrain_epochs:
        autoencoder.load_state_dict(run.best_autoencoder)
        run.history[-1]["stopped"] = "early stop" if run.bad_epochs >= config.patience else "epoch limit"
        run.phase, run.epoch = JOINT, 0


def _batched_mean(per_batch_sum: Any, x: torch.Tensor) -> float:
    total = sum(float(per_batch_sum(chunk)) for chunk in x.split(_EVAL_BATCH))
    return total / len(x)


def _check_finite(value: float, where: str) -> None:
    if not math.isfinite(value):
        raise ModelError(
            f"{where}: the loss became {value}; lower the learning rates or loss weights (the last checkpoint is kept)"
        )


def joint_loss_terms(
    config: UnsupervisedConfig,
    autoencoder: ShallowAutoencoder,
    head: nn.Linear,
    synthetic: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    warm: float,
) -> dict[str, torch.Tensor]:
    """Every term of the joint objective for one batch, and their weighted sum under "total"
    (warm-up factor `warm` on the reconstruction, diversity and anti-collapse terms)."""
    zero = synthetic.new_zeros(())
    terms = {"cls": F.cross_entropy(head(autoencoder.encode(x)), y)}
    terms["rec"], terms["grad"] = synthetic_reconstruction_terms(autoencoder, synthetic)
    terms["div"] = diversity(synthetic)
    terms["real_rec"] = reconstruction_loss(autoencoder, x) if config.l_real_rec > 0 else zero
    terms["repel"] = nearest_neighbour_repulsion(synthetic) if config.l_repel > 0 else zero
    terms["total"] = (
        config.l_cls * terms["cls"]
        + warm * config.l_rec * terms["rec"]
        + config.l_grad * terms["grad"]
        - warm * config.l_div * terms["div"]
        + warm * config.l_real_rec * terms["real_rec"]
        + warm * config.l_repel * terms["repel"]
    )
    return terms


def _joint_epoch(
    config: UnsupervisedConfig, run: _Run, tensors: _Tensors, data: FlatData, emit: EventSink, cancel: CancelToken
) -> None:
    batches = _batches(config, run, len(tensors.train_x), tensors.train_x.device)
    warmup_steps = config.warmup_epochs * len(batches)
    sums: dict[str, float] = dict.fromkeys(_TERMS, 0.0)
    what = f"joint epoch {run.epoch + 1}/{config.epochs}"
    for done, batch in enumerate(batches, 1):
        cancel.raise_if_set()
        terms = joint_loss_terms(
            config,
            run.autoencoder,
            run.head,
            run.synthetic,
            tensors.train_x[batch],
            tensors.train_y[batch],
            warmup_factor(run.step, warmup_steps),
        )
        run.model_optimizer.zero_grad(set_to_none=True)
        run.synthetic_optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        run.model_optimizer.step()
        run.synthetic_optimizer.step()
        with torch.no_grad():
            run.synthetic.clamp_(0.0, 1.0)
        run.step += 1
        for name, value in terms.items():
            sums[name] += float(value.detach())
        emit(Progressed(done, len(batches), what))
    means = {name: value / len(batches) for name, value in sums.items()}
    _check_finite(means["total"], what)
    run.epoch += 1
    val_accuracy = _joint_accuracy(run, tensors.val_x, tensors.val_y)
    homogeneity = mean_pairwise_distance(run.synthetic.detach().cpu())
    run.history.append(
        {
            "phase": JOINT,
            "epoch": run.epoch,
            **means,
            "val_accuracy": val_accuracy,
            "homogeneity": homogeneity,
            "warmup": warmup_factor(run.step, warmup_steps),
        }
    )
    for name, mean in means.items():
        emit(MetricLogged(f"loss_{name}", run.epoch, mean))
    emit(MetricLogged("val_accuracy", run.epoch, val_accuracy))
    emit(MetricLogged("homogeneity", run.epoch, homogeneity))
    samples = run.synthetic.detach()
    emit(
        SnapshotTaken(
            run.epoch, samples_to_uint8_nhwc(samples.cpu().numpy(), data.shape), _predicted(run, samples).cpu().numpy()
        )
    )


def _predicted(run: _Run, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return run.head(run.autoencoder.encode(x)).argmax(dim=1)


def _joint_accuracy(run: _Run, x: torch.Tensor, y: torch.Tensor) -> float:
    correct = sum(
        int((_predicted(run, chunk) == labels).sum())
        for chunk, labels in zip(x.split(_EVAL_BATCH), y.split(_EVAL_BATCH))
    )
    return correct / len(x)


def _fresh_accuracies(
    config: UnsupervisedConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    tensors: _Tensors,
    classes: int,
    stream: int,
    emit: EventSink,
    cancel: CancelToken,
) -> list[float]:
    """Test accuracies of `fresh_nets` encoder + head networks trained from scratch on (x, y)
    alone: full-batch Adam at the run's lr for `fresh_epochs` steps."""
    accuracies = []
    for net_index in range(config.fresh_nets):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(np.random.default_rng([config.seed, stream, net_index]).integers(2**62)))
            net = dense_classifier(x.shape[1], config.hidden, classes)
        net = net.to(x.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        for _ in range(config.fresh_epochs):
            cancel.raise_if_set()
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            correct = sum(
                int((net(chunk).argmax(dim=1) == labels).sum())
                for chunk, labels in zip(tensors.test_x.split(_EVAL_BATCH), tensors.test_y.split(_EVAL_BATCH))
            )
        accuracies.append(correct / len(tensors.test_x))
        emit(Progressed(net_index + 1, config.fresh_nets, f"fresh nets on set {stream}"))
    return accuracies


def _finish(
    config: UnsupervisedConfig,
    run: _Run,
    data: FlatData,
    tensors: _Tensors,
    run_dir: Path,
    resumed_from: str,
    started: float,
    emit: EventSink,
    cancel: CancelToken,
) -> UnsupervisedResult:
    samples = run.synthetic.detach()
    predicted = _predicted(run, samples)
    classes = len(data.classes)
    fresh = _fresh_accuracies(config, samples, predicted, tensors, classes, _FRESH_STREAM, emit, cancel)
    rng = np.random.default_rng([config.seed, _REFERENCE_STREAM])
    reference = torch.from_numpy(rng.choice(len(data.train_x), config.samples, replace=False)).to(samples.device)
    real_x, real_y = tensors.train_x[reference], tensors.train_y[reference]
    random_real = _fresh_accuracies(config, real_x, real_y, tensors, classes, _REFERENCE_STREAM, emit, cancel)
    cpu_samples, cpu_predicted = samples.cpu().numpy(), predicted.cpu().numpy()
    order = np.argsort(cpu_predicted, kind="stable")
    images = cpu_samples.reshape(len(cpu_samples), *data.shape)
    initial = run.initial.numpy().reshape(len(cpu_samples), *data.shape)
    synthetic_path = run_dir / SYNTHETIC_FILE
    write_atomically(
        synthetic_path,
        lambda stream: np.savez_compressed(
            stream, samples=images, predicted=cpu_predicted, initial=initial, classes=np.array(data.classes)
        ),
    )
    samples_png = save_grid_png(run_dir / SAMPLES_PNG, samples_to_uint8_nhwc(cpu_samples[order], data.shape))
    save_grid_png(run_dir / INITIAL_PNG, samples_to_uint8_nhwc(run.initial.numpy()[order], data.shape))
    _save_reconstructions(run, data, run_dir / RECONSTRUCTIONS_PNG)
    result = UnsupervisedResult(
        str(run_dir),
        str(synthetic_path),
        str(samples_png),
        _joint_accuracy(run, tensors.val_x, tensors.val_y),
        _joint_accuracy(run, tensors.test_x, tensors.test_y),
        float(np.mean(fresh)),
        float(np.std(fresh)),
        float(np.mean(random_real)),
        float(np.std(random_real)),
        mean_pairwise_distance(samples.cpu()),
        mean_pairwise_distance(run.initial),
        mean_pairwise_distance(real_x.cpu()),
        tuple(int(n) for n in np.bincount(cpu_predicted, minlength=classes)),
        data.classes,
        data.test_source,
        sum(1 for record in run.history if record["phase"] == PRETRAIN),
        run.epoch,
        resumed_from,
        time.perf_counter() - started,
    )
    write_json_atomically(run_dir / RESULT_FILE, result.to_dict())
    return result


def _save_reconstructions(run: _Run, data: FlatData, path: Path) -> None:
    """The seed report's figure: validation images taken from each class in turn (top row)
    over their reconstructions by the final autoencoder (bottom row), to see whether the
    decoder still draws real images."""
    members = [np.flatnonzero(data.val_y == label) for label in np.unique(data.val_y)]
    chosen = [
        int(group[rank])
        for rank in range(max(len(group) for group in members))
        for group in members
        if rank < len(group)
    ][:_RECONSTRUCTION_COLUMNS]
    originals = torch.from_numpy(data.val_x[chosen]).to(run.synthetic.device)
    with torch.no_grad():
        rebuilt = run.autoencoder(originals).cpu().numpy()
    pictures = samples_to_uint8_nhwc(np.concatenate([data.val_x[chosen], rebuilt]), data.shape)
    save_grid_png(path, pictures, columns=len(chosen))


def _save_state(config: UnsupervisedConfig, run_dir: Path, run: _Run) -> None:
    save_run_state(run_dir, _state_payload(config, run), run.history)


def _state_payload(config: UnsupervisedConfig, run: _Run) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "recipe": json.dumps(config.recipe(), sort_keys=True),
        "phase": run.phase,
        "epoch": run.epoch,
        "step": run.step,
        "autoencoder": run.autoencoder.state_dict(),
        "head": run.head.state_dict(),
        "synthetic": run.synthetic.detach().cpu(),
        "initial": run.initial,
        "pretrain_optimizer": run.pretrain_optimizer.state_dict(),
        "model_optimizer": run.model_optimizer.state_dict(),
        "synthetic_optimizer": run.synthetic_optimizer.state_dict(),
        "best_val": run.best_val,
        "best_autoencoder": run.best_autoencoder,
        "bad_epochs": run.bad_epochs,
        "history": json.dumps(run.history),
    }


def _saved_state(config: UnsupervisedConfig, run_dir: Path, device: torch.device) -> dict[str, Any] | None:
    saved = load_run_state(run_dir, device, STATE_FORMAT, "checkpoint", "an unsupervised distillation checkpoint")
    if saved is None:
        return None
    if json.dumps(_recorded(saved), sort_keys=True) != json.dumps(config.recipe(), sort_keys=True):
        raise ModelError(
            f"{run_dir} holds a run of another recipe ({changed_settings_text(_recorded(saved), config.recipe())})",
            "repeat that run's settings to resume it, or choose another {out_dir} folder",
        )
    return saved


def _recorded(saved: dict[str, Any]) -> Any:
    """The recipe a checkpoint recorded (stored as JSON text), or None where it is unreadable."""
    try:
        recorded = json.loads(saved.get("recipe", ""))
    except (TypeError, ValueError):
        return None
    return with_absolute_paths(recorded, ("data",)) if isinstance(recorded, dict) else recorded


def _restored_run(config: UnsupervisedConfig, data: FlatData, saved: dict[str, Any], fresh: _Run) -> _Run:
    """The saved run, once every field has been checked against the new run `fresh` of the same
    recipe and data: a damaged or doctored state is refused naming its field."""
    path = Path(config.out_dir) / STATE_FILE
    check_state_like(path, saved, _state_payload(config, fresh), hint=DAMAGED_STATE_HINT)
    if saved["phase"] not in (PRETRAIN, JOINT):
        raise ModelError(f"{path}: field phase: {saved['phase']!r} is not a phase of this method", DAMAGED_STATE_HINT)
    device = fresh.synthetic.device
    autoencoder = ShallowAutoencoder(data.features, config.hidden, tied=config.tied).to(device)
    head = nn.Linear(config.hidden, len(data.classes)).to(device)
    autoencoder.load_state_dict(saved["autoencoder"])
    head.load_state_dict(saved["head"])
    synthetic = saved["synthetic"].to(device).clone().requires_grad_(True)
    optimizers = _optimizers(config, autoencoder, head, synthetic)
    try:
        for optimizer, key in zip(optimizers, ("pretrain_optimizer", "model_optimizer", "synthetic_optimizer")):
            optimizer.load_state_dict(saved[key])
        history = json.loads(saved["history"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})", DAMAGED_STATE_HINT) from None
    best = {key: value.to(device) for key, value in saved["best_autoencoder"].items()}
    return _Run(
        autoencoder,
        head,
        synthetic,
        saved["initial"].cpu(),
        *optimizers,
        saved["phase"],
        int(saved["epoch"]),
        int(saved["step"]),
        float(saved["best_val"]),
        best,
        int(saved["bad_epochs"]),
        history,
    )
