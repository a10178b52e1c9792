"""The training recipe as a plain, JSON-serialisable record.

Kept free of torch and image libraries so that the CLI can show the defaults in
`galaxy-studio train --help` and the GUI can build its form without paying for imports.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

ARCHITECTURE_NAMES: tuple[str, ...] = ("galaxy-cnn", "vgg11", "convnet-d3", "resnet18")
CHANNEL_MODES: tuple[str, ...] = ("display", "bands")
BALANCE_MODES: tuple[str, ...] = ("loss", "sampler", "none")
PRETRAINED_MODES: tuple[str, ...] = ("deep", "shallow")
DEVICES: tuple[str, ...] = ("auto", "cuda", "mps", "cpu")
EXPLANATION_METHODS: tuple[str, ...] = ("saliency", "smoothgrad", "ig", "gradcam", "occlusion")
EXPLANATION_TITLES: dict[str, str] = {
    "saliency": "Saliency", "smoothgrad": "SmoothGrad", "ig": "Integrated Gradients",
    "gradcam": "Grad-CAM", "occlusion": "Occlusion",
}
COLOUR_MAPS: tuple[str, ...] = ("inferno", "viridis", "magma", "turbo", "hot", "gray")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
# Settings that change where or how fast a run goes, not what it computes; a run may be
# resumed under other values of these.
_NOT_RECIPE = ("out_dir", "device", "threads", "amp")


@dataclass(frozen=True)
class TrainConfig:
    """A training run. The optimiser settings are the seed paper's (AdamW, cosine 5e-4 -> 1e-6,
    batch 64). With a thousand images an epoch is only 15 steps, so at that learning rate the
    validation loss still falls after 60 epochs: hence 100 epochs, stopped by `patience`
    epochs without a lower validation loss (None: never). The central half of a cutout holds
    the galaxy in survey stamps. `balance` counters unequal classes by weighting the loss or
    by resampling; `threads` decode images (None: up to 8, as many as there are cores).
    `ema` validates and keeps an exponential moving average of the weights (decay per step;
    None: the trained weights): on gz-spiral it scored 1.0-1.9 points higher on each of three
    seeded splits, because the last steps' noise averages out of a net this small. `amp` trains
    in mixed precision on a CUDA GPU (bfloat16 where supported, else float16 with loss scaling);
    like the device it is not part of the recipe, and the CPU ignores it. Off by default: on an
    H200 it made no network faster at 64-128 px (0.84-1.01x, docs/gpu-results.md)."""

    data: str
    out_dir: str
    arch: str = "galaxy-cnn"
    size: int = 64
    epochs: int = 100
    batch_size: int = 64
    lr: float = 5e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    patience: int | None = 20
    augment: bool = True
    crop_fraction: float = 0.5
    channels: str = "display"
    bands: tuple[str, ...] | None = None
    width: int | None = None
    pretrained: str | None = None
    weights_path: str | None = None
    balance: str = "loss"
    ema: float | None = 0.99
    split: tuple[float, float, float] = DEFAULT_FRACTIONS
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    amp: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["split"] = list(self.split)
        data["bands"] = None if self.bands is None else list(self.bands)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        fields = dict(data)
        fields["split"] = tuple(fields.get("split", DEFAULT_FRACTIONS))
        if fields.get("bands") is not None:
            fields["bands"] = tuple(fields["bands"])
        return cls(**fields)

    def recipe(self) -> dict[str, Any]:
        """What decides the result: two configs with equal recipes train the same model."""
        data = self.to_dict()
        for key in _NOT_RECIPE:
            data.pop(key)
        data["data"] = os.path.abspath(self.data)
        if self.weights_path is not None:
            data["weights_path"] = os.path.abspath(self.weights_path)
        return data
