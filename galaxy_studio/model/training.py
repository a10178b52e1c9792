"""Training a classifier: the seed paper's recipe as a resumable job.

The recipe (AdamW, cosine annealing 5e-4 -> 1e-6, batch 64) is the seed paper's; early
stopping on the validation loss keeps the best epoch's weights. After every epoch the whole
training state is written atomically to last.pt, so a cancel, a crash or a closed laptop
costs at most one epoch: running the same config again continues at the next epoch with the
optimizer, the schedule and every random stream exactly where they were. Shuffling and
augmentation draw from streams seeded by (seed, epoch), which is what makes that exact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, Sampler, WeightedRandomSampler

from galaxy_studio.atomic_files import write_json_atomically
from galaxy_studio.cpu_share import cores_shared, share_cores
from galaxy_studio.distributed import SINGLE, Ranks, broadcast_from_leader, current_ranks, digest, require_agreement
from galaxy_studio.events import (
    NEVER,
    CancelToken,
    EpochEnded,
    EventSink,
    MetricLogged,
    Noted,
    Progressed,
    Warned,
    ignore,
)
from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec
from galaxy_studio.model.calibration import calibrated_probabilities, calibration_report, fit_temperature
from galaxy_studio.model.checkpoint import (
    FORMAT_VERSION,
    TRAINING_STATE_FORMAT,
    load_payload,
    package_versions,
    save_classifier,
    save_payload,
)
from galaxy_studio.model.checkpoint_schema import check_state_like
from galaxy_studio.model.config import TrainConfig, legacy_fields_translated, same_recipe
from galaxy_studio.model.data_recipe import DataRecipe, choose_data_recipe, spread_sample
from galaxy_studio.model.datasets import (
    GalaxyDataset,
    LabelledData,
    load_labelled_data,
    prepare_pixels,
    run_split,
)
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.metrics import classification_report
from galaxy_studio.model.out_of_distribution import calibrate_ood
from galaxy_studio.model.precision import training_autocast_dtype
from galaxy_studio.model.prediction import DEFAULT_BATCH, describe_device, predict_logits, resolve_device
from galaxy_studio.model.preprocessing import (
    Preprocessing,
    channel_statistics,
)
from galaxy_studio.model.pretrained import StartingWeights, check_weights_file, parameter_groups, start_from_file
from galaxy_studio.model.runs import (
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    STATE_FILE,
    read_run,
    require_output_folder,
)
from galaxy_studio.model.training_profile import profile_training_data
from galaxy_studio.model.training_ranks import (
    batch_loss,
    distributed_network,
    rank_loader,
    require_shares,
    seed_rank_stream,
    summed_over_ranks,
)
from galaxy_studio.model.training_time import TrainingTimeEstimate
from galaxy_studio.model.uncertainty import sample_warnings
from galaxy_studio.settings import changed_settings_text


@dataclass(frozen=True)
class TrainResult:
    """A finished run: test-split metrics, per-epoch history and where the files are."""

    run_dir: str
    checkpoint: str
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    resumed_from: int
    seconds: float


@dataclass
class _Data:
    labelled: LabelledData
    recipe: DataRecipe
    train: GalaxyDataset
    val_pixels: np.ndarray
    val_labels: np.ndarray
    test_pixels: np.ndarray
    test_labels: np.ndarray
    split: dict[str, Any]

    @property
    def prep(self) -> Preprocessing:
        return self.recipe.prep


@dataclass
class _State:
    """Everything that changes while training; saved whole after every epoch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    average: torch.optim.swa_utils.AveragedModel | None = None
    starting: StartingWeights | None = None
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_val_loss: float = math.inf
    best_val_score: float = -math.inf
    best_val_loss_kept: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False
    ranks: Ranks = SINGLE
    network: nn.Module | None = None

    @property
    def stepped(self) -> nn.Module:
        """The network a training step runs: across ranks, the model wrapped so that their
        gradients are averaged; else the model."""
        return self.model if self.network is None else self.network


