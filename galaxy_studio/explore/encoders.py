"""The three ways to turn an image into a vector, behind one shape: a network, the
preprocessing its input needs, the device, and a description for the user.

A classifier's penultimate layer knows the classes it was trained on; an autoencoder
trained here knows only what the user's own images look like; an ImageNet backbone knows
natural photographs. Which is best depends on the question, so all three are offered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from galaxy_studio import paths
from galaxy_studio.data.labelled import LabelledData
from galaxy_studio.events import NEVER, CancelToken, EventSink, ignore
from galaxy_studio.explore.embeddings import EmbedConfig
from galaxy_studio.model.preprocessing import Preprocessing

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Encoder:
    network: Callable
    prep: Preprocessing
    device: torch.device
    description: str


def autoencoder_file(config: EmbedConfig, inventory: LabelledData) -> Path:
    """The given autoencoder, or the one trained on this data with these settings (cached)."""
    if config.model:
        return Path(config.model)
    from galaxy_studio.explore.autoencoder import FORMAT_VERSION

    recipe = [
        FORMAT_VERSION,
        inventory.files_fingerprint(),
        config.size,
        config.crop_fraction,
        config.latent,
        config.autoencoder_width,
        config.autoencoder_epochs,
        config.autoencoder_lr,
        config.seed,
    ]
    key = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:24]
    return paths.cache_dir() / "autoencoders" / f"{key}.pt"


def encoder_identity(config: EmbedConfig, inventory: LabelledData) -> str:
    """The model file behind the vectors, as the embedding cache keys it."""
    from galaxy_studio.explore.cache import file_identity

    if config.source == "model":
        from galaxy_studio.model.classification import checkpoint_path

        return file_identity(checkpoint_path(config.model or ""))
    if config.source == "autoencoder":
        return file_identity(autoencoder_file(config, inventory))
    return f"{config.backbone}|{file_identity(config.weights_path) if config.weights_path else 'torch cache'}"


def open_encoder(
    config: EmbedConfig, inventory: LabelledData, *, emit: EventSink = ignore, cancel: CancelToken = NEVER
) -> Encoder:
    """The network for `config.source`, on its device; an autoencoder not yet trained on this
    data is trained first (emitting its progress and losses)."""
    from galaxy_studio.model.prediction import resolve_device

    device = resolve_device(config.device)
    if config.source == "model":
        encoder = _classifier_encoder(config, device)
    elif config.source == "autoencoder":
        encoder = _autoencoder_encoder(config, inventory, device, emit, cancel)
    else:
        from galaxy_studio.explore.backbone import open_backbone

        network, prep, description = open_backbone(
            config.backbone or "", config.weights_path, inventory, size=config.size, crop_fraction=config.crop_fraction
        )
        encoder = Encoder(network.to(device), prep, device, description)
    if not config.average_orientations:
        return encoder
    return Encoder(
        OrientationAverage(encoder.network),
        encoder.prep,
        device,
        f"{encoder.description}, averaged over 8 orientations",
    )


class OrientationAverage:
    """The mean vector over the eight right-angle rotations and mirror images of each image.

    A galaxy seen at another angle is the same galaxy, but a network's vector (an
    autoencoder's above all, which must remember the angle to redraw the image) changes with
    it, and the angle of an edge-on disc can then outweigh its shape in every distance.
    Averaging over the dihedral group makes the vector exactly invariant to those eight
    orientations for the cost of eight forward passes."""

    def __init__(self, network: Callable) -> None:
        self.network = network

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        import torch

        total = torch.zeros(0)
        for mirrored in (images, images.flip(-1)):
            for turn in range(4):
                vectors = self.network(torch.rot90(mirrored, turn, dims=(-2, -1))).float().flatten(1)
                total = vectors if total.numel() == 0 else total + vectors
        return total / 8


def _classifier_encoder(config: EmbedConfig, device: torch.device) -> Encoder:
    from galaxy_studio.model.architectures import feature_extractor
    from galaxy_studio.model.classification import open_classifier

    classifier = open_classifier(config.model or "")
    body = feature_extractor(classifier.model).to(device)
    return Encoder(body, classifier.prep, device, f"model {classifier.arch} ({classifier.checkpoint})")


def _autoencoder_encoder(
    config: EmbedConfig, inventory: LabelledData, device: torch.device, emit: EventSink, cancel: CancelToken
) -> Encoder:
    from galaxy_studio.explore.autoencoder import AutoencoderConfig, load_autoencoder, train_autoencoder

    path = autoencoder_file(config, inventory)
    if not config.model and not path.is_file():
        train_autoencoder(
            AutoencoderConfig(
                data=config.data,
                out=str(path),
                size=config.size,
                crop_fraction=config.crop_fraction,
                latent=config.latent,
                width=config.autoencoder_width,
                epochs=config.autoencoder_epochs,
                lr=config.autoencoder_lr,
                seed=config.seed,
                device=config.device,
                threads=config.threads,
            ),
            emit=emit,
            cancel=cancel,
            inventory=inventory,
        )
    model, prep, _ = load_autoencoder(path)
    model.to(device)
    return Encoder(model.encode, prep, device, f"autoencoder ({path})")
