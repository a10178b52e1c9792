"""The job protocol shared by the CLI, the tests and the GUI.

Long-running core functions take an `emit` sink and a `CancelToken`; they never know who is
listening. Events are small frozen dataclasses named in the past tense.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Cancelled(Exception):
    """Raised by a job that stopped because its CancelToken was set."""


@dataclass(frozen=True)
class Progressed:
    done: int
    total: int
    what: str = ""


@dataclass(frozen=True)
class MetricLogged:
    name: str
    step: int
    value: float


@dataclass(frozen=True)
class EpochEnded:
    """One training epoch's summary; losses and accuracies are NaN when a split is empty."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    train_acc: float
    val_acc: float
    seconds: float


@dataclass(frozen=True)
class Warned:
    text: str


@dataclass(frozen=True)
class LeftOut(Warned):
    """An input a job could not use and went on without; the job's result lists it too, so a
    client that reports the result's failures need not show this warning again."""


@dataclass(frozen=True)
class Noted:
    """A choice a job made from the data on its own: not a problem, but the user should know."""

    text: str


@dataclass(frozen=True)
class StageAdvanced:
    """A distillation schedule moved on (STM's cap grew, fine-tuning began, or it stopped);
    `reason` says why in words a user can check against the validation-loss curve."""

    stage: int
    reason: str


@dataclass(frozen=True)
class IterationFinished:
    """One distillation iteration done, as numbers a panel shows without reading them back
    out of progress text; `validation_loss` is None while the schedule validates nothing."""

    iteration: int
    iterations: int
    stage: int
    matching_loss: float
    validation_loss: float | None
    lr: float

    @property
    def summary(self) -> str:
        """The iteration's line after its count: `stage 1 loss 0.1234 lr 1.00e-02`."""
        return f"stage {self.stage} loss {self.matching_loss:.4f} lr {self.lr:.2e}"


@dataclass(frozen=True)
class SnapshotTaken:
    """The synthetic images at one iteration, ready to show: a detached (N, H, W, 3) uint8
    copy with ZCA and normalisation undone, and each image's class index."""

    step: int
    images_uint8_nhwc: Any = field(repr=False)
    labels: Any = field(repr=False)


@dataclass(frozen=True)
class BufferPlanned:
    """Told before any expert trains, so that a user sees the disk space a buffer will take."""

    experts: int
    epochs: int
    parameters: int
    bytes: int


Event = Any
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: nobody is listening."""


class CancelToken:
    """Thread-safe flag a job polls at every batch or iteration boundary."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class _NeverCancelled(CancelToken):
    def set(self) -> None:
        raise RuntimeError("NEVER cannot be cancelled; pass a CancelToken of your own")


NEVER: CancelToken = _NeverCancelled()