def train_classifier(config: TrainConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> TrainResult:
    """Train, validate each epoch, test the best epoch's weights and write the run folder.

    A folder holding an unfinished run of the same recipe is resumed; one holding a finished
    run of the same recipe is returned as it is; one holding another recipe is refused.

    Under torchrun every rank trains its share of each batch (model/training_ranks.py); rank 0
    alone validates, tests and writes the run's files, and tells the others what it found.
    """
    started = time.perf_counter()
    ranks = current_ranks()
    resolve_device(config.device)  # a missing GPU is refused before anything is written
    run_dir = Path(config.out_dir)
    finished = _finished_run(config, run_dir)
    if finished is not None:
        emit(Warned(f"{run_dir} already holds this finished run; its results are returned"))
        return finished
    require_output_folder(run_dir)
    saved = _saved_state(config, run_dir)
    device = resolve_device(config.device)
    # The weights file and the data are read and checked before the folder is made: bad input
    # leaves no run behind, and a wrong file is reported before minutes of decoding.
    if config.pretrained is not None and saved is None:
        check_weights_file(config.arch, config.pretrained, size=config.size, width=config.width)
    data = _load_data(config, saved, device, emit, cancel)
    # Also the point before which no rank writes: each has read the folder as it was.
    require_agreement(
        "the training data, the recipe or the run folder's state",
        digest(data.split, data.prep.to_dict(), config.recipe(), config.out_dir, saved and saved["epoch"]),
    )
    require_shares(ranks, device, len(data.train), config.batch_size, _drops_last(len(data.train), config))
    if ranks.leader:
        _start_run_folder(config, run_dir)
    # The run seeds and uses its own copy of torch's random state, leaving the caller's alone.
    with torch.random.fork_rng(devices=[]), cores_shared(device):
        torch.manual_seed(config.training_seed)
        state = _new_state(
            config,
            data,
            device,
            steps_per_epoch=len(training_loader(data.train, config, 0)),
            starting=_saved_starting_weights(config, saved, run_dir / STATE_FILE),
        )
        if saved is None and state.starting is not None:
            for line in state.starting.lines():
                emit(Noted(line))
        if saved is not None:
            _restore(state, saved, _state_payload(config, data, state), run_dir / STATE_FILE)
            emit(Warned(f"resuming {run_dir} after epoch {state.epoch}"))
        state.ranks, state.network = ranks, distributed_network(state.model, device, ranks)
        resumed_from = state.epoch
        weights = class_weights(data.train.labels, len(data.labelled.classes)) if config.balance == "loss" else None
        while state.epoch < config.epochs and not state.stopped_early:
            _run_epoch(config, data, state, weights, device, emit, cancel)
            if ranks.leader:
                save_payload(run_dir / STATE_FILE, _state_payload(config, data, state))
                write_json_atomically(run_dir / HISTORY_FILE, state.history)
    if not ranks.leader:
        return _leader_result(run_dir, state, resumed_from, started)
    result = _finish(config, data, state, device, run_dir, resumed_from, started, emit, cancel)
    broadcast_from_leader(result.metrics)
    return result


def _start_run_folder(config: TrainConfig, run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomically(run_dir / CONFIG_FILE, config.to_dict())
    except OSError as exc:
        raise ModelError(
            f"{run_dir}: cannot write the run's files ({exc.strerror or exc})", "choose another {out_dir} folder"
        ) from None


def _train_result(
    run_dir: Path, metrics: dict[str, Any], state: _State, resumed_from: int, started: float
) -> TrainResult:
    return TrainResult(
        str(run_dir),
        str(run_dir / MODEL_FILE),
        metrics,
        state.history,
        state.best_epoch,
        state.epoch,
        state.stopped_early,
        resumed_from,
        time.perf_counter() - started,
    )


def _leader_result(run_dir: Path, state: _State, resumed_from: int, started: float) -> TrainResult:
    """What a rank other than 0 returns: the test metrics rank 0 measured and sends once
    it has written the run (the other figures every rank holds alike)."""
    metrics = broadcast_from_leader(None)
    assert isinstance(metrics, dict)
    return _train_result(run_dir, metrics, state, resumed_from, started)


def estimate_training_time(
    config: TrainConfig, *, steps: int = 4, emit: EventSink = ignore, cancel: CancelToken = NEVER
) -> TrainingTimeEstimate:
    """How long `config` will train here, from timing the run's own work on a sample of its
    data: decoding a sample of the images (with the run's decoding threads), `steps` training
    steps through the real loader and `_train_step`, the weight average's batch-norm pass and
    validation, each scaled to the run's image and step counts. What the first step, pass and
    validation cost beyond the next (kernel selection, allocation) is counted once, not per
    epoch. Writes nothing and leaves torch's random state alone."""
    device = resolve_device(config.device)
    labelled = load_labelled_data(config.data)
    train_idx, val_idx, test_idx = run_split(
        labelled.labels, config.split, config.seed, config.fold, classes=labelled.classes
    )
    recipe = choose_data_recipe(config, labelled, train_idx)
    prep, context = recipe.prep, recipe.context
    train_sample = spread_sample(train_idx, config.batch_size * steps)
    val_sample = spread_sample(val_idx, DEFAULT_BATCH)
    began = time.perf_counter()
    train_pixels, train_labels = _decoded(
        labelled, train_sample, prep, context, config, "timing the decoding", emit, cancel
    )
    train_decode = (time.perf_counter() - began) / len(train_sample)
    began = time.perf_counter()
    val_pixels, val_labels = _decoded(labelled, val_sample, prep, 1.0, config, "timing the decoding", emit, cancel)
    val_decode = (time.perf_counter() - began) / max(len(val_sample), 1)
    margin = (train_pixels.shape[-1] - prep.size) // 2
    prep = prep.with_statistics(
        *channel_statistics(train_pixels[:, :, margin : margin + prep.size, margin : margin + prep.size], prep)
    )
    train = GalaxyDataset(
        train_pixels, train_labels, prep, rotations=recipe.rotations, seed=config.training_seed, device=device
    )
    empty = np.zeros((0,), np.int64)
    data = _Data(labelled, recipe.with_prep(prep), train, val_pixels, val_labels, train_pixels[:0], empty, {})
    full_steps = steps_per_epoch(len(train_idx), config)
    weights = class_weights(train_labels, len(labelled.classes)) if config.balance == "loss" else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.training_seed)
        state = _new_state(config, data, device, steps_per_epoch=full_steps)
        step_seconds, step_warm_up = _timed_steps(config, data, state, weights, device, steps, emit, cancel)
        loader = training_loader(train, config, 1)
        average = state.average
        bn_first, bn_again = (
            (0.0, 0.0)
            if average is None
            else _timed_twice(lambda: torch.optim.swa_utils.update_bn(loader, average.module, device=device), device)
        )
        val_first, val_again = _timed_twice(
            lambda: _validation(data, _evaluated(state), weights, device, cancel), device
        )
    predict_seconds = val_again / max(len(val_labels), 1)
    epoch = step_seconds * full_steps + bn_again / len(loader) * full_steps + predict_seconds * len(val_idx)
    # The first step, batch-norm pass and validation pay for kernel selection and allocation: once a run.
    warm_up = step_warm_up + max(bn_first - bn_again, 0.0) + max(val_first - val_again, 0.0)
    decode = train_decode * len(train_idx) + val_decode * (len(val_idx) + len(test_idx))
    once = decode + predict_seconds * len(test_idx) + warm_up
    measured = (
        f"decoding {len(train_sample) + len(val_sample)} of {len(labelled.items)} images, "
        f"{steps} of the {full_steps} training steps of an epoch ({config.batch_size} images each)"
        + (", the weight average's batch-norm pass" if state.average is not None else "")
        + f" and validating {len(val_labels)} of {len(val_idx)} images; the first time's warm-up counted once"
    )
    return TrainingTimeEstimate(epoch, once, config.epochs, describe_device(device), measured, config.patience)


def _timed_twice(work: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """Seconds `work` took the first time, with its warm-up, and the second time, without
    (waiting for a GPU to finish it)."""
    seconds = []
    for _ in range(2):
        began = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - began)
    return seconds[0], seconds[1]


def _timed_steps(
    config: TrainConfig,
    data: _Data,
    state: _State,
    weights: torch.Tensor | None,
    device: torch.device,
    steps: int,
    emit: EventSink,
    cancel: CancelToken,
) -> tuple[float, float]:
    """(median seconds of a training step, fetching and resampling its batch included, over
    `steps` steps; how much longer the first step took), cycling over the sample's batches."""
    data.train.set_epoch(1)
    batches = iter(training_loader(data.train, config, 1))
    state.model.train()
    device_weights = None if weights is None else weights.to(device)
    half = _autocast_dtype(config, device)
    seconds = []
    first = 0.0
    for step in range(steps + 1):
        cancel.raise_if_set()
        began = time.perf_counter()
        try:
            images, labels = next(batches)
        except StopIteration:
            batches = iter(training_loader(data.train, config, 1))
            images, labels = next(batches)
        loss, _ = _train_step(state, images.to(device), labels.to(device), device_weights, half)
        float(loss)  # waits for the device
        if step:
            seconds.append(time.perf_counter() - began)
        else:
            first = time.perf_counter() - began
        emit(Progressed(step + 1, steps + 1, "timing training steps"))
    median = float(np.median(seconds))
    return median, max(first - median, 0.0)


def _finished_run(config: TrainConfig, run_dir: Path) -> TrainResult | None:
    run = read_run(run_dir)
    if run is None or run.status != "finished":
        return None
    recorded = _recipe_of(run.config)
    if recorded != config.recipe():
        raise ModelError(
            f"{run_dir} holds a finished run of another config ({changed_settings_text(recorded, config.recipe())})",
            "choose another {out_dir} folder or delete it",
        )
    metrics = dict(run.metrics or {})
    return TrainResult(
        str(run_dir),
        str(run_dir / MODEL_FILE),
        metrics,
        run.history,
        int(metrics.get("best_epoch", 0)),
        int(metrics.get("epochs_run", len(run.history))),
        bool(metrics.get("stopped_early", False)),
        len(run.history),
        0.0,
    )


def _recipe_of(config: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return TrainConfig.from_dict(config).recipe()
    except (TypeError, ValueError):
        return None


def _saved_state(config: TrainConfig, run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    saved = load_payload(path, TRAINING_STATE_FORMAT)
    if not same_recipe(saved.get("recipe"), config):
        recorded = saved.get("recipe")
        differ = changed_settings_text(
            legacy_fields_translated(recorded) if isinstance(recorded, dict) else None, config.recipe()
        )
        raise ModelError(
            f"{run_dir} holds an unfinished run of another config ({differ})",
            "run it with that config to resume, or choose another {out_dir} folder",
        )
    return saved


def _load_data(
    config: TrainConfig, saved: dict[str, Any] | None, device: torch.device, emit: EventSink, cancel: CancelToken
) -> _Data:
    labelled = load_labelled_data(config.data)
    for note in labelled.notes:
        emit(Warned(f"{labelled.source}: {note}"))
    train_idx, val_idx, test_idx = run_split(
        labelled.labels, config.split, config.seed, config.fold, classes=labelled.classes
    )
    if saved is not None:
        if saved.get("fingerprint") != labelled.fingerprint():
            raise ModelError(
                f"{config.data}: the images or labels changed since this run started, so it cannot be resumed",
                "train into another {out_dir} folder",
            )
        recipe = DataRecipe.from_saved(saved, config)
    else:
        recipe = choose_data_recipe(config, labelled, train_idx)
        for note in recipe.notes:
            emit(Noted(note))
    prep, context = recipe.prep, recipe.context
    train_pixels, train_labels = _decoded(
        labelled, train_idx, prep, context, config, "decoding training images", emit, cancel
    )
    val_pixels, val_labels = _decoded(labelled, val_idx, prep, 1.0, config, "decoding validation images", emit, cancel)
    test_pixels, test_labels = _decoded(labelled, test_idx, prep, 1.0, config, "decoding test images", emit, cancel)
    if len(train_labels) == 0:
        raise ModelError(f"{config.data}: no training image could be read")
    if len(val_labels) == 0:
        emit(Warned("no validation images: early stopping is off and the last epoch is kept"))
    if saved is None:
        margin = (train_pixels.shape[-1] - prep.size) // 2
        centre = train_pixels[:, :, margin : margin + prep.size, margin : margin + prep.size]
        prep = prep.with_statistics(*channel_statistics(centre, prep))
    split = {
        "fractions": list(config.split),
        "seed": config.seed,
        "fingerprint": labelled.fingerprint(),
        "counts": {"train": len(train_labels), "val": len(val_labels), "test": len(test_labels)},
        **({} if config.fold is None else {"fold": list(config.fold)}),
    }
    train = GalaxyDataset(
        train_pixels, train_labels, prep, rotations=recipe.rotations, seed=config.training_seed, device=device
    )
    return _Data(labelled, recipe.with_prep(prep), train, val_pixels, val_labels, test_pixels, test_labels, split)


def _decoded(
    labelled: LabelledData,
    indices: np.ndarray,
    prep: Preprocessing,
    context: float,
    config: TrainConfig,
    what: str,
    emit: EventSink,
    cancel: CancelToken,
) -> tuple[np.ndarray, np.ndarray]:
    items = [labelled.items[int(i)] for i in indices]
    pixels, failed = prepare_pixels(
        items, prep, context=context, threads=config.threads, what=what, emit=emit, cancel=cancel
    )
    keep = np.setdiff1d(np.arange(len(items)), failed)
    if failed:
        return pixels[keep], labelled.labels[indices][keep]
    return pixels, labelled.labels[indices]


def _autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    return training_autocast_dtype(device) if config.amp else None


def _spec(config: TrainConfig, data: _Data) -> ArchitectureSpec:
    """The run's network: a file to start from gives it the layout the file's weights load into."""
    layout = None if config.pretrained is None else "torchvision"
    return ArchitectureSpec(
        config.arch, len(data.labelled.classes), data.prep.n_channels, config.size, config.width, layout
    )


def _saved_starting_weights(config: TrainConfig, saved: dict[str, Any] | None, path: Path) -> StartingWeights | None:
    """A resumed run's record of the file it started from: its weights are in the saved
    state, so the file is not read again."""
    if saved is None or config.pretrained is None:
        return None
    try:
        return StartingWeights.from_dict(saved["starting_weights"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{path}: damaged training state (no readable record of the weights file it started from: {exc})",
            "delete the run's last.pt to start over, or choose another {out_dir} folder",
        ) from None


def _new_state(
    config: TrainConfig,
    data: _Data,
    device: torch.device,
    steps_per_epoch: int,
    starting: StartingWeights | None = None,
) -> _State:
    """A network, optimiser and schedule at step 0. With a weights file the network starts
    from it (or, given the record `starting` of a resumed run, in its layout, the saved
    weights to follow) and its backbone learns at `backbone_lr_scale` times the rate."""
    spec = _spec(config, data)
    if config.pretrained is not None and starting is None:
        model, starting = start_from_file(spec, config.pretrained)
    else:
        model = model_from_spec(spec)
    model = model.to(device)
    groups: list[dict[str, Any]] = [{"params": list(model.parameters()), "lr": config.lr}]
    if starting is not None:
        groups = parameter_groups(model, starting.fresh, config.lr, config.backbone_lr_scale)
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, config.epochs * steps_per_epoch), eta_min=config.min_lr
    )
    scaler = torch.amp.GradScaler("cuda", enabled=_autocast_dtype(config, device) == torch.float16)
    average = None
    if config.ema is not None:
        average = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema)
        )
    return _State(model, optimizer, scheduler, scaler, average, starting)


