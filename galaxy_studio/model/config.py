"""The training recipe as a plain, JSON-serialisable record.

Kept free of torch and image libraries so that the CLI can show the defaults in
`galaxy-studio train --help` and the GUI can build its form without paying for imports.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from galaxy_studio.model.errors import ModelError
from galaxy_studio.settings import check_ranges, registered, setting

ARCHITECTURE_NAMES: tuple[str, ...] = (
    "galaxy-cnn",
    "galaxy-cnn-d4",
    "vgg11",
    "convnet-d3",
    "resnet18",
    "convnext-tiny",
)
# The architectures that can start from a torchvision weights file (`pretrained`).
PRETRAINABLE_NAMES: tuple[str, ...] = ("vgg11", "resnet18", "convnext-tiny")
# What each network is, in a line (the Train panel shows it under the choice; torch-free).
ARCHITECTURE_SUMMARIES: dict[str, str] = {
    "galaxy-cnn": "The seed paper's net: average pooling first, 32 channels. Fast on a CPU; the default.",
    "galaxy-cnn-d4": "galaxy-cnn run on the 8 right-angle turns and mirrors of each image, averaged: the same "
    "answer however the image is turned. 8 channels; 2-3x galaxy-cnn's training time.",
    "vgg11": "VGG11 from scratch at a chosen width, or fine-tuned from a pretrained weights file.",
    "convnet-d3": "MTT's ConvNet-D3 (128 channels, instance norm): the network distillation needs.",
    "resnet18": "ResNet-18 with a small-image stem, from scratch or a pretrained weights file; slow on a CPU.",
    "convnext-tiny": "ConvNeXt-Tiny with a small-image stem, from scratch or a pretrained weights file; "
    "2-2.5x resnet18's time per image.",
}
# Networks whose output does not change when the input is turned by right angles or mirrored
# (model/dihedral.py): turning their training images so is a no-op, and so is test-time augmentation.
TURN_INVARIANT_ARCHITECTURES: tuple[str, ...] = ("galaxy-cnn-d4",)
CHANNEL_MODES: tuple[str, ...] = ("display", "bands")
BALANCE_MODES: tuple[str, ...] = ("loss", "sampler", "none")
KEEP_RULES: tuple[str, ...] = ("loss", "balanced-accuracy")
ROTATION_MODES: tuple[str, ...] = ("auto", "any", "right-angles")
SURVEY_CHUNK_ITEMS = 4096
"""Inputs per chunk of a survey classification: a few minutes' work on a CPU, so an
interruption costs little, and few files (250 for a million inputs) for any file system."""

DEVICES: tuple[str, ...] = ("auto", "cuda", "mps", "cpu")
EXPLANATION_METHODS: tuple[str, ...] = ("saliency", "smoothgrad", "ig", "gradcam", "occlusion")
EXPLANATION_TITLES: dict[str, str] = {
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "ig": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "occlusion": "Occlusion",
}
COLOUR_MAPS: tuple[str, ...] = ("inferno", "viridis", "magma", "turbo", "hot", "gray")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
# Settings that change where or how fast a run goes, not what it computes; a run may be
# resumed under other values of these.
_NOT_RECIPE = ("out_dir", "device", "threads", "amp")


@registered
@dataclass(frozen=True)
class TrainConfig:
    """A training run. The optimiser settings are the seed paper's (AdamW, cosine 5e-4 -> 1e-6,
    batch 64). With a thousand images an epoch is only 15 steps, so at that learning rate the
    validation loss still falls after 60 epochs: hence 100 epochs, stopped by `patience`
    epochs in which neither the validation loss nor the kept score improved (None: never);
    `keep` says which epoch's weights are kept (see `training._track_best`). The crop (None: chosen from how far
    the training images' sources reach, `model/source_extent.py`) is the central half for
    survey stamps of optical galaxies and most of the stamp for radio lobes. `balance`
    counters unequal classes by weighting the loss or by resampling; `threads` decode images
    (None: up to 8, as many as there are cores).
    `ema` validates and keeps an exponential moving average of the weights (decay per step;
    None: the trained weights): on gz-spiral it scored 1.0-1.9 points higher on each of three
    seeded splits, because the last steps' noise averages out of a net this small. `amp` trains
    in mixed precision on a CUDA GPU (bfloat16 where supported, else float16 with loss scaling);
    like the device it is not part of the recipe, and the CPU ignores it. Off by default: on an
    H200 it made no network faster at 64-128 px (0.84-1.01x, docs/gpu-results.md).
    `fold` (i, k) makes the run fold i of k-fold cross-validation (model/cross_validation.py):
    its test part is the i-th of k stratified folds and the rest is split into train and
    validation in the ratio of `split`'s first two; None: `split`'s own test part.
    `weights_seed` (None: `seed`) seeds the initial weights, the augmentation and the order of
    the batches, `seed` then the split alone: the members of an ensemble share their split
    (and a cross-validation's folds) and differ in the rest."""

    data: str
    out_dir: str
    arch: str = setting(
        "galaxy-cnn",
        label="Architecture",
        choices=ARCHITECTURE_NAMES,
        help="network: galaxy-cnn is the seed paper's net (average pool first, 32 channels); galaxy-cnn-d4 runs it "
        "on the 8 right-angle turns and mirrors of each image and averages, so its answer does not depend on how the "
        "image is turned (8 channels, slower); convnet-d3 is MTT's net, needed for distillation; vgg11, resnet18 and "
        "convnext-tiny can start from a pretrained weights file",
    )
    size: int = setting(
        64,
        label="Image size",
        metavar="PX",
        widget_range=(16, 512),
        suffix=" px",
        help="input size in pixels: images are centre-cropped and resized to it",
    )
    epochs: int = setting(
        100,
        label="Epochs",
        range=(1, None),
        widget_range=(1, 1000),
        help="at most this many epochs (early stopping may end sooner)",
    )
    batch_size: int = setting(64, label="Batch size", range=(1, None), widget_range=(1, 4096), help="images per step")
    lr: float = setting(
        5e-4,
        label="Learning rate",
        widget_range=(1e-6, 1.0),
        decimals=6,
        help="AdamW learning rate, annealed by a cosine",
    )
    min_lr: float = setting(1e-6, label="Final learning rate", help="final learning rate")
    weight_decay: float = setting(
        0.05, label="Weight decay", range=(0.0, None), widget_range=(0.0, 1.0), decimals=4, help="AdamW weight decay"
    )
    patience: int | None = setting(
        20,
        label="Patience",
        zero_means_none=True,
        widget_range=(0, 1000),
        help="stop after this many epochs without a lower validation loss; 0: never",
    )
    keep: str = setting(
        "loss",
        label="Keep the epoch with",
        choices=KEEP_RULES,
        help="which validation epoch's weights are kept: the lowest loss, or the highest balanced accuracy (lower "
        "loss breaking ties)",
    )
    augment: bool = setting(
        True,
        label="Augment",
        box_text="Rotations and flips",
        help="random rotations and flips: galaxies have no preferred orientation",
    )
    rotations: str = setting(
        "auto",
        label="Rotations",
        choices=ROTATION_MODES,
        help="with augment: turn by right angles and mirror (exact pixels), by any angle (resampled), or auto: "
        "right angles unless the images share an orientation (digits, pictures), then none",
    )
    crop_fraction: float | None = setting(
        None,
        label="Crop fraction",
        flag="--crop",
        metavar="FRACTION",
        range=(0.01, 1.0),
        widget_range=(0.0, 1.0),
        decimals=2,
        zero_means_none=True,
        special_text="auto",
        help="keep this central fraction of each cutout before resizing; 0 or auto (the default): chosen from how "
        "far the training images' sources reach",
    )
    channels: str = setting(
        "display",
        label="Channels",
        choices=CHANNEL_MODES,
        help="display: the colour image as the Library shows it; bands: the file's bands, sky-subtracted and "
        "asinh-scaled",
    )
    bands: tuple[str, ...] | None = setting(
        None, label="Bands", help="bands mode: band names to use, e.g. g,r,z (default: all)"
    )
    width: int | None = setting(
        None,
        label="Width",
        range=(1, None),
        help="channels per layer (default: galaxy-cnn 32, galaxy-cnn-d4 8, vgg11 32, convnet-d3 128; convnext-tiny: "
        "the first stage's, 96, doubling in each later stage)",
    )
    pretrained: str | None = setting(
        None,
        label="Pretrained weights",
        metavar="FILE",
        help="start from this torchvision state dict (.pth) of the same architecture: "
        + ", ".join(PRETRAINABLE_NAMES)
        + "; the first convolution is adapted to the data's channels and the last layer replaced. "
        "Nothing is downloaded",
    )
    backbone_lr_scale: float = setting(
        0.1,
        label="Backbone learning rate",
        metavar="SCALE",
        range=(0.0, 1.0),
        widget_range=(0.0, 1.0),
        decimals=3,
        suffix=" × lr",
        help="with a weights file to start from: the layers loaded from it learn at this fraction of the learning "
        "rate, the new or adapted ones at the full rate; 0 freezes them",
    )
    balance: str = setting(
        "loss",
        label="Class balance",
        choices=BALANCE_MODES,
        help="counter unequal classes by weighting the loss, by resampling, or not at all",
    )
    ema: float | None = setting(
        0.99,
        label="Weight average",
        metavar="DECAY",
        zero_means_none=True,
        widget_range=(0.0, 0.9999),
        decimals=4,
        help="validate and keep an exponential moving average of the weights with this decay per step (smoother, "
        "usually a little more accurate); 0: the trained weights",
    )
    split: tuple[float, float, float] = DEFAULT_FRACTIONS
    fold: tuple[int, int] | None = None
    weights_seed: int | None = None
    seed: int = setting(
        0,
        label="Seed",
        range=(0, None),
        widget_range=(0, 2**31 - 1),
        help="seed of the split, the initial weights and the augmentation",
    )
    device: str = setting("auto", label="Device", choices=DEVICES, help="auto: cuda, then mps, then cpu")
    threads: int | None = None
    amp: bool = setting(
        False,
        label="Mixed precision",
        help="mixed precision on a CUDA GPU: bfloat16 where the GPU has it, else float16 with loss "
        "scaling (default: float32; the CPU always uses float32)",
    )

    def __post_init__(self) -> None:
        """Refuse a config that cannot run, before any image is decoded."""
        anchor_paths(self, ("data", "out_dir", "pretrained"))
        if self.arch not in ARCHITECTURE_NAMES:
            raise ModelError(f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHITECTURE_NAMES)}")
        if self.channels not in CHANNEL_MODES:
            raise ModelError(f"channels must be one of {', '.join(CHANNEL_MODES)}, got {self.channels!r}")
        if self.balance not in BALANCE_MODES:
            raise ModelError(f"balance must be one of {', '.join(BALANCE_MODES)}, got {self.balance!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ModelError(f"epochs and batch size must be at least 1 (got {self.epochs}, {self.batch_size})")
        if not 0 < self.min_lr <= self.lr:
            raise ModelError(f"learning rates must satisfy 0 < min_lr <= lr (got {self.min_lr}, {self.lr})")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ModelError(f"the weight-average decay must lie between 0 and 1 (got {self.ema})")
        if self.pretrained is not None and self.arch not in PRETRAINABLE_NAMES:
            raise ModelError(
                f"{self.arch} cannot start from a weights file; {', '.join(PRETRAINABLE_NAMES)} can",
                "choose one of those as {arch}, or train from scratch (no {pretrained})",
            )
        if self.fold is not None and (len(self.fold) != 2 or self.fold[1] < 2 or not 1 <= self.fold[0] <= self.fold[1]):
            raise ModelError(f"fold must be (i, k): fold i of k >= 2, 1 <= i <= k; got {self.fold}")
        if self.weights_seed is not None and self.weights_seed < 0:
            raise ModelError(f"the weights' seed must be at least 0 (got {self.weights_seed})")
        check_ranges(self)

    @property
    def training_seed(self) -> int:
        """The seed of the initial weights, the augmentation and the batch order."""
        return self.seed if self.weights_seed is None else self.weights_seed

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["split"] = list(self.split)
        # Only a fold's run records its fold, and only an ensemble member its weights' seed:
        # other runs' records (and recipes, which a resumed run must match) stay those of
        # versions without them.
        if self.fold is None:
            data.pop("fold")
        else:
            data["fold"] = list(self.fold)
        if self.weights_seed is None:
            data.pop("weights_seed")
        data["bands"] = None if self.bands is None else list(self.bands)
        # As for the fold: the backbone's rate means nothing, and is not recorded, without a file.
        if self.pretrained is None:
            data.pop("backbone_lr_scale")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        fields = legacy_fields_translated(data)
        fields["split"] = tuple(fields.get("split", DEFAULT_FRACTIONS))
        if fields.get("fold") is not None:
            fields["fold"] = tuple(fields["fold"])
        if fields.get("bands") is not None:
            fields["bands"] = tuple(fields["bands"])
        return cls(**fields)

    def recipe(self) -> dict[str, Any]:
        """What decides the result: two configs with equal recipes train the same model."""
        data = self.to_dict()
        for key in _NOT_RECIPE:
            data.pop(key)
        return data


def anchor_paths(config: Any, names: tuple[str, ...]) -> None:
    """Make the named path fields of a frozen config absolute. A run records its config, and a
    path relative to the shell that started it (`distill buf data`) would be looked up again
    relative to whatever opens the run later: the app, another shell, a notebook, where it
    names nothing. An empty field stays empty: a form that was left blank is not the folder
    the app started in."""
    for name, value in with_absolute_paths({name: getattr(config, name) for name in names}, names).items():
        object.__setattr__(config, name, value)


def with_absolute_paths(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A recorded config or recipe with its named paths made absolute, as `anchor_paths` makes
    a config's: a checkpoint written when paths were recorded as given still matches the same
    run given again from the same folder, so it resumes."""
    return {
        key: os.path.abspath(value) if key in names and isinstance(value, str) and value else value
        for key, value in record.items()
    }


def legacy_fields_translated(data: dict[str, Any]) -> dict[str, Any]:
    """A config or recipe record as this version names its fields. Before `pretrained` took
    the weights file it held vgg11's fine-tuning mode, with the file in `weights_path`: a run
    from scratch recorded `weights_path` None, which is dropped so that its record compares
    equal to this version's; a fine-tuned run keeps its mode as `pretrained`, which no file
    of this version's runs is named, so it reads as another recipe."""
    fields = dict(data)
    fields.pop("weights_path", None)
    return fields


def same_recipe(recorded: Any, config: TrainConfig) -> bool:
    """Whether a recipe recorded by a run (perhaps of an earlier version) is `config`'s."""
    return isinstance(recorded, dict) and legacy_fields_translated(recorded) == config.recipe()
