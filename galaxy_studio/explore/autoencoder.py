"""A small convolutional autoencoder trained on the user's own cutouts, unlabelled.

Its bottleneck is an embedding learned without a single label and without downloading
anything: what it must keep to redraw a galaxy (size, brightness profile, elongation,
arms, colour) is what the vector holds. Galaxies have no preferred orientation, so training
sees every image in a random one of its eight right-angle rotations and mirror images.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from galaxy_studio.data.labelled import LabelledData
from galaxy_studio.events import NEVER, CancelToken, EventSink, MetricLogged, Progressed, ignore
from galaxy_studio.explore.inventory import display_preprocessing, open_inventory
from galaxy_studio.model.checkpoint import check_plain, load_payload, package_versions, save_payload
from galaxy_studio.model.checkpoint_schema import (
    AUTOENCODER_HINT,
    check_weight_shapes,
    validate_autoencoder_metadata,
)
from galaxy_studio.model.datasets import prepare_pixels
from galaxy_studio.model.errors import CheckpointError, ModelError
from galaxy_studio.model.prediction import resolve_device
from galaxy_studio.model.preprocessing import Preprocessing, normalise

AUTOENCODER_FORMAT = "galaxy-studio-autoencoder"
FORMAT_VERSION = 2
_DOWNSAMPLINGS = 3
# Held out to measure reconstruction on images the autoencoder did not train on.
_VAL_FRACTION = 0.1


class ConvAutoencoder(nn.Module):
    """Three stride-2 convolutions down to (4 x width) maps of size/8, a linear bottleneck of
    `latent` values, and the mirror image up again; a sigmoid output matches inputs in [0, 1].

    Batch norm after every inner convolution is what makes it learn at all on survey cutouts:
    without it the network sat on the mean image (a dark frame with a central blob) for the
    whole of a 30-epoch run on gz-spiral, and the bottleneck then varied along one direction
    only (99.4% of its variance), so look-alikes all had a cosine similarity of 1.000."""

    def __init__(self, in_channels: int, size: int, latent: int, width: int) -> None:
        super().__init__()
        if size % (2**_DOWNSAMPLINGS):
            raise ModelError(f"the autoencoder needs a size divisible by 8, got {size}")
        side = size // 2**_DOWNSAMPLINGS
        flat = 4 * width * side * side
        self.encoder = nn.Sequential(
            *_down(in_channels, width),
            *_down(width, 2 * width),
            *_down(2 * width, 4 * width),
            nn.Flatten(),
            nn.Linear(flat, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, flat),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (4 * width, side, side)),
            *_up(4 * width, 2 * width),
            *_up(2 * width, width),
            nn.ConvTranspose2d(width, in_channels, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _down(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@dataclass(frozen=True)
class AutoencoderConfig:
    data: str
    out: str
    size: int = 64
    crop_fraction: float = 0.5
    latent: int = 64
    width: int = 32
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AutoencoderResult:
    """`val_losses[0]` is the untrained network's; each later entry follows one epoch."""

    path: str
    train_losses: tuple[float, ...]
    val_losses: tuple[float, ...]
    images: int
    seconds: float


def _training_what(epoch: int, config: AutoencoderConfig) -> str:
    return f"training the autoencoder, epoch {epoch}/{config.epochs}"