def _restore(state: _State, saved: dict[str, Any], fresh: dict[str, Any], path: Path) -> None:
    """Continue from `saved`, once each of its fields has been checked against `fresh`, the
    state this run would save now: a damaged or doctored last.pt is refused naming its field."""
    hint = "delete the run's last.pt to start over, or choose another {out_dir} folder"
    fresh = {**fresh, "best_state": state.model.state_dict()}
    check_state_like(path, saved, fresh, hint=hint, optional=("best_state",))
    state.model.load_state_dict(saved["model"])
    try:
        state.optimizer.load_state_dict(saved["optimizer"])
        state.scheduler.load_state_dict(saved["scheduler"])
        if state.scaler.is_enabled() and saved["scaler"]:
            state.scaler.load_state_dict(saved["scaler"])
        if state.average is not None:
            state.average.load_state_dict(saved["average"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: damaged training state ({type(exc).__name__}: {exc})", hint) from None
    torch.set_rng_state(saved["torch_rng"])
    state.epoch = int(saved["epoch"])
    state.history = list(saved["history"])
    state.best_state = saved["best_state"]
    state.best_val_loss = float(saved["best_val_loss"])
    state.best_val_score = float(saved.get("best_val_score", -math.inf))
    state.best_val_loss_kept = float(saved.get("best_val_loss_kept", state.best_val_loss))
    state.best_epoch = int(saved["best_epoch"])
    state.bad_epochs = int(saved["bad_epochs"])
    state.stopped_early = bool(saved["stopped_early"])


def _state_payload(config: TrainConfig, data: _Data, state: _State) -> dict[str, Any]:
    return {
        "format": TRAINING_STATE_FORMAT,
        "format_version": FORMAT_VERSION,
        "recipe": config.recipe(),
        "preprocessing": data.prep.to_dict(),
        "preprocessing_notes": list(data.recipe.notes),
        "rotations": data.recipe.rotations,
        "fingerprint": data.split["fingerprint"],
        "epoch": state.epoch,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "average": None if state.average is None else state.average.state_dict(),
        "starting_weights": None if state.starting is None else state.starting.to_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": state.history,
        "best_state": state.best_state,
        "best_val_loss": state.best_val_loss,
        "best_val_score": state.best_val_score,
        "best_val_loss_kept": state.best_val_loss_kept,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "stopped_early": state.stopped_early,
    }


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Loss weights inversely proportional to class frequency, so that every class weighs as
    much in total; a sample's weight is 1 on average. Absent classes get 0."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def _epoch_generator(config: TrainConfig, epoch: int) -> torch.Generator:
    seed = int(np.random.SeedSequence([config.training_seed, epoch]).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(seed)


def training_loader(dataset: GalaxyDataset, config: TrainConfig, epoch: int) -> DataLoader:
    """Batches of one epoch, shuffled (or, with balance="sampler", drawn with replacement so
    that each class comes up equally often) by a stream seeded by (seed, epoch)."""
    generator = _epoch_generator(config, epoch)
    sampler: Sampler[int]
    if config.balance == "sampler":
        counts = np.bincount(dataset.labels)
        weights = (1.0 / counts[dataset.labels]).tolist()
        sampler = WeightedRandomSampler(weights, len(dataset), replacement=True, generator=generator)
    else:
        sampler = RandomSampler(dataset, generator=generator)
    drop_last = _drops_last(len(dataset), config)
    return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=drop_last, generator=generator)


def _drops_last(images: int, config: TrainConfig) -> bool:
    # A last batch of one image would give batch norm a single value per channel.
    return images % config.batch_size == 1 and images > 1


def steps_per_epoch(images: int, config: TrainConfig) -> int:
    """Training steps in an epoch of `images` images: as many as `training_loader` yields."""
    return images // config.batch_size if _drops_last(images, config) else math.ceil(images / config.batch_size)


def _run_epoch(
    config: TrainConfig,
    data: _Data,
    state: _State,
    weights: torch.Tensor | None,
    device: torch.device,
    emit: EventSink,
    cancel: CancelToken,
) -> None:
    epoch = state.epoch + 1
    begin = time.perf_counter()
    data.train.set_epoch(epoch)
    seed_rank_stream(config.training_seed, epoch, state.ranks)
    loader = training_loader(data.train, config, epoch)
    share = rank_loader(loader, state.ranks)
    model, half = state.model, _autocast_dtype(config, device)
    model.train()
    device_weights = None if weights is None else weights.to(device)
    # Sums stay on the device: reading a loss back every step would make the CPU wait for the GPU
    # (float32: Apple's MPS has no float64).
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = torch.zeros((), dtype=torch.int64, device=device)
    what = f"epoch {epoch}/{config.epochs}"
    for step, (images, labels) in enumerate(share, start=1):
        cancel.raise_if_set()
        share_cores()
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        loss, logits = _train_step(state, images, labels, device_weights, half)
        total_loss += loss
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += len(labels)
        emit(Progressed(step, len(share), what))
    cancel.raise_if_set()
    summed_over_ranks(state.ranks, total_loss, correct, seen)
    if state.average is not None and state.ranks.leader:
        # Averaged weights need their own batch-norm statistics: an average of the trained
        # network's running statistics lags behind them and wrecks the predictions. Rank 0
        # passes over the whole batches, as one process does; the others do not validate.
        torch.optim.swa_utils.update_bn(loader, state.average.module, device=device)
    figures = _validation(data, _evaluated(state), weights, device, cancel) if state.ranks.leader else None
    # Every rank takes rank 0's figures, so that all stop early and keep weights alike.
    val_loss, val_acc, val_balanced = _validation_figures(broadcast_from_leader(figures))
    record = {
        "epoch": epoch,
        "train_loss": float(total_loss) / max(int(seen), 1),
        "val_loss": val_loss,
        "train_acc": int(correct) / max(int(seen), 1),
        "val_acc": val_acc,
        "val_balanced_acc": val_balanced,
        "lr": float(state.scheduler.get_last_lr()[0]),
        "seconds": time.perf_counter() - begin,
    }
    _track_best(config, state, epoch, val_loss, val_balanced)
    state.epoch = epoch
    state.history.append({key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in record.items()})
    for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
        emit(MetricLogged(name, epoch, record[name]))
    emit(
        EpochEnded(
            epoch, config.epochs, record["train_loss"], val_loss, record["train_acc"], val_acc, record["seconds"]
        )
    )


def _train_step(
    state: _State,
    images: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None,
    half: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch already on the device: (the batch's mean loss times
    its images, or across ranks this rank's part of that; its logits). Training and its time
    estimate both take this step, so the estimate times what runs."""
    state.optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=images.device.type, dtype=half or torch.float32, enabled=half is not None):
        logits = state.stepped(images)
        loss, summed = batch_loss(logits.float(), labels, weights, state.ranks)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.scheduler.step()
    if state.average is not None:
        state.average.update_parameters(state.model)
    return summed, logits


def _validation(
    data: _Data, model: nn.Module, weights: torch.Tensor | None, device: torch.device, cancel: CancelToken
) -> tuple[float, float, float]:
    """(loss, accuracy, balanced accuracy) on the validation split; NaNs without one."""
    if len(data.val_labels) == 0:
        return math.nan, math.nan, math.nan
    logits = torch.from_numpy(predict_logits(model, data.val_pixels, data.prep, device=device, cancel=cancel))
    labels = torch.from_numpy(data.val_labels)
    loss = float(F.cross_entropy(logits, labels, weight=weights))
    hits = (logits.argmax(dim=1) == labels).float()
    recalls = [float(hits[labels == label].mean()) for label in torch.unique(labels)]
    return loss, float(hits.mean()), float(np.mean(recalls))


def _validation_figures(figures: object) -> tuple[float, float, float]:
    """(loss, accuracy, balanced accuracy) as rank 0 sent them (an untyped object on the wire)."""
    assert isinstance(figures, tuple) and len(figures) == 3
    loss, accuracy, balanced = figures
    return float(loss), float(accuracy), float(balanced)


def _evaluated(state: _State) -> nn.Module:
    """The network that is validated and kept: the running weight average when the recipe
    has one, else the trained weights."""
    return state.model if state.average is None else state.average.module


def _track_best(config: TrainConfig, state: _State, epoch: int, val_loss: float, val_score: float) -> None:
    """Keep the weights of the best validation epoch and count epochs without progress.

    By default the best epoch has the lowest validation loss. `keep="balanced-accuracy"`
    keeps the highest balanced accuracy instead (the lower loss breaking ties), for a network
    that grows confident and raises the validation loss while it gets more images right. On
    gz-spiral it kept early, lucky epochs (epoch 16 of 55 on one split, 79.5% against 81.4%
    for the loss), so it is not the default. Patience counts epochs in which neither the
    loss nor the kept score improved, so training goes on while either does.
    """
    if math.isnan(val_loss):
        _keep(state, epoch)
        state.best_val_loss, state.best_val_score = math.inf, -math.inf
        return
    if config.keep == "loss":
        better = val_loss < state.best_val_loss
    else:
        better = val_score > state.best_val_score or (
            val_score == state.best_val_score and val_loss < state.best_val_loss_kept
        )
    progressed = better or val_loss < state.best_val_loss
    state.best_val_loss = min(state.best_val_loss, val_loss)
    if better:
        _keep(state, epoch)
        state.best_val_score, state.best_val_loss_kept = val_score, val_loss
    state.bad_epochs = 0 if progressed else state.bad_epochs + 1
    if config.patience and state.bad_epochs >= config.patience:
        state.stopped_early = True


def _keep(state: _State, epoch: int) -> None:
    state.best_epoch = epoch
    state.best_state = {key: value.detach().cpu().clone() for key, value in _evaluated(state).state_dict().items()}


def _familiarity_records(
    data: _Data, model: nn.Module, device: torch.device, emit: EventSink, cancel: CancelToken
) -> dict[str, Any]:
    """What classification needs to say when an input is unlike the training data: the
    training profile and the out-of-distribution score calibrated on the validation split."""
    margin = (data.train.pixels.shape[-1] - data.prep.size) // 2
    centre = data.train.pixels[:, :, margin : margin + data.prep.size, margin : margin + data.prep.size]
    records: dict[str, Any] = {
        "training_profile": profile_training_data(data.labelled.items, centre, data.prep).to_dict()
    }
    if len(data.val_labels) == 0:
        emit(Warned("no validation images to calibrate the out-of-distribution score on; predictions will have none"))
        return records
    scorer = calibrate_ood(model, data.prep, centre, data.train.labels, data.val_pixels, device=device, cancel=cancel)
    records["out_of_distribution"] = scorer.to_dict()
    return records


def _temperature(data: _Data, model: nn.Module, device: torch.device, emit: EventSink, cancel: CancelToken) -> float:
    """The temperature that calibrates the kept network's probabilities on the validation split."""
    if len(data.val_labels) == 0:
        emit(Warned("no validation images to calibrate the probabilities on; they are the network's softmax (T = 1)"))
        return 1.0
    logits = predict_logits(model, data.val_pixels, data.prep, device=device, cancel=cancel)
    return fit_temperature(logits, data.val_labels)


def _finish(
    config: TrainConfig,
    data: _Data,
    state: _State,
    device: torch.device,
    run_dir: Path,
    resumed_from: int,
    started: float,
    emit: EventSink,
    cancel: CancelToken,
) -> TrainResult:
    model = state.model
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    logits = predict_logits(model, data.test_pixels, data.prep, device=device, cancel=cancel)
    temperature = _temperature(data, model, device, emit, cancel)
    metrics = classification_report(
        data.test_labels, calibrated_probabilities(logits, temperature), data.labelled.classes
    )
    metrics.update(calibration_report(temperature, logits, data.test_labels))
    metrics.update(
        {
            "best_epoch": state.best_epoch,
            "epochs_run": state.epoch,
            "stopped_early": state.stopped_early,
            "split": data.split,
            "preprocessing_notes": list(data.recipe.notes),
            "rotations": data.recipe.rotations,
        }
    )
    if state.starting is not None:
        metrics["pretrained"] = {**state.starting.to_dict(), "backbone_lr_scale": config.backbone_lr_scale}
    metrics["warnings"] = sample_warnings(metrics)
    for warning in metrics["warnings"]:
        emit(Warned(warning))
    metadata = {
        "architecture": _spec(config, data).to_dict(),
        "classes": list(data.labelled.classes),
        "preprocessing": data.prep.to_dict(),
        "metrics": metrics,
        "config": config.to_dict(),
        "split": data.split,
        "temperature": temperature,
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    metadata.update(_familiarity_records(data, model, device, emit, cancel))
    model.cpu()
    save_classifier(run_dir / MODEL_FILE, model, metadata)
    write_json_atomically(run_dir / METRICS_FILE, metrics)
    write_json_atomically(run_dir / HISTORY_FILE, state.history)
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    return _train_result(run_dir, metrics, state, resumed_from, started)
