"""Event sinks that print a job's progress on stderr, keeping stdout for results."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from galaxy_studio.cli.errors import PROG
from galaxy_studio.eta import Eta
from galaxy_studio.events import (
    BufferPlanned,
    EpochEnded,
    Event,
    MetricLogged,
    Noted,
    Progressed,
    StageAdvanced,
    Warned,
)


class ProgressPrinter:
    """Event sink that draws a one-line progress bar on stderr, with the time spent and an
    estimate of the time left, redrawn at most `redraws_per_second` times (and at the end)."""

    def __init__(self, stream: Any = None, width: int = 30, redraws_per_second: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = 1.0 / redraws_per_second
        self._eta = Eta()
        self._drawn = -math.inf

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Progressed) or event.total <= 0:
            return
        now = time.monotonic()
        timing = self._eta.describe(event, now)
        finished = event.done >= event.total
        if not finished and now - self._drawn < self.interval:
            return
        self._drawn = -math.inf if finished else now
        filled = int(self.width * event.done / event.total)
        bar = "#" * filled + "-" * (self.width - filled)
        # On a terminal, erase what a longer previous line left behind.
        erase = "\x1b[K" if getattr(self.stream, "isatty", lambda: False)() else ""
        end = "\n" if finished else ""
        self.stream.write(f"\r{event.what} [{bar}] {event.done}/{event.total} {timing}{erase}{end}")
        self.stream.flush()


class NotingPrinter(ProgressPrinter):
    """Progress bars, plus every note: what the job decided in the user's stead (classify
    skipping test-time views a network takes itself). Warnings are left to the command,
    which reports the inputs that failed once, at the end."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, Noted):
            self.stream.write(f"{PROG}: {event.text}\n")
            self.stream.flush()
        else:
            super().__call__(event)


class TrainingPrinter(ProgressPrinter):
    """Progress bars, plus one line per finished epoch and every warning, all on stderr."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpochEnded):
            self.stream.write(
                f"\repoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.4f} acc {event.train_acc:.3f}"
                f"  val loss {event.val_loss:.4f} acc {event.val_acc:.3f}  {event.seconds:.1f} s\n"
            )
            self.stream.flush()
        elif isinstance(event, Warned):
            self.stream.write(f"{PROG}: warning: {event.text}\n")
            self.stream.flush()
        elif isinstance(event, Noted):
            self.stream.write(f"{PROG}: {event.text}\n")
            self.stream.flush()
        elif not (isinstance(event, Progressed) and event.what.startswith("epoch") and event.done >= event.total):
            super().__call__(event)


class CrossValidationPrinter(TrainingPrinter):
    """Training output, plus a line per finished fold with the time the remaining folds will take.

    The folds are timed apart from the epochs and steps whose bars they span (model/cross_validation.py
    reports them as Progressed events whose `what` is "folds")."""

    def __init__(self, stream: Any = None, width: int = 30, redraws_per_second: float = 10.0) -> None:
        super().__init__(stream, width, redraws_per_second)
        self._folds = Eta()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progressed) and event.what == "folds":
            timing = self._folds.describe(event)
            if event.done:
                self.stream.write(f"\rcross-validation: {event.done}/{event.total} folds done, {timing}\n")
                self.stream.flush()
        else:
            super().__call__(event)


class DistillPrinter(TrainingPrinter):
    """Training output plus the buffer's planned size, experts' accuracies and stage changes."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, BufferPlanned):
            self.stream.write(
                f"buffer: {event.experts} expert(s) x {event.epochs + 1} snapshots x {event.parameters:,} "
                f"parameters = {event.bytes / 1e6:.1f} MB on disk\n"
            )
        elif isinstance(event, MetricLogged) and event.name == "expert_test_accuracy":
            self.stream.write(f"\rexpert {event.step + 1}: test accuracy {event.value:.4f}\n")
        elif isinstance(event, StageAdvanced):
            self.stream.write(f"\rstage {event.stage}: {event.reason}\n")
        else:
            super().__call__(event)
            return
        self.stream.flush()


class UnsupervisedPrinter(TrainingPrinter):
    """Progress bars plus one line per finished epoch of either phase."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, MetricLogged) and event.name == "pretrain_val_mse":
            self.stream.write(f"\rpretraining epoch {event.step}: validation MSE {event.value:.5f}\n")
        elif isinstance(event, MetricLogged) and event.name == "val_accuracy":
            self.stream.write(f"\rjoint epoch {event.step}: encoder+head validation accuracy {event.value:.4f}")
        elif isinstance(event, MetricLogged) and event.name == "homogeneity":
            self.stream.write(f", synthetic mean pairwise distance {event.value:.3f}\n")
        else:
            super().__call__(event)
            return
        self.stream.flush()
