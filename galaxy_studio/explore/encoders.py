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

from galaxy_studio import paths
from galaxy_studio.events import NEVER, CancelToken, EventSink, ignore
from galaxy_studio.explore.embeddings import EmbedConfig
from galaxy_studio.explore.inventory import Inventory
from galaxy_studio.model.preprocessing import Preprocessing


@dataclass(frozen=True)
class Encoder:
    network: Callable
    prep: Preprocessing
    device: object
    description: str


def autoencoder_file(config: EmbedConfig, inventory: Inventory) -> Path:
    """The given autoencoder, or the one trained on this data with these settings (cached)."""
    if config.model:
        return Path(config.model)
    recipe = [inventory.fingerprint(), config.size, config.crop_fraction, config.latent, config.autoencoder_width,
              config.autoencoder_epochs, config.autoencoder_lr, config.seed]
    key = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:24]
    return paths.cache_dir() / "autoencoders" / f"{key}.pt"


def encoder_identity(config: EmbedConfig, inventory: Inventory) -> str:
    """The model file behind the vectors, as the embedding cache keys it."""
    from galaxy_studio.explore.cache import file_identity

    if config.source == "model":
        from galaxy_studio.model.classification import checkpoint_path

        return file_identity(checkpoint_path(config.model or ""))
    if config.source == "autoencoder":
        return file_identity(autoencoder_file(config, inventory))
    return f"{config.backbone}|{file_identity(config.weights_path) if config.weights_path else 'torch cache'}"


def open_encoder(config: EmbedConfig, inventory: Inventory, *, emit: EventSink = ignore,
                 cancel: CancelToken = NEVER) -> Encoder:
    """The network for `config.source`, on its device; an autoencoder not yet trained on this
    data is trained first (emitting its progress and losses)."""
    from galaxy_studio.model.prediction import resolve_device

    device = resolve_device(config.device)
    if config.source == "model":
        return _classifier_encoder(config, device)
    if config.source == "autoencoder":
        return _autoencoder_encoder(config, inventory, device, emit, cancel)
    from galaxy_studio.explore.backbone import open_backbone

    network, prep, description = open_backbone(config.backbone or "", config.weights_path, inventory,
                                               size=config.size, crop_fraction=config.crop_fraction)
    return Encoder(network.to(device), prep, device, description)


def _classifier_encoder(config: EmbedConfig, device: object) -> Encoder:
    from galaxy_studio.model.architectures import feature_extractor
    from galaxy_studio.model.classification import open_classifier

    classifier = open_classifier(config.model or "")
    body = feature_extractor(classifier.model).to(device)
    return Encoder(body, classifier.prep, device, f"model {classifier.arch} ({classifier.checkpoint})")


def _autoencoder_encoder(config: EmbedConfig, inventory: Inventory, device: object, emit: EventSink,
                         cancel: CancelToken) -> Encoder:
    from galaxy_studio.explore.autoencoder import AutoencoderConfig, load_autoencoder, train_autoencoder

    path = autoencoder_file(config, inventory)
    if not config.model and not path.is_file():
        train_autoencoder(
            AutoencoderConfig(data=config.data, out=str(path), size=config.size, crop_fraction=config.crop_fraction,
                              latent=config.latent, width=config.autoencoder_width,
                              epochs=config.autoencoder_epochs, lr=config.autoencoder_lr, seed=config.seed,
                              device=config.device, threads=config.threads),
            emit=emit, cancel=cancel, inventory=inventory,
        )
    model, prep, _ = load_autoencoder(path)
    model.to(device)
    return Encoder(model.encode, prep, device, f"autoencoder ({path})")
