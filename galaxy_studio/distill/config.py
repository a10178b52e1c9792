"""The recipes of a trajectory buffer and of a distillation run, as plain JSON records.

Torch-free so that `galaxy-studio distill --help` and the Distill panel's form can show the
defaults without importing torch. Every constant of the methods is a field whose default is
the value the papers (MTT, Cazenavette et al. 2022; STM, Guan et al. 2023) use, so that a run
records all of them and a user can change any of them; three defaults are our own, chosen so
that the prototypes stay pictures (DistillConfig, docs/science/distillation.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from galaxy_studio.count_text import noun_for
from galaxy_studio.model.config import ARCHITECTURE_NAMES, CHANNEL_MODES, DEVICES, anchor_paths
from galaxy_studio.model.errors import ModelError
from galaxy_studio.settings import check_ranges, registered, setting

DISTILL_METHODS: tuple[str, ...] = ("stm", "mtt")
INIT_MODES: tuple[str, ...] = ("real", "mean", "noise")
# Mirrors galaxy_studio.distill.matching.MEMORY_MODES and augment.AUGMENT_STRATEGIES, which
# import torch; a test keeps the copies equal.
MEMORY_MODE_NAMES: tuple[str, ...] = ("full", "checkpointed", "constant")
AUGMENT_NAMES: tuple[str, ...] = ("dsa", "galaxy", "none")
STORAGE_DTYPES: tuple[str, ...] = ("float32", "float16")
# Mirrors galaxy_studio.model.precision.PRECISIONS (torch again); the same test keeps them equal.
PRECISION_NAMES: tuple[str, ...] = ("fp32", "tf32", "bf16")
# Experts' channels per layer. The image lr, clamping, smoothing and whitening were chosen with
# experts of width 32 (docs/science/distillation.md); with ConvNet-D3's usual 128 the same image
# lr saturated 3 of 4 prototype sets over two splits, so buffers are this narrow unless asked.
BUFFER_WIDTH = 32
# Test fraction of the real data; distillation has no use for a validation split.
DEFAULT_TEST_FRACTION = 0.2
# STM fine-tunes lr_img from its start down to a twentieth (the paper's 1000 -> 50).
STM_LR_IMG_RANGE = 20.0
# What a run saved before a field existed did: torch's defaults (TF32 convolutions) and no
# clamping. Saved configs and checkpoint recipes are read through it.
FIELDS_BEFORE_THEY_EXISTED: dict[str, Any] = {"precision": "tf32", "clamp": False, "smooth": 0.0}


def _from_dict(cls: Any, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ModelError(f"unknown {cls.__name__} {noun_for(len(unknown), 'field')}: {', '.join(unknown)}")
    return cls(**data)


@registered
@dataclass(frozen=True)
class BufferConfig:
    """Expert trajectories for matching. MTT trains 100 experts for 50 epochs with plain SGD
    (lr 0.01, no momentum, no weight decay, batch 256) under the same differentiable
    augmentation the synthetic images later see. `zca` whitens the data the experts see, so it
    belongs to the buffer: synthetic images are then learned in the same whitened space. None
    (the default) whitens displayed pictures where the matrix is small, never FITS bands
    (distill/init.py, `zca_wanted`): on gz-spiral at 32 px it lifted IPC 1 prototypes from
    level with the class means to 7.5 points above them, and turned them into a yellow
    spheroid and a blue armed disc (docs/science/distillation.md)."""

    data: str
    out_dir: str
    experts: int = setting(
        100, label="Experts", range=(1, None), widget_range=(1, 1000), help="experts to train (MTT: 100)"
    )
    epochs: int = setting(
        50, label="Epochs per expert", range=(1, None), widget_range=(1, 500), help="epochs per expert (MTT: 50)"
    )
    arch: str = setting(
        "convnet-d3", label="Architecture", choices=ARCHITECTURE_NAMES, help="network without batch norm"
    )
    width: int | None = setting(
        BUFFER_WIDTH,
        label="Width",
        zero_means_none=True,
        widget_range=(0, 512),
        special_text="native",
        help=f"channels per layer ({BUFFER_WIDTH}: where the distillation defaults were chosen; "
        "native or 0: the architecture's own, ConvNet-D3 128 as in MTT)",
    )
    size: int = setting(
        32,
        label="Image size",
        metavar="PX",
        range=(1, None),
        widget_range=(8, 256),
        suffix=" px",
        help="image size the experts (and prototypes) use",
    )
    crop_fraction: float = setting(
        0.5,
        label="Crop fraction",
        flag="--crop",
        metavar="FRACTION",
        range=(0.01, 1.0),
        decimals=2,
        help="central fraction kept",
    )
    channels: str = setting("display", label="Channels", choices=CHANNEL_MODES, help="display or bands")
    lr: float = setting(0.01, label="Learning rate", help="SGD learning rate")
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int | None = setting(
        None,
        label="Batch size",
        range=(1, None),
        zero_means_none=True,
        special_text="auto",
        help="images per step; 0 or auto (the default): a new buffer takes the training images / 32, rounded "
        "down to a power of two within 32-256 (MTT's 256 on CIFAR's 50,000; 32 on a thousand galaxies, whose "
        "epochs would otherwise be 4 steps long), an existing buffer the batch it was built with",
    )
    augment: str = setting("galaxy", label="Augmentation", choices=AUGMENT_NAMES, help="differentiable augmentation")
    zca: bool | None = setting(
        None,
        label="ZCA whitening",
        help="ZCA-whiten the images (fitted on the training split); default: on for displayed pictures of at "
        "most 4096 values (32 px colour, 64 px grey), where the whitening matrix is small; off for FITS bands",
    )
    zca_epsilon: float = 0.1
    storage: str = setting("float32", label="Storage", choices=STORAGE_DTYPES, help="snapshot precision")
    test_fraction: float = DEFAULT_TEST_FRACTION
    seed: int = setting(0, label="Seed", range=(0, None), help="split and initialisation seed")
    device: str = setting("auto", label="Device", choices=DEVICES, help="auto: CUDA, then Apple MPS, then the CPU")
    threads: int | None = None

    def __post_init__(self) -> None:
        anchor_paths(self, ("data", "out_dir"))
        if self.experts < 1 or self.epochs < 1:
            raise ModelError(f"need at least 1 expert and 1 epoch (got {self.experts}, {self.epochs})")
        if self.storage not in STORAGE_DTYPES:
            raise ModelError(f"storage must be one of {', '.join(STORAGE_DTYPES)}, got {self.storage!r}")
        if self.augment not in AUGMENT_NAMES:
            raise ModelError(f"augment must be one of {', '.join(AUGMENT_NAMES)}, got {self.augment!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ModelError(f"test fraction must lie in (0, 1), got {self.test_fraction}")
        if self.lr <= 0 or (self.batch_size is not None and self.batch_size < 1):
            raise ModelError(f"lr must be positive and batch size at least 1 (got {self.lr}, {self.batch_size})")
        check_ranges(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BufferConfig:
        return _from_dict(cls, data)


@registered
@dataclass(frozen=True)
class DistillConfig:
    """A distillation run over a buffer.

    Matching (MTT): `syn_steps` unrolled SGD steps on minibatches of `batch_syn` synthetic
    images (None: all) from an expert's epoch t, compared with its epoch t + `expert_epochs`;
    images and the log of the step size learn by SGD with momentum 0.5 at `lr_img`, `lr_lr`.
    The step size starts at `lr_teacher`. `precision` is the GPU arithmetic of the unroll
    (model/precision.py; the CPU always computes float32): on an H200, tf32 was 1.7x faster than
    fp32 at 64 px with an image gradient at cosine 0.99994 of fp32's (docs/gpu-results.md).
    `cuda_graphs` replays full mode's unroll as one CUDA graph (distill/graphed_match.py); it is
    off until a GPU run has measured it (tests/benchmarks/bench_gpu.py).
    Learning log(lr) (STM) keeps it positive; its learning rate is STM's 0.01 (MTT's 1e-5 was for the raw step size).

    "mtt" draws t from [0, max_start_epoch) for `iterations` iterations. "stm" ignores
    max_start_epoch and expert_epochs (fixed to 1) and grows a cap on t when the validation
    loss on the next segment trends (Pearson r of the last >= `pearson_window` values against
    time below -`falling_se` or above +`rising_se` standard errors); a stage longer than
    `max_stage` iterations starts fine-tuning, which multiplies lr_img by `finetune_decay`
    every `finetune_every` iterations and stops below `min_lr_img` (None: lr_img / 20, STM's
    1000 -> 50, so that a lower image lr fine-tunes for as many iterations as the paper's).
    `iterations` caps stm too.

    `clamp` projects the images after every step onto the range each channel takes in the real
    training images (0.1-99.9 percentiles, as distill/readability.py measures it) in the
    network's space, so that no value can run beyond what the data holds; for a whitened buffer
    those are the whitened values, and where the real images are clipped at white the pictures
    are kept no brighter than white (distill/pixel_bounds.py says why). lr_img 10 with clamping is
    the default, not the papers' 1000 (tuned on ZCA-whitened CIFAR) without: on gz-spiral at
    IPC 1 (2 buffers x 2 seeds) 1000 turned every prototype into saturated colour noise (67-96%
    of the pixels beyond the real range) for no accuracy, while 10 with clamping kept galaxies
    and scored best (tests/benchmarks/bench_distill_readability.py; docs/science/distillation.md).

    `smooth` blurs every image update with a Gaussian of that many pixels (distill/smoothing.py).
    The default of 1 px left the accuracy as it was (63.1 +- 0.9% against 62.8 +- 1.6%, same 4
    runs) and removed the pixel-scale colour speckle that one run in four grew without it.
    """

    buffer: str
    data: str
    out_dir: str
    method: str = setting(
        "stm",
        label="Method",
        choices=DISTILL_METHODS,
        help="stm: the matched part of the trajectory grows when the validation loss says so; "
        "mtt: a fixed window of start epochs",
    )
    ipc: int = setting(
        1, label="Images per class", range=(1, None), widget_range=(1, 500), help="synthetic images per class"
    )
    syn_steps: int = setting(
        20,
        label="Syn steps",
        range=(1, None),
        widget_range=(1, 500),
        help="unrolled student SGD steps per iteration (memory grows with them in full mode)",
    )
    memory: str = setting(
        "full",
        label="Memory mode",
        choices=MEMORY_MODE_NAMES,
        help="full graph, checkpointed segments, or constant memory (TESLA-style; approximate gradient)",
    )
    iterations: int = setting(
        5000,
        label="Iterations",
        range=(1, None),
        widget_range=(1, 1_000_000),
        help="at most this many iterations (STM may stop sooner)",
    )
    max_start_epoch: int = setting(25, label="Max start epoch", range=(1, None), help="mtt only")
    expert_epochs: int = setting(3, label="Expert epochs", range=(1, None), help="mtt only")
    lr_img: float = setting(
        10.0,
        label="Image lr",
        widget_range=(0.01, 1e6),
        decimals=2,
        step=1.0,
        help="image learning rate (MTT/STM: 1000 on CIFAR, 10000 on GZ2); too high and the prototypes turn to noise",
    )
    lr_lr: float = setting(0.01, label="Step size lr", help="learning rate of log(step size)")
    lr_teacher: float = setting(0.01, label="Initial step size", help="initial step size")
    momentum: float = 0.5
    batch_syn: int | None = setting(
        None, label="Synthetic batch", range=(1, None), help="synthetic images per unrolled step (default all)"
    )
    init: str = setting("real", label="Initial images", choices=INIT_MODES, help="initial images")
    augment: str = setting("galaxy", label="Augmentation", choices=AUGMENT_NAMES, help="differentiable augmentation")
    pearson_window: int = 10
    falling_se: float = 5.0
    rising_se: float = 3.0
    max_stage: int = setting(1000, label="Max stage", range=(1, None), help="stm: iterations before fine-tuning")
    finetune_every: int = setting(
        50,
        label="Fine-tune every",
        range=(1, None),
        help="stm: fine-tuning multiplies lr_img by 0.8 every this many iterations",
    )
    finetune_decay: float = 0.8
    min_lr_img: float | None = setting(
        None,
        label="Minimum image lr",
        help="stm: stop once fine-tuning brings lr_img below this (default: a "
        "twentieth of --lr-img, the paper's 1000 -> 50)",
    )
    checkpoint_every: int = setting(
        10, label="Checkpoint every", range=(1, None), help="save a checkpoint every this many iterations"
    )
    snapshot_every: int = setting(
        10,
        label="Snapshot every",
        range=(1, None),
        widget_range=(1, 10_000),
        help="save the pictures every this many iterations (the timeline replays them)",
    )
    seed: int = setting(0, label="Seed", range=(0, None), help="initial images and sampling seed")
    device: str = setting("auto", label="Device", choices=DEVICES, help="auto: CUDA, then Apple MPS, then the CPU")
    precision: str = setting(
        "tf32",
        label="Precision",
        choices=PRECISION_NAMES,
        help="GPU arithmetic of the unroll: fp32, tf32 products, or bf16 autocast; the CPU always computes fp32",
    )
    cuda_graphs: bool = setting(
        False,
        label="Replay the unroll as a CUDA graph",
        help="full memory mode on a CUDA GPU: record one iteration's kernels once and replay them, the same "
        "arithmetic with one launch instead of hundreds per step; ignored in other modes and on other devices",
    )
    clamp: bool = setting(
        True,
        label="Keep pixels within the data's range",
        help="keep every pixel within the real images' 0.1-99.9 percentile range of its channel, "
        "clipped after every step (for a whitened buffer: the whitened values, and the pictures "
        "no brighter than white where the real images are clipped there)",
    )
    smooth: float = setting(
        1.0,
        label="Smoothing",
        metavar="PX",
        range=(0.0, None),
        widget_range=(0.0, 8.0),
        decimals=1,
        step=0.5,
        suffix=" px",
        help="blur every image update with a Gaussian of this many pixels, so that the prototypes "
        "learn broad changes of shape and colour rather than pixel noise (0: off)",
    )

    def __post_init__(self) -> None:
        anchor_paths(self, ("buffer", "data", "out_dir"))
        if self.precision not in PRECISION_NAMES:
            raise ModelError(f"precision must be one of {', '.join(PRECISION_NAMES)}, got {self.precision!r}")
        if self.method not in DISTILL_METHODS:
            raise ModelError(f"method must be one of {', '.join(DISTILL_METHODS)}, got {self.method!r}")
        if self.init not in INIT_MODES:
            raise ModelError(f"init must be one of {', '.join(INIT_MODES)}, got {self.init!r}")
        if self.memory not in MEMORY_MODE_NAMES:
            raise ModelError(f"memory must be one of {', '.join(MEMORY_MODE_NAMES)}, got {self.memory!r}")
        if self.augment not in AUGMENT_NAMES:
            raise ModelError(f"augment must be one of {', '.join(AUGMENT_NAMES)}, got {self.augment!r}")
        positive = {
            "ipc": self.ipc,
            "syn_steps": self.syn_steps,
            "iterations": self.iterations,
            "max_start_epoch": self.max_start_epoch,
            "expert_epochs": self.expert_epochs,
            "pearson_window": self.pearson_window,
            "max_stage": self.max_stage,
            "finetune_every": self.finetune_every,
            "checkpoint_every": self.checkpoint_every,
            "snapshot_every": self.snapshot_every,
        }
        bad = [f"{name} {value}" for name, value in positive.items() if value < 1]
        if self.batch_syn is not None and self.batch_syn < 1:
            bad.append(f"batch_syn {self.batch_syn}")
        if bad:
            raise ModelError(f"these settings must be at least 1: {', '.join(bad)}")
        if min(self.lr_img, self.lr_lr, self.lr_teacher) <= 0:
            raise ModelError(
                f"learning rates must be positive (lr_img {self.lr_img}, lr_lr {self.lr_lr}, "
                f"lr_teacher {self.lr_teacher})"
            )
        if self.pearson_window < 3:
            raise ModelError(
                f"pearson_window must be at least 3 (a correlation of 2 points is always +-1), "
                f"got {self.pearson_window}"
            )
        if not 0.0 < self.finetune_decay < 1.0:
            raise ModelError(f"finetune_decay must lie in (0, 1), got {self.finetune_decay}")
        check_ranges(self)

    @property
    def stop_lr_img(self) -> float:
        """STM stops once fine-tuning has brought lr_img below this."""
        return self.min_lr_img if self.min_lr_img is not None else self.lr_img / STM_LR_IMG_RANGE

    @property
    def matched_epochs(self) -> int:
        """Epochs between start and target: STM always matches one epoch."""
        return 1 if self.method == "stm" else self.expert_epochs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        """A saved config, read as it ran even when written before a field existed."""
        return _from_dict(cls, {**FIELDS_BEFORE_THEY_EXISTED, **data})

    def recipe(self) -> dict[str, Any]:
        """What decides the result; a run may resume under another device, with or without CUDA
        graphs (the same arithmetic), or under another checkpoint cadence."""
        data = self.to_dict()
        for key in ("out_dir", "device", "cuda_graphs", "checkpoint_every", "snapshot_every", "iterations"):
            data.pop(key)
        # The stop itself, so that a run saved when it was always 50 resumes under the default.
        data["min_lr_img"] = self.stop_lr_img
        return data


@registered
@dataclass(frozen=True)
class EvaluationProtocol:
    """How distill/evaluate.py trains fresh nets on a synthetic set and on its baselines."""

    nets: int = setting(5, label="Nets", range=(1, None), help="fresh networks per training set (MTT: 5)")
    epochs: int = setting(1000, label="Epochs", range=(2, None), help="epochs on the small sets (MTT: 1000)")
    full_epochs: int = setting(
        0,
        label="Full-data epochs",
        range=(0, None),
        help="train fresh nets this many epochs on the full training split for its row (0: the row is the "
        "buffer's experts, already trained on it)",
    )
    seed: int = setting(0, label="Seed", range=(0, None), help="seed of the nets' initialisation and batches")
    device: str = setting("auto", label="Device", choices=DEVICES, help="auto: CUDA, then Apple MPS, then the CPU")

    def __post_init__(self) -> None:
        if self.nets < 1 or self.epochs < 2 or self.full_epochs < 0:
            raise ModelError(
                f"need at least 1 net, 2 epochs and 0 or more full-data epochs (got {self.nets}, "
                f"{self.epochs}, {self.full_epochs})"
            )
        check_ranges(self)
