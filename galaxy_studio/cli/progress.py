"""Event sinks that print a job's progress on stderr, keeping stdout for results.

Bars are tqdm's (galaxy_studio/progress_bars.py): redrawn on a terminal, plain lines in a log.
With `--quiet` a command prints no bars and no per-epoch lines; warnings and notes, which say
something about the result, still come out.
"""

from __future__ import annotations

import argparse
from typing import Any

from galaxy_studio.cli.errors import PROG
from galaxy_studio.count_text import counted
from galaxy_studio.events import (
    BufferPlanned,
    EpochEnded,
    Event,
    LeftOut,
    MetricLogged,
    Noted,
    Progressed,
    StageAdvanced,
    Warned,
)
from galaxy_studio.progress_bars import ProgressBars


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars or per-epoch lines on stderr (warnings and errors are still printed)",
    )


class ProgressPrinter:
    """Progress bars on stderr, plus every warning and note; a context manager that closes the
    bars a job left unfinished before the command prints its result or its error."""

    def __init__(
        self, stream: Any = None, *, quiet: bool = False, drawn: bool | None = None, left_out_at_end: bool = False
    ) -> None:
        self.bars = ProgressBars(stream, drawn=drawn)
        self.quiet = quiet
        self.left_out_at_end = left_out_at_end

    def __call__(self, event: Event) -> None:
        if isinstance(event, LeftOut) and self.left_out_at_end:
            return
        if isinstance(event, Warned):
            self.bars.write(f"{PROG}: warning: {event.text}")
        elif isinstance(event, Noted):
            self.bars.write(f"{PROG}: {event.text}")
        elif not self.quiet:
            self.report(event)

    def report(self, event: Event) -> None:
        """What a job tells besides warnings and notes; silent with --quiet."""
        self.bars(event)

    def close(self) -> None:
        self.bars.close()

    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TrainingPrinter(ProgressPrinter):
    """Progress bars, plus one line per finished epoch."""

    def report(self, event: Event) -> None:
        if isinstance(event, EpochEnded):
            self.bars.write(
                f"epoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.4f} acc {event.train_acc:.3f}"
                f"  val loss {event.val_loss:.4f} acc {event.val_acc:.3f}  {event.seconds:.1f} s"
            )
        super().report(event)


class CrossValidationPrinter(TrainingPrinter):
    """Training output, plus a line per finished fold (model/cross_validation.py reports the folds
    as Progressed events whose `what` is "folds"; they drive the outermost bar)."""

    def report(self, event: Event) -> None:
        if isinstance(event, Progressed) and event.what == "folds" and event.done:
            self.bars.write(f"cross-validation: {event.done}/{event.total} folds done")
        super().report(event)


class DistillPrinter(TrainingPrinter):
    """Training output plus the buffer's planned size, experts' accuracies and stage changes."""

    def report(self, event: Event) -> None:
        if isinstance(event, BufferPlanned):
            self.bars.write(
                f"buffer: {counted(event.experts, 'expert')} x {counted(event.epochs + 1, 'snapshot')} x "
                f"{event.parameters:,} parameters = {event.bytes / 1e6:.1f} MB on disk"
            )
        elif isinstance(event, MetricLogged) and event.name == "expert_test_accuracy":
            self.bars.write(f"expert {event.step + 1}: test accuracy {event.value:.4f}")
        elif isinstance(event, StageAdvanced):
            self.bars.write(f"stage {event.stage}: {event.reason}")
        super().report(event)


class UnsupervisedPrinter(TrainingPrinter):
    """Progress bars plus one line per finished epoch of either phase."""

    def __init__(self, stream: Any = None, *, quiet: bool = False, drawn: bool | None = None) -> None:
        super().__init__(stream, quiet=quiet, drawn=drawn)
        self._joint: str | None = None

    def report(self, event: Event) -> None:
        if isinstance(event, MetricLogged) and event.name == "pretrain_val_mse":
            self.bars.write(f"pretraining epoch {event.step}: validation MSE {event.value:.5f}")
        elif isinstance(event, MetricLogged) and event.name == "val_accuracy":
            self._joint = f"joint epoch {event.step}: encoder+head validation accuracy {event.value:.4f}"
        elif isinstance(event, MetricLogged) and event.name == "homogeneity" and self._joint is not None:
            self.bars.write(f"{self._joint}, synthetic mean pairwise distance {event.value:.3f}")
            self._joint = None
        super().report(event)
