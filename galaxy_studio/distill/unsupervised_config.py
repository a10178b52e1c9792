"""The recipe of an unsupervised distillation run (seed paper 002), as a plain JSON record.

Torch-free so that `galaxy-studio distill-unsupervised --help` shows the defaults without
importing torch. The defaults follow the seed report where it gives a value (784 -> 64 -> 784
autoencoder, linear head, Adam 1e-3, early-stopped pretraining, 80 samples initialised as
0.25 x real + 0.75 x noise, warmed-up reconstruction and diversity weights); the loss weights
it leaves open were chosen on MNIST and are recorded with every run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from galaxy_studio.count_text import noun_for
from galaxy_studio.model.config import DEVICES, anchor_paths
from galaxy_studio.model.errors import ModelError
from galaxy_studio.settings import check_ranges, registered, setting

# The anti-collapse counter-measure's weights when the CLI's --anti-collapse switches it on.
ANTI_COLLAPSE_REAL_RECONSTRUCTION = 1.0
ANTI_COLLAPSE_REPULSION = 0.01


@registered
@dataclass(frozen=True)
class UnsupervisedConfig:
    """Autoencoder pretraining, then joint training of encoder, head and synthetic set.

    Loss of the joint phase, per step on a batch of real images x with labels y and the
    synthetic set S, with w(step) rising linearly from 0 to 1 over `warmup_epochs`:
        l_cls CE(head(enc(x)), y) + w l_rec MSE(dec(enc(S)), S) + l_grad ||dL_rec/dS||
        - w l_div MSE(S, mean(S))
        + w l_real_rec MSE(dec(enc(x)), x) + w l_repel mean_i -log(d_nn(S_i)^2 / D + eps)
    The last two terms are the anti-collapse counter-measure (0 = off): reconstructing the
    real batch beside S keeps the decoder a decoder of real images, and the nearest-neighbour
    repulsion pushes apart exactly the near-duplicates that the variance-like diversity term
    barely notices. S is kept inside [0, 1], the range of the sigmoid decoder and of the data.

    Galaxy data (not IDX) is cropped (`crop_fraction`) and resized to `size` px, grey unless
    `colour`; the autoencoder's input size follows the data.
    """

    data: str
    out_dir: str
    samples: int = setting(80, label="Samples", range=(2, None), help="synthetic samples")
    hidden: int = setting(64, label="Hidden features", range=(1, None), help="autoencoder features")
    tied: bool = setting(False, label="Tied weights", help="decoder uses the encoder's transposed weights")
    size: int = setting(28, label="Image size", metavar="PX", help="galaxy data: image side")
    crop_fraction: float = setting(
        0.5, label="Crop fraction", flag="--crop", metavar="FRACTION", help="galaxy data: central fraction kept"
    )
    colour: bool = setting(False, label="Colour", help="galaxy data: keep RGB instead of grey")
    batch_size: int = setting(256, label="Batch size", range=(1, None), help="images per step")
    lr: float = setting(1e-3, label="Learning rate", help="Adam learning rate of the networks")
    lr_syn: float = setting(0.01, label="Sample learning rate", help="Adam learning rate of the samples")
    pretrain_epochs: int = setting(100, label="Pretraining epochs", range=(1, None), help="at most")
    patience: int = setting(5, label="Patience", range=(1, None), help="pretraining early stopping")
    epochs: int = setting(10, label="Epochs", range=(1, None), help="joint epochs")
    warmup_epochs: int = setting(
        5, label="Warm-up epochs", range=(0, None), help="reconstruction/diversity weights ramp up over these"
    )
    l_cls: float = setting(1.0, label="Classification weight", range=(0.0, None), help="classification weight")
    l_rec: float = setting(
        1.0, label="Reconstruction weight", range=(0.0, None), help="synthetic reconstruction weight"
    )
    l_grad: float = setting(1.0, label="Gradient penalty weight", range=(0.0, None), help="gradient penalty weight")
    l_div: float = setting(0.01, label="Diversity weight", range=(0.0, None), help="diversity weight")
    l_real_rec: float = setting(
        0.0,
        label="Real reconstruction weight",
        range=(0.0, None),
        help="real reconstruction weight; --anti-collapse sets it",
    )
    l_repel: float = setting(
        0.0,
        label="Repulsion weight",
        range=(0.0, None),
        help="nearest-neighbour repulsion weight; --anti-collapse sets it",
    )
    init_real_fraction: float = 0.25
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    fresh_nets: int = setting(3, label="Fresh nets", range=(1, None), help="fresh nets per evaluation")
    fresh_epochs: int = setting(300, label="Fresh epochs", range=(1, None), help="their full-batch steps")
    seed: int = setting(0, label="Seed", range=(0, None), help="split, initialisation and sampling seed")
    device: str = setting("auto", label="Device", choices=DEVICES, help="auto: CUDA, then Apple MPS, then the CPU")

    def __post_init__(self) -> None:
        anchor_paths(self, ("data", "out_dir"))
        at_least_one = {
            "samples": self.samples,
            "hidden": self.hidden,
            "batch_size": self.batch_size,
            "pretrain_epochs": self.pretrain_epochs,
            "patience": self.patience,
            "epochs": self.epochs,
            "fresh_nets": self.fresh_nets,
            "fresh_epochs": self.fresh_epochs,
        }
        bad = [f"{name} {value}" for name, value in at_least_one.items() if value < 1]
        if self.samples < 2:
            bad.append(f"samples {self.samples} (homogeneity needs two)")
        if bad:
            raise ModelError(f"these settings must be at least 1: {', '.join(bad)}")
        if self.warmup_epochs < 0:
            raise ModelError(f"warmup_epochs must be 0 or more, got {self.warmup_epochs}")
        weights = {
            "l_cls": self.l_cls,
            "l_rec": self.l_rec,
            "l_grad": self.l_grad,
            "l_div": self.l_div,
            "l_real_rec": self.l_real_rec,
            "l_repel": self.l_repel,
        }
        negative = [f"{name} {value}" for name, value in weights.items() if not value >= 0]
        if negative:
            raise ModelError(f"loss weights must be 0 or more: {', '.join(negative)}")
        if not (self.lr > 0 and self.lr_syn > 0):
            raise ModelError(f"learning rates must be positive (lr {self.lr}, lr_syn {self.lr_syn})")
        if not 0.0 <= self.init_real_fraction <= 1.0:
            raise ModelError(f"init_real_fraction must lie in [0, 1], got {self.init_real_fraction}")
        if not (
            0.0 < self.val_fraction < 1.0
            and 0.0 < self.test_fraction < 1.0
            and self.val_fraction + self.test_fraction < 1.0
        ):
            raise ModelError(
                f"val and test fractions must lie in (0, 1) and leave training data "
                f"(got {self.val_fraction}, {self.test_fraction})"
            )
        if self.size < 8 or not 0.0 < self.crop_fraction <= 1.0:
            raise ModelError(
                f"size must be at least 8 px and crop fraction in (0, 1] (got {self.size}, {self.crop_fraction})"
            )
        check_ranges(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnsupervisedConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown UnsupervisedConfig {noun_for(len(unknown), 'field')}: {', '.join(unknown)}")
        return cls(**data)

    def recipe(self) -> dict[str, Any]:
        """What decides the result; a run may resume on another device or with more epochs."""
        data = self.to_dict()
        for key in ("out_dir", "device", "epochs", "fresh_nets", "fresh_epochs"):
            data.pop(key)
        return data
