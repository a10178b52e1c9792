"""How long a training run will take, and how long the rest of a running one will.

An epoch is more than its forward and backward passes: each batch is resampled (rotated and
flipped) first, the averaged weights get their batch-norm statistics from one more pass, and
validation follows; before the first epoch every image is decoded once. The estimate times
each of these on a sample of the real data and scales it to the whole run; once epochs run,
their measured durations take over.

Torch-free, so that the GUI can format an estimate without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from galaxy_studio.eta import format_duration


@dataclass(frozen=True)
class TrainingTimeEstimate:
    """Seconds a run of `epochs` epochs will take on `device`: `once_seconds` once (reading
    every image, and testing at the end), then `epoch_seconds` per epoch (training steps with
    their resampling, the weight average's batch-norm pass, validation). `measured` says what
    was timed, so that a reader can judge how far to trust it. With `patience` the run may stop
    early, so the time is a most, and the text says so."""

    epoch_seconds: float
    once_seconds: float
    epochs: int
    device: str
    measured: str
    patience: int | None = None

    @property
    def total_seconds(self) -> float:
        return self.once_seconds + self.epochs * self.epoch_seconds

    def text(self) -> str:
        """'About 31 s per epoch on CPU, 2 threads: 15 min 52 s for 30 epochs, reading the images
        and testing (22 s) included.' The total holds the one-off part, so it is said inside it,
        not added after it."""
        return (
            f"About {format_duration(self.epoch_seconds)} per epoch on {self.device}: "
            f"{format_duration(self.total_seconds)} for {self.epochs} epoch{'s' * (self.epochs != 1)}, "
            f"reading the images and testing ({format_duration(self.once_seconds)}) included"
            + (
                f"; less if {self.patience} epochs in a row bring no better validation loss."
                if self.patience is not None and self.patience < self.epochs
                else "."
            )
        )


def seconds_left(epoch_seconds: Sequence[float], epochs_left: int) -> float:
    """The rest of a run from its measured epochs: their mean times the epochs still to run
    (a mean, not the last epoch, so that one slow epoch does not swing the readout)."""
    if not epoch_seconds:
        raise ValueError("no epoch measured yet")
    return sum(epoch_seconds) / len(epoch_seconds) * max(epochs_left, 0)
