"""The Distill tab's device line: where a distillation will run, and once two iterations were
timed (Estimate), what one costs there and what the whole run will take at most."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QLabel, QWidget

from galaxy_studio.count_text import counted
from galaxy_studio.distill.config import DistillConfig
from galaxy_studio.eta import format_duration


@dataclass(frozen=True)
class IterationEstimate:
    """Two timed iterations: the settings timed, the device they ran on and the seconds one took."""

    config: DistillConfig
    device: str
    seconds: float


def timing_key(config: DistillConfig) -> tuple[object, ...]:
    """The settings that decide what one distillation iteration costs."""
    return (config.device, config.buffer, config.method, config.ipc, config.syn_steps, config.memory, config.precision)


class DeviceNote(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Device: auto picks a CUDA or Apple GPU when there is one, else the CPU.", parent)
        self.setWordWrap(True)
        self.setStyleSheet("color: #b8bcc6;")
        self._measured: IterationEstimate | None = None

    @property
    def measured_config(self) -> DistillConfig | None:
        """The settings the last estimate timed, while the form still holds them."""
        return self._measured.config if self._measured is not None else None

    def remember(self, estimate: IterationEstimate) -> None:
        self._measured = estimate

    def follow_settings(self, config: DistillConfig) -> None:
        """Keep the measured pace true to the form: the total follows Iterations, and a change
        to what an iteration costs (device, buffer, method, IPC, syn steps, memory mode) drops
        the measurement instead of quoting it for settings it was not measured with."""
        if self._measured is None:
            return
        if timing_key(self._measured.config) != timing_key(config):
            self._measured = None
            self.show_device(config.device)
            return
        self.show_device(config.device, self._measured.seconds, config.iterations)

    def show_device(self, device: str, seconds: float | None = None, iterations: int | None = None) -> None:
        import torch

        gpu = torch.cuda.is_available() or torch.backends.mps.is_available()
        if device == "cpu" or (device == "auto" and not gpu):
            text = (
                "No GPU: distillation runs on the CPU, one to two orders of magnitude slower than on a GPU."
                if not gpu
                else "Runs on the CPU as chosen."
            )
        else:
            text = f"Runs on {'CUDA' if torch.cuda.is_available() else 'Apple MPS'}."
        if seconds is not None:
            text += f" About {seconds:.2f} s per iteration measured"
            text += (
                f"; {counted(iterations, 'iteration')} ≈ {format_duration(seconds * iterations)} at most."
                if iterations
                else "."
            )
        elif device in ("cpu", "auto") and not gpu:
            text += " Press Estimate to time an iteration, or watch the pace once it runs."
        self.setText(text)
