"""Which part of the expert trajectories to match next: MTT's fixed window and STM's adaptive cap.

Both are pure state machines over numbers (no torch), so that their rules can be tested on
scripted validation-loss sequences and their state saved as JSON in a checkpoint. The runner
asks `next_start_epoch` before an iteration, and reports the iteration through `observe`
(with STM's validation loss, or None); `observe` returns a `StageChange` when the schedule
moved on, with the reason in words.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from galaxy_studio.distill.config import DistillConfig

PHASE_MATCHING = "matching"
PHASE_FINETUNING = "fine-tuning"
PHASE_STOPPED = "stopped"


@dataclass(frozen=True)
class StageChange:
    stage: int
    reason: str


def pearson_with_time(values: list[float]) -> float:
    """Pearson correlation of `values` with 0, 1, ..., n-1; 0 for a constant sequence."""
    y = np.asarray(values, dtype=np.float64)
    x = np.arange(len(y), dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denominator if denominator > 0 else 0.0


@dataclass
class MttSchedule:
    """MTT: start epochs uniform in [0, max_start_epoch), target `expert_epochs` later, both
    kept inside the buffer (start <= last_epoch - expert_epochs)."""

    max_start_epoch: int
    expert_epochs: int
    last_epoch: int
    lr_img: float
    iteration: int = 0

    def __post_init__(self) -> None:
        if self.expert_epochs > self.last_epoch:
            raise ValueError(f"cannot match {self.expert_epochs} epochs in a buffer of {self.last_epoch} epochs")

    @property
    def stage(self) -> int:
        return self.start_limit

    @property
    def start_limit(self) -> int:
        return min(self.max_start_epoch, self.last_epoch - self.expert_epochs + 1)

    @property
    def phase(self) -> str:
        return PHASE_MATCHING

    @property
    def validation_start(self) -> int | None:
        return None

    @property
    def done(self) -> bool:
        return False

    def next_start_epoch(self, rng: np.random.Generator) -> int:
        return int(rng.integers(0, self.start_limit))

    def observe(self, validation_loss: float | None) -> StageChange | None:
        self.iteration += 1
        return None

    def state(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StmSchedule:
    """STM (Guan et al. 2023): a cap c on the start epoch, starting at 1, that grows when the
    validation loss on the not-yet-matched segment c -> c+1 trends significantly.

    `history` holds that loss since the last change. Whenever it holds a multiple of
    `window` values, r = Pearson(history, time) and se = sqrt(1 / (n - 2)): r < -falling_se*se
    (still falling: the images can take more of the trajectory) or r > rising_se*se (rising)
    advances c, up to the buffer's last epoch. A stage of `max_stage` iterations without an
    advance starts fine-tuning: no more validation, lr_img x `decay` every `finetune_every`
    iterations, and the run stops once lr_img < `min_lr_img`.
    """

    last_epoch: int
    lr_img: float
    window: int = 10
    falling_se: float = 5.0
    rising_se: float = 3.0
    max_stage: int = 1000
    finetune_every: int = 50
    decay: float = 0.8
    min_lr_img: float = 50.0
    cap: int = 1
    phase: str = PHASE_MATCHING
    stage_iterations: int = 0
    finetune_iterations: int = 0
    iteration: int = 0
    history: list[float] = field(default_factory=list)

    expert_epochs = 1

    @property
    def stage(self) -> int:
        return self.cap

    @property
    def validation_start(self) -> int | None:
        """Start of the segment to validate on, or None when there is nothing to measure:
        fine-tuning, or the cap already at the last epoch (no segment beyond it)."""
        if self.phase != PHASE_MATCHING or self.cap >= self.last_epoch:
            return None
        return self.cap

    @property
    def done(self) -> bool:
        return self.phase == PHASE_STOPPED

    def next_start_epoch(self, rng: np.random.Generator) -> int:
        return int(rng.integers(0, self.cap))

    def observe(self, validation_loss: float | None) -> StageChange | None:
        self.iteration += 1
        if self.phase == PHASE_FINETUNING:
            return self._finetune_step()
        self.stage_iterations += 1
        if validation_loss is not None and self.validation_start is not None:
            self.history.append(float(validation_loss))
            change = self._trend_test()
            if change is not None:
                return change
        if self.stage_iterations >= self.max_stage:
            self.phase = PHASE_FINETUNING
            self.history = []
            return StageChange(self.cap, f"stage lasted {self.stage_iterations} iterations: fine-tuning")
        return None

    def _trend_test(self) -> StageChange | None:
        n = len(self.history)
        if n < self.window or n % self.window:
            return None
        r = pearson_with_time(self.history)
        se = math.sqrt(1.0 / (n - 2))
        if r < -self.falling_se * se:
            reason = f"validation loss still falling (r={r:.2f} < -{self.falling_se:g}se={-self.falling_se * se:.2f})"
        elif r > self.rising_se * se:
            reason = f"validation loss rising (r={r:.2f} > {self.rising_se:g}se={self.rising_se * se:.2f})"
        else:
            return None
        self.cap = min(self.cap + 1, self.last_epoch)
        self.history = []
        self.stage_iterations = 0
        if self.cap >= self.last_epoch:
            reason += f"; cap reached the buffer's last epoch {self.last_epoch}"
        return StageChange(self.cap, reason)

    def _finetune_step(self) -> StageChange | None:
        self.finetune_iterations += 1
        if self.finetune_iterations % self.finetune_every:
            return None
        self.lr_img *= self.decay
        if self.lr_img < self.min_lr_img:
            self.phase = PHASE_STOPPED
            return StageChange(self.cap, f"lr_img {self.lr_img:.3g} below {self.min_lr_img:g}: stop")
        return None

    def state(self) -> dict[str, Any]:
        return asdict(self)


Schedule = MttSchedule | StmSchedule


def new_schedule(config: DistillConfig, last_epoch: int) -> Schedule:
    """The schedule `config` asks for, over a buffer whose snapshots run from 0 to `last_epoch`."""
    if config.method == "mtt":
        return MttSchedule(config.max_start_epoch, config.expert_epochs, last_epoch, config.lr_img)
    return StmSchedule(
        last_epoch,
        config.lr_img,
        window=config.pearson_window,
        falling_se=config.falling_se,
        rising_se=config.rising_se,
        max_stage=config.max_stage,
        finetune_every=config.finetune_every,
        decay=config.finetune_decay,
        min_lr_img=config.stop_lr_img,
    )


def restore_schedule(config: DistillConfig, state: dict[str, Any]) -> Schedule:
    """A schedule from `state()` (a checkpoint), of the kind `config` names."""
    if config.method == "mtt":
        return MttSchedule(**state)
    return StmSchedule(**state)
