"""The distillation loop: MTT or STM over a buffer, checkpointed and exactly resumable.

Every iteration draws its expert and start epoch from a NumPy stream seeded by (seed,
iteration), and its minibatches and augmentations from a torch generator seeded the same
way; so a resumed run needs no saved random state to take the very same next iteration as
an uninterrupted one. STM's validation loss is measured on one fixed expert (the first)
with one fixed augmentation draw per stage: the Pearson test then sees how the loss moves
with the images alone, not the noise of changing experts and draws.

Run folder: config.json; state.pt (images, log lr, optimiser and schedule states, history;
replaced atomically every `checkpoint_every` iterations and at the end); history.json;
snapshots/step_NNNNNN.npz (display pictures every `snapshot_every` iterations, for the
Distill panel's timeline); synthetic.npz when the loop ends.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galaxy_studio.atomic_files import write_atomically, write_json_atomically
from galaxy_studio.count_text import counted
from galaxy_studio.cpu_share import cores_shared, share_cores
from galaxy_studio.distill.config import FIELDS_BEFORE_THEY_EXISTED, DistillConfig
from galaxy_studio.distill.experts import Buffer, load_buffer_data, open_buffer
from galaxy_studio.distill.export import (
    SYNTHETIC_FILE,
    SyntheticSet,
    display_images,
    export_run_pictures,
    save_synthetic,
)
from galaxy_studio.distill.fitting import seeded_generator
from galaxy_studio.distill.init import ZcaWhitening, initial_images
from galaxy_studio.distill.matcher import RunUnrolls, run_unrolls
from galaxy_studio.distill.pixel_bounds import PixelBounds
from galaxy_studio.distill.readability import PictureReadability
from galaxy_studio.distill.run_state import DAMAGED_STATE_HINT, load_run_state, save_run_state
from galaxy_studio.distill.runs import STATE_FILE
from galaxy_studio.distill.smoothing import blurred, widest_blur
from galaxy_studio.distill.stm import Schedule, new_schedule, restore_schedule
from galaxy_studio.events import (
    NEVER,
    CancelToken,
    EventSink,
    IterationFinished,
    MetricLogged,
    Progressed,
    SnapshotTaken,
    StageAdvanced,
    Warned,
    ignore,
)
from galaxy_studio.model.architectures import model_from_spec
from galaxy_studio.model.checkpoint_schema import check_state_like
from galaxy_studio.model.config import with_absolute_paths
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.precision import cuda_precision
from galaxy_studio.model.prediction import resolve_device
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.runs import require_output_folder
from galaxy_studio.run_folders import CONFIG_FILE
from galaxy_studio.settings import changed_settings_text

SNAPSHOT_DIR = "snapshots"
STATE_FORMAT = "galaxy-studio-distill-state"
_VALIDATION_EXPERT = 0
_MATCH_STREAM, _VALIDATION_STREAM = 0, 1


@dataclass(frozen=True)
class DistillResult:
    run_dir: str
    synthetic: str
    iterations: int
    resumed_from: int
    stopped_by: str
    stage: int
    lr: float
    final_loss: float
    seconds: float
    readability: dict[str, Any]
    prototypes: str


@dataclass
class _Run:
    """What changes while distilling; saved whole in every checkpoint."""

    images: torch.Tensor
    log_lr: torch.Tensor
    image_optimizer: torch.optim.SGD
    lr_optimizer: torch.optim.SGD
    schedule: Schedule
    iteration: int
    history: list[dict[str, Any]]


def snapshot_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"step_{step:06d}.npz"


def out_of_memory_advice(config: DistillConfig) -> str:
    """What to change after the GPU ran out of memory: memory grows with syn_steps x images in
    full mode; checkpointed recomputes, constant (TESLA) is flat in syn_steps."""
    fewer = max(1, config.syn_steps // 2)
    modes = [mode for mode in ("checkpointed", "constant") if mode != config.memory]
    return (
        f"The GPU ran out of memory (memory mode {config.memory}, {config.syn_steps} syn steps, "
        f"{counted(config.ipc, 'image')} per class). The run stopped cleanly; its last checkpoint is kept in "
        f"{config.out_dir}. Start again with memory mode {' or '.join(modes) or 'constant'}"
        f" (same result, less memory) or fewer syn steps (e.g. {fewer}); these change the recipe, "
        "so they start a new run."
    )


def distill(config: DistillConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> DistillResult:
    """Distil `config.buffer` into `config.ipc` images per class in `config.out_dir`,
    resuming from the folder's checkpoint when it holds one of the same recipe. Running out of
    GPU memory is a ModelError that says which settings to change."""
    try:
        return _distill(config, emit, cancel)
    except torch.OutOfMemoryError:
        pass
    # Raised here, outside the handler and without a cause: the out-of-memory error's traceback
    # holds the frames of the unroll and with them its graph, gigabytes that a retry in a
    # cheaper memory mode in the same process (the GUI's) would otherwise find still taken.
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    raise ModelError(out_of_memory_advice(config))


def _distill(config: DistillConfig, emit: EventSink, cancel: CancelToken) -> DistillResult:
    with cores_shared(resolve_device(config.device)):
        return _distill_here(config, emit, cancel)


def _distill_here(config: DistillConfig, emit: EventSink, cancel: CancelToken) -> DistillResult:
    started = time.perf_counter()
    device = resolve_device(config.device)
    run_dir = Path(config.out_dir)
    require_output_folder(run_dir)
    buffer = open_buffer(config.buffer)
    if config.method == "mtt" and config.expert_epochs > buffer.last_epoch:
        raise ModelError(f"expert_epochs {config.expert_epochs} is more than the buffer's {buffer.last_epoch} epochs")
    if config.smooth > widest_blur(buffer.spec.size):
        raise ModelError(
            f"smoothing of {config.smooth:g} px reaches across the buffer's {buffer.spec.size} px images: "
            f"use at most {widest_blur(buffer.spec.size):.1f} px"
        )
    saved = _saved_state(config, run_dir, device)
    real = load_buffer_data(buffer, config.data, emit=emit, cancel=cancel)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(run_dir / CONFIG_FILE, config.to_dict())
    run = _new_run(config, buffer, real.train_images, real.train_labels, device)
    if saved is not None:
        run = _restored_run(config, saved, run)
    if saved is not None:
        emit(Warned(f"resuming {run_dir} after iteration {run.iteration}"))
    labels = torch.from_numpy(_labels(config, buffer)).to(device)
    net = model_from_spec(buffer.spec).to(device)
    watch = _ReadabilityWatch(real.train_images, real.zca, real.prep)
    bounds = PixelBounds(real.train_images, real.zca, real.prep, device) if config.clamp else None
    resumed_from = run.iteration
    unrolls = run_unrolls(config, net, labels, device, emit)
    if run.iteration == 0:
        _take_snapshot(run_dir, run, labels, real.prep, real.zca, watch, emit)
    while run.iteration < config.iterations and not run.schedule.done:
        cancel.raise_if_set()
        share_cores()
        _iterate(config, buffer, unrolls, run, labels, device, bounds, emit)
        if run.iteration % config.snapshot_every == 0:
            _take_snapshot(run_dir, run, labels, real.prep, real.zca, watch, emit)
        if run.iteration % config.checkpoint_every == 0:
            _save_state(config, run_dir, run)
    stopped_by = "schedule" if run.schedule.done else "iterations"
    _save_state(config, run_dir, run)
    if run.iteration % config.snapshot_every:
        _take_snapshot(run_dir, run, labels, real.prep, real.zca, watch, emit)
    lr = math.exp(float(run.log_lr.detach()))
    synthetic = SyntheticSet(
        run.images.detach().cpu().numpy(),
        _labels(config, buffer),
        buffer.classes,
        lr,
        config.to_dict(),
        real.prep,
        real.zca,
    )
    save_synthetic(run_dir / SYNTHETIC_FILE, synthetic)
    prototypes = export_run_pictures(synthetic, run_dir)
    final_loss = run.history[-1]["matching_loss"] if run.history else math.nan
    return DistillResult(
        str(run_dir),
        str(run_dir / SYNTHETIC_FILE),
        run.iteration,
        resumed_from,
        stopped_by,
        run.schedule.stage,
        lr,
        final_loss,
        time.perf_counter() - started,
        watch.pictures.measure(synthetic.images),
        str(prototypes),
    )


def _labels(config: DistillConfig, buffer: Buffer) -> np.ndarray:
    return np.repeat(np.arange(len(buffer.classes), dtype=np.int64), config.ipc)


def _new_run(
    config: DistillConfig, buffer: Buffer, train_images: np.ndarray, train_labels: np.ndarray, device: torch.device
) -> _Run:
    rng = np.random.default_rng([config.seed, 2**31])
    start, _ = initial_images(train_images, train_labels, len(buffer.classes), config.ipc, config.init, rng)
    images = torch.tensor(start, device=device, requires_grad=True)
    log_lr = torch.tensor(math.log(config.lr_teacher), dtype=torch.float32, device=device, requires_grad=True)
    return _Run(
        images,
        log_lr,
        torch.optim.SGD([images], lr=config.lr_img, momentum=config.momentum),
        torch.optim.SGD([log_lr], lr=config.lr_lr, momentum=config.momentum),
        new_schedule(config, buffer.last_epoch),
        0,
        [],
    )


def _iterate(
    config: DistillConfig,
    buffer: Buffer,
    unrolls: RunUnrolls,
    run: _Run,
    labels: torch.Tensor,
    device: torch.device,
    bounds: PixelBounds | None,
    emit: EventSink,
) -> None:
    rng = np.random.default_rng([config.seed, run.iteration])
    expert = int(rng.integers(len(buffer)))
    start_epoch = run.schedule.next_start_epoch(rng)
    start = _snapshot_tensor(buffer, expert, start_epoch, device)
    target = _snapshot_tensor(buffer, expert, start_epoch + run.schedule.expert_epochs, device)
    try:
        with cuda_precision(config.precision, device):
            outcome = unrolls.match(
                start,
                target,
                run.images.detach(),
                run.log_lr.detach(),
                seeded_generator(config.seed, _MATCH_STREAM, run.iteration),
            )
    except FloatingPointError as exc:
        raise ModelError(
            f"iteration {run.iteration + 1}: {exc}; the last checkpoint in {config.out_dir} is kept"
        ) from exc
    for group in run.image_optimizer.param_groups:
        group["lr"] = run.schedule.lr_img
    run.images.grad = blurred(outcome.image_grad.to(run.images.dtype), config.smooth)
    run.log_lr.grad = outcome.log_lr_grad.reshape(run.log_lr.shape).to(run.log_lr.dtype)
    run.image_optimizer.step()
    run.lr_optimizer.step()
    if bounds is not None:
        bounds.keep(run.images)
    validation = _validation_loss(config, buffer, unrolls, run, device)
    change = run.schedule.observe(validation)
    run.iteration += 1
    lr = math.exp(float(run.log_lr.detach()))
    record = {
        "iteration": run.iteration,
        "expert": expert,
        "start_epoch": start_epoch,
        "matching_loss": outcome.loss,
        "validation_loss": validation,
        "lr": lr,
        "lr_img": run.schedule.lr_img,
        "stage": run.schedule.stage,
    }
    run.history.append(record)
    emit(MetricLogged("matching_loss", run.iteration, outcome.loss))
    if validation is not None:
        emit(MetricLogged("validation_loss", run.iteration, validation))
    emit(MetricLogged("lr", run.iteration, lr))
    finished = IterationFinished(run.iteration, config.iterations, run.schedule.stage, outcome.loss, validation, lr)
    emit(Progressed(run.iteration, config.iterations, finished.summary))
    emit(finished)
    if change is not None:
        emit(StageAdvanced(change.stage, change.reason))


def _validation_loss(
    config: DistillConfig, buffer: Buffer, unrolls: RunUnrolls, run: _Run, device: torch.device
) -> float | None:
    segment = run.schedule.validation_start
    if segment is None:
        return None
    start = _snapshot_tensor(buffer, _VALIDATION_EXPERT, segment, device)
    target = _snapshot_tensor(buffer, _VALIDATION_EXPERT, segment + 1, device)
    try:
        with cuda_precision(config.precision, device):
            return unrolls.loss(
                start,
                target,
                run.images.detach(),
                run.log_lr.detach(),
                seeded_generator(config.seed, _VALIDATION_STREAM, segment),
            )
    except FloatingPointError as exc:
        raise ModelError(f"iteration {run.iteration + 1}, validation: {exc}") from exc


def _snapshot_tensor(buffer: Buffer, expert: int, epoch: int, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(buffer.snapshot(expert, epoch)).to(device)


class _ReadabilityWatch:
    """Measures the prototypes at every snapshot (for the panel's live readout) and warns once
    when they stop looking like the real images."""

    def __init__(self, real: np.ndarray, zca: ZcaWhitening | None, prep: Preprocessing) -> None:
        self.pictures = PictureReadability(real, zca, prep)
        self.warned = False

    def observe(self, images: np.ndarray, iteration: int, emit: EventSink) -> None:
        measures = self.pictures.measure(images)
        emit(MetricLogged("outside_fraction", iteration, measures["outside_fraction"]))
        emit(MetricLogged("std_ratio", iteration, measures["std_ratio"]))
        emit(MetricLogged("colour_outside_fraction", iteration, measures["colour_outside_fraction"]))
        if not measures["readable"] and not self.warned:
            self.warned = True
            emit(
                Warned(
                    f"iteration {iteration}: the prototypes are turning to noise "
                    f"({100 * measures['outside_fraction']:.1f}% of pixels beyond the real images' range, "
                    f"spread {measures['std_ratio']:.1f}x theirs, {100 * measures['colour_outside_fraction']:.1f}% "
                    "in colours no real pixel has); a lower image lr keeps them pictures"
                )
            )


def _take_snapshot(
    run_dir: Path,
    run: _Run,
    labels: torch.Tensor,
    prep: Preprocessing,
    zca: ZcaWhitening | None,
    watch: _ReadabilityWatch,
    emit: EventSink,
) -> None:
    images = run.images.detach().cpu().numpy()
    watch.observe(images, run.iteration, emit)
    pictures = display_images(images, prep, zca)
    label_array = labels.cpu().numpy().copy()
    path = snapshot_path(run_dir, run.iteration)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(
        path,
        lambda stream: np.savez_compressed(stream, images=pictures, labels=label_array, step=np.array(run.iteration)),
    )
    emit(SnapshotTaken(run.iteration, pictures, label_array))


def _save_state(config: DistillConfig, run_dir: Path, run: _Run) -> None:
    save_run_state(run_dir, _state_payload(config, run), run.history)


def _state_payload(config: DistillConfig, run: _Run) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "recipe": config.recipe(),
        "iteration": run.iteration,
        "images": run.images.detach().cpu(),
        "log_lr": run.log_lr.detach().cpu(),
        "image_optimizer": run.image_optimizer.state_dict(),
        "lr_optimizer": run.lr_optimizer.state_dict(),
        "schedule": json.dumps(run.schedule.state()),
        "history": json.dumps(run.history),
    }


def _saved_state(config: DistillConfig, run_dir: Path, device: torch.device) -> dict[str, Any] | None:
    saved = load_run_state(run_dir, device, STATE_FORMAT, "distillation checkpoint", "a distillation checkpoint")
    if saved is None:
        return None
    recorded = with_absolute_paths({**FIELDS_BEFORE_THEY_EXISTED, **saved.get("recipe", {})}, ("buffer", "data"))
    if recorded != config.recipe():
        raise ModelError(
            f"{run_dir} holds a distillation of another recipe ({changed_settings_text(recorded, config.recipe())})",
            "run it with that config to resume, or choose another {out_dir} folder",
        )
    return saved


def _restored_run(config: DistillConfig, saved: dict[str, Any], fresh: _Run) -> _Run:
    """The saved run, once every field has been checked against the new run `fresh` of the same
    recipe and buffer: a damaged or doctored state is refused naming its field."""
    path = Path(config.out_dir) / STATE_FILE
    check_state_like(path, saved, _state_payload(config, fresh), hint=DAMAGED_STATE_HINT)
    device = fresh.images.device
    images = saved["images"].to(device).clone().requires_grad_(True)
    log_lr = saved["log_lr"].to(device).clone().requires_grad_(True)
    image_optimizer = torch.optim.SGD([images], lr=config.lr_img, momentum=config.momentum)
    lr_optimizer = torch.optim.SGD([log_lr], lr=config.lr_lr, momentum=config.momentum)
    try:
        image_optimizer.load_state_dict(saved["image_optimizer"])
        lr_optimizer.load_state_dict(saved["lr_optimizer"])
        schedule = restore_schedule(config, json.loads(saved["schedule"]))
        history = json.loads(saved["history"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})", DAMAGED_STATE_HINT) from None
    return _Run(images, log_lr, image_optimizer, lr_optimizer, schedule, int(saved["iteration"]), history)
