"""A torchvision network pretrained elsewhere (ImageNet), as a feature extractor, from weights
the user already has on disk. Nothing is downloaded: observatories and laptops on a plane
are often offline, and a silent 100 MB download is not what a user asked for."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from galaxy_studio.data.labelled import LabelledData
from galaxy_studio.explore.inventory import display_preprocessing
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing

# The statistics every torchvision ImageNet model was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def open_backbone(
    name: str, weights_path: str | None, inventory: LabelledData, *, size: int, crop_fraction: float
) -> tuple[nn.Module, Preprocessing, str]:
    """(network without its classification head, in eval mode; its input recipe; description)."""
    import torchvision.models as models

    if name not in models.list_models(module=models):
        raise ModelError(
            f"unknown torchvision network {name!r} (for example resnet18, resnet50, vgg11, "
            "efficientnet_b0, convnext_tiny)"
        )
    path = Path(weights_path) if weights_path else _cached_weights(name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: weights file not found") from None
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ModelError(f"{path}: not a torchvision weights file ({type(exc).__name__}: {exc})") from None
    network = models.get_model(name, weights=None)
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path}: the weights do not fit torchvision's {name} ({str(exc).splitlines()[0]})") from None
    _drop_head(network, name)
    prep = display_preprocessing(inventory, size=size, crop_fraction=crop_fraction)
    return network.eval(), prep.with_statistics(IMAGENET_MEAN, IMAGENET_STD), f"backbone {name} ({path})"


def _cached_weights(name: str) -> Path:
    """Where torchvision would have kept the default weights after an earlier download."""
    import torchvision.models as models

    url = models.get_model_weights(name).DEFAULT.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not path.is_file():
        raise ModelError(
            f"no local weights for {name}: pass a weights file",
            f"{{weights_path}} FILE, a torchvision state dict such as {Path(url).name} from {url}; Galaxy Studio "
            "does not download backbones",
        )
    return path


def _drop_head(network: nn.Module, name: str) -> None:
    """Replace the final linear classifier by the identity, wherever this family keeps it."""
    for attribute in ("fc", "classifier", "heads", "head"):
        head = getattr(network, attribute, None)
        if isinstance(head, nn.Linear):
            setattr(network, attribute, nn.Identity())
            return
        if isinstance(head, nn.Sequential) and len(head) and isinstance(head[-1], nn.Linear):
            head[-1] = nn.Identity()
            return
    raise ModelError(f"{name}: cannot find its classification head to take features before")