def train_autoencoder(
    config: AutoencoderConfig,
    *,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
    inventory: LabelledData | None = None,
) -> AutoencoderResult:
    """Train on every readable image of `config.data` (labels unused) and save to `config.out`.
    A cancelled run raises Cancelled and leaves any earlier file at `config.out` untouched."""
    started = time.perf_counter()
    inventory = inventory or open_inventory(config.data)
    device = resolve_device(config.device)
    prep = display_preprocessing(inventory, size=config.size, crop_fraction=config.crop_fraction)
    pixels, failed = prepare_pixels(
        inventory.items, prep, threads=config.threads, what="reading images", emit=emit, cancel=cancel
    )
    pixels = np.delete(pixels, failed, axis=0)
    if len(pixels) < 2:
        raise ModelError(f"{config.data}: the autoencoder needs at least 2 readable images, found {len(pixels)}")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(pixels))
    n_val = max(1, round(len(pixels) * _VAL_FRACTION))
    val, train = order[:n_val], order[n_val:]
    torch.manual_seed(config.seed)
    model = ConvAutoencoder(prep.n_channels, prep.size, config.latent, config.width).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    val_losses = [_mean_loss(model, pixels[val], prep, device, config.batch_size, cancel)]
    train_losses: list[float] = []
    emit(MetricLogged("val_loss", 0, val_losses[0]))
    steps = math.ceil(len(train) / config.batch_size)
    for epoch in range(1, config.epochs + 1):
        model.train()
        shuffled = train[rng.permutation(len(train))]
        total, seen = 0.0, 0
        for step in range(steps):
            cancel.raise_if_set()
            rows = np.sort(shuffled[step * config.batch_size : (step + 1) * config.batch_size])
            if len(rows) == 1 and steps > 1:
                continue  # a lone image is too little for batch norm's statistics
            batch = _random_orientations(torch.from_numpy(normalise(pixels[rows], prep)), rng).to(device)
            loss = nn.functional.mse_loss(model(batch), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(rows)
            seen += len(rows)
            # Every step, not every epoch: an epoch can take minutes on a busy CPU, and the time
            # left is known after the first few steps instead of after the first epoch.
            emit(Progressed((epoch - 1) * steps + step + 1, config.epochs * steps, _training_what(epoch, config)))
        train_losses.append(total / seen)
        val_losses.append(_mean_loss(model, pixels[val], prep, device, config.batch_size, cancel))
        emit(MetricLogged("train_loss", epoch, train_losses[-1]))
        emit(MetricLogged("val_loss", epoch, val_losses[-1]))
        emit(Progressed(epoch * steps, config.epochs * steps, _training_what(epoch, config)))
    if not all(math.isfinite(value) for value in train_losses + val_losses):
        raise ModelError(f"{config.data}: the autoencoder's loss became NaN or infinite; try a smaller learning rate")
    metadata = {
        "architecture": {
            "in_channels": prep.n_channels,
            "size": prep.size,
            "latent": config.latent,
            "width": config.width,
        },
        "preprocessing": prep.to_dict(),
        "config": config.to_dict(),
        "data_fingerprint": inventory.files_fingerprint(),
        "images": int(len(pixels)),
        "train_losses": train_losses,
        "val_losses": val_losses,
        "versions": package_versions(),
    }
    check_plain(metadata)
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    Path(config.out).parent.mkdir(parents=True, exist_ok=True)
    save_payload(
        config.out,
        {"format": AUTOENCODER_FORMAT, "format_version": FORMAT_VERSION, "metadata": metadata, "state_dict": state},
    )
    return AutoencoderResult(
        config.out, tuple(train_losses), tuple(val_losses), int(len(pixels)), time.perf_counter() - started
    )


def load_autoencoder(path: str | Path) -> tuple[ConvAutoencoder, Preprocessing, dict[str, Any]]:
    """(network in eval mode on the CPU, the preprocessing it was trained with, metadata).
    Every record and weight is checked first (model/checkpoint_schema.py), so a damaged or
    doctored file is refused naming the file and the field before a network is built from it."""
    payload = load_payload(path, AUTOENCODER_FORMAT, version=FORMAT_VERSION)
    if payload.get("format_version", 0) < FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: an autoencoder from an older Galaxy Studio (format "
            f"{payload.get('format_version', 0)}, a network that is no longer used); train a new one"
        )
    metadata = validate_autoencoder_metadata(payload.get("metadata"), path, size_multiple=2**_DOWNSAMPLINGS)
    arch = metadata["architecture"]
    shape = (int(arch["in_channels"]), int(arch["size"]), int(arch["latent"]), int(arch["width"]))
    with torch.device("meta"):
        expected = {name: tuple(value.shape) for name, value in ConvAutoencoder(*shape).state_dict().items()}
    weights = check_weight_shapes(path, payload.get("state_dict"), expected, hint=AUTOENCODER_HINT)
    prep = Preprocessing.from_dict(metadata["preprocessing"])
    model = ConvAutoencoder(*shape)
    model.load_state_dict(weights)
    model.eval()
    return model, prep, metadata


def _random_orientations(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Each image turned by a random multiple of 90 degrees and mirrored half of the time:
    exact (no resampling) and free of padded corners."""
    turns = rng.integers(0, 4, len(images))
    mirror = rng.random(len(images)) < 0.5
    out = images.clone()
    for turn in range(4):
        for flip in (False, True):
            rows = np.flatnonzero((turns == turn) & (mirror == flip))
            if len(rows):
                chosen = images[torch.from_numpy(rows)]
                if flip:
                    chosen = chosen.flip(-1)
                out[torch.from_numpy(rows)] = torch.rot90(chosen, turn, dims=(-2, -1))
    return out


@torch.no_grad()
def _mean_loss(
    model: nn.Module,
    pixels: np.ndarray,
    prep: Preprocessing,
    device: torch.device,
    batch_size: int,
    cancel: CancelToken,
) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(pixels), batch_size):
        cancel.raise_if_set()
        batch = torch.from_numpy(normalise(pixels[start : start + batch_size], prep)).to(device)
        total += float(nn.functional.mse_loss(model(batch), batch, reduction="sum")) / batch[0].numel()
    return total / len(pixels)
