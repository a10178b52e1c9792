"""The networks a user can train, by name, and how each is rebuilt from a checkpoint.

A checkpoint records an `ArchitectureSpec` (plain fields only), so `model_from_spec`
must rebuild exactly the same module tree from it without fetching any weights.
torchvision is imported only by the builders that need it: it costs seconds to import.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from galaxy_studio.model.config import PRETRAINED_MODES
from galaxy_studio.model.dihedral import DihedralPooling
from galaxy_studio.model.errors import ModelError

# VGG11 configuration "A": eight 3x3 convolutions, "M" = 2x2 max pooling.
_VGG11_LAYOUT: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
# Deep fine-tuning keeps the first two convolutions (edges, colour blobs) as ImageNet learned them.
_VGG_FROZEN_CONVS = 2
# galaxy-cnn-d4's channels per layer: its trunk runs 8 times per image.
D4_WIDTH = 8
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class ArchitectureSpec:
    """Everything needed to rebuild a network's module tree (not its weights)."""

    name: str
    n_classes: int
    in_channels: int
    size: int
    width: int | None = None
    pretrained: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchitectureSpec:
        return cls(**data)


@dataclass(frozen=True)
class Architecture:
    name: str
    summary: str
    default_width: int
    pretrainable: bool
    build: Callable[[ArchitectureSpec], nn.Module]


def _galaxy_cnn(spec: ArchitectureSpec) -> nn.Module:
    """The seed paper's custom net. Averaging 2x2 first removes pixel noise and quarters the
    cost of every later layer; a constant, small width keeps it fast on a CPU."""
    width = spec.width or 32

    def block(cin: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(width)]

    layers: list[nn.Module] = [nn.AvgPool2d(2)]
    cin = spec.in_channels
    for _ in range(3):
        layers += block(cin) + block(width) + [nn.MaxPool2d(2)]
        cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, spec.n_classes)]
    return nn.Sequential(*layers)


def _galaxy_cnn_d4(spec: ArchitectureSpec) -> nn.Module:
    """galaxy-cnn's layers up to its head, run on the 8 right-angle turns and mirrors of each
    image with their features averaged (`DihedralPooling`), then the linear head: its output
    does not change when the input is turned or mirrored. Narrower by default, as the trunk
    runs 8 times per image."""
    pool, *trunk, head = _galaxy_cnn(replace(spec, width=spec.width or D4_WIDTH)).children()
    assert isinstance(pool, nn.AvgPool2d)
    return nn.Sequential(DihedralPooling(nn.Sequential(*trunk), pool), head)


def _convnet_d3(spec: ArchitectureSpec) -> nn.Module:
    """MTT's ConvNet-D3. Instance norm (one group per channel) instead of batch norm, so that
    a distillation unroll does not depend on batch statistics."""
    width = spec.width or 128
    layers: list[nn.Module] = []
    cin, side = spec.in_channels, spec.size
    for _ in range(3):
        layers += [
            nn.Conv2d(cin, width, 3, padding=1),
            nn.GroupNorm(width, width, affine=True),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(2),
        ]
        cin, side = width, side // 2
    if side < 1:
        raise ModelError(f"convnet-d3 needs images of at least 8 px, got {spec.size}")
    layers += [nn.Flatten(), nn.Linear(width * side * side, spec.n_classes)]
    return nn.Sequential(*layers)


class _VggFromScratch(nn.Module):
    """VGG11's convolutions at a chosen width, then global average pooling and a linear head:
    the 4096-wide ImageNet head would hold almost all the parameters and overfit small sets."""

    def __init__(self, spec: ArchitectureSpec) -> None:
        super().__init__()
        from torchvision.models.vgg import make_layers

        width = spec.width or 32
        layout = [width if isinstance(step, int) else step for step in _VGG11_LAYOUT]
        self.features = make_layers(layout, batch_norm=False)
        first = self.features[0]
        self.features[0] = nn.Conv2d(spec.in_channels, first.out_channels, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, spec.n_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _vgg11(spec: ArchitectureSpec) -> nn.Module:
    if spec.pretrained is None:
        return _VggFromScratch(spec)
    from torchvision.models import vgg11

    model = vgg11(weights=None)
    model.classifier[6] = nn.Linear(model.classifier[6].in_features, spec.n_classes)
    return model


def _resnet18(spec: ArchitectureSpec) -> nn.Module:
    """torchvision's ResNet-18 whose stem brings any input to about 32 px before layer1, as
    the ImageNet stem does for 128 px: the full stem would leave 2x2 maps from 64 px cutouts."""
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=spec.n_classes)
    if spec.size >= 128:
        model.conv1 = nn.Conv2d(spec.in_channels, 64, 7, stride=2, padding=3, bias=False)
    else:
        model.conv1 = nn.Conv2d(spec.in_channels, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if spec.size >= 64 else nn.Identity()
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            "galaxy-cnn", "average pool first, 32 channels, conv+ReLU+BatchNorm (seed paper)", 32, False, _galaxy_cnn
        ),
        Architecture(
            "galaxy-cnn-d4",
            f"galaxy-cnn on the 8 right-angle turns and mirrors of each image, features averaged: "
            f"the same answer however the image is turned; {D4_WIDTH} channels",
            D4_WIDTH,
            False,
            _galaxy_cnn_d4,
        ),
        Architecture("vgg11", "VGG11 from scratch at a chosen width, or ImageNet fine-tuned", 32, True, _vgg11),
        Architecture(
            "convnet-d3", "MTT's ConvNet-D3: width 128, instance norm, average pooling", 128, False, _convnet_d3
        ),
        Architecture("resnet18", "ResNet-18 from scratch with a small-image stem", 64, False, _resnet18),
    )
}


def model_from_spec(spec: ArchitectureSpec) -> nn.Module:
    """The untrained module tree for `spec` (weights are loaded afterwards, never fetched here)."""
    return _checked(spec).build(spec)


def _checked(spec: ArchitectureSpec) -> Architecture:
    arch = ARCHITECTURES.get(spec.name)
    if arch is None:
        raise ModelError(f"unknown architecture {spec.name!r}; choose from {', '.join(ARCHITECTURES)}")
    if spec.pretrained is not None and not arch.pretrainable:
        raise ModelError(f"{spec.name} has no ImageNet weights; only vgg11 can be fine-tuned")
    if spec.pretrained not in (None, *PRETRAINED_MODES):
        raise ModelError(f"pretrained must be one of {', '.join(PRETRAINED_MODES)}, got {spec.pretrained!r}")
    if spec.n_classes < 2 or spec.in_channels < 1 or spec.size < 8:
        raise ModelError(
            f"need at least 2 classes, 1 channel and 8 px (got {spec.n_classes}, {spec.in_channels}, {spec.size})"
        )
    if spec.pretrained is not None and spec.in_channels != 3:
        raise ModelError(f"ImageNet weights need 3 channels (RGB), the data has {spec.in_channels}")
    return arch


def build_model(
    name: str,
    *,
    n_classes: int,
    in_channels: int,
    size: int,
    width: int | None = None,
    pretrained: str | None = None,
    weights_path: str | Path | None = None,
) -> nn.Module:
    """A network ready to train. With `pretrained`, vgg11 starts from ImageNet weights (from
    `weights_path`, else torchvision's cache, else downloaded once) and freezes what the mode
    keeps fixed: "deep" the first convolutions, "shallow" everything but the last layer."""
    spec = ArchitectureSpec(name, n_classes, in_channels, size, width, pretrained)
    arch = _checked(spec)
    if pretrained is None:
        return arch.build(spec)
    # Weights first: a missing or wrong file is reported before building 130 M parameters.
    state = _imagenet_state(weights_path)
    model = arch.build(spec)
    _load_imagenet_vgg11(model, state)
    _freeze_vgg(model, pretrained)
    return model


def has_batch_norm(model: nn.Module) -> bool:
    """Distillation unrolls must not depend on batch statistics; this says whether they would."""
    return any(isinstance(module, _BATCH_NORMS) for module in model.modules())


def imagenet_weights_file() -> Path:
    """Where torchvision keeps (or would download) the ImageNet VGG11 weights."""
    from torchvision.models import VGG11_Weights

    url = VGG11_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _imagenet_state(weights_path: str | Path | None) -> dict[str, torch.Tensor]:
    if weights_path is not None:
        try:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ModelError(f"{weights_path}: weights file not found") from None
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
            raise ModelError(f"{weights_path}: not a VGG11 weights file ({exc})") from exc
        missing = sorted(_vgg11_keys() - set(state)) if isinstance(state, dict) else ["everything"]
        if missing:
            raise ModelError(
                f"{weights_path}: the weights do not fit torchvision's vgg11 (missing {', '.join(missing[:3])})"
            )
        return state
    from torchvision.models import VGG11_Weights

    try:
        return VGG11_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except (OSError, RuntimeError) as exc:
        raise ModelError(
            f"ImageNet weights for vgg11 are not in torchvision's cache ({imagenet_weights_file()}) "
            f"and could not be downloaded ({exc})",
            "connect once to download them, or pass a local file with {weights_path}, or train from scratch "
            "(no {pretrained})",
        ) from exc


def _vgg11_keys() -> set[str]:
    """Parameter names of torchvision's vgg11, from its layout (as make_layers numbers them)."""
    keys, index = set(), 0
    for step in _VGG11_LAYOUT:
        if step == "M":
            index += 1
        else:
            keys |= {f"features.{index}.weight", f"features.{index}.bias"}
            index += 2
    return keys | {f"classifier.{i}.{kind}" for i in (0, 3, 6) for kind in ("weight", "bias")}


def _load_imagenet_vgg11(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    head = model.get_submodule("classifier.6")
    if not isinstance(head, nn.Linear):
        raise ModelError("the network is not torchvision's vgg11 (its last layer is not linear)")
    state = {key: value for key, value in state.items() if not key.startswith("classifier.6.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelError(f"the weights do not fit torchvision's vgg11 ({exc})") from exc
    if unexpected or set(missing) != {"classifier.6.weight", "classifier.6.bias"}:
        raise ModelError(
            f"the weights do not fit torchvision's vgg11 (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )
    nn.init.normal_(head.weight, 0.0, 0.01)
    nn.init.zeros_(head.bias)


def _freeze_vgg(model: nn.Module, mode: str) -> None:
    if mode == "shallow":
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith("classifier.6.")
        return
    convs = [module for module in model.get_submodule("features").children() if isinstance(module, nn.Conv2d)]
    for conv in convs[:_VGG_FROZEN_CONVS]:
        for parameter in conv.parameters():
            parameter.requires_grad = False


def feature_extractor(model: nn.Module) -> nn.Module:
    """The network up to, not including, its linear head: the penultimate-layer features that
    embeddings use. The result shares the model's modules (no weights are copied) and is in
    eval mode. Each builder puts its head in a known place, so each case is spelled out rather
    than guessed from the module tree."""
    from torchvision.models import VGG, ResNet

    if isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear):
        body = nn.Sequential(*list(model.children())[:-1])
    elif isinstance(model, _VggFromScratch):
        body = nn.Sequential(model.features, model.pool, nn.Flatten())
    elif isinstance(model, VGG):
        body = nn.Sequential(model.features, model.avgpool, nn.Flatten(), *list(model.classifier.children())[:-1])
    elif isinstance(model, ResNet):
        body = nn.Sequential(
            model.conv1,
            model.bn1,
            model.relu,
            model.maxpool,
            model.layer1,
            model.layer2,
            model.layer3,
            model.layer4,
            model.avgpool,
            nn.Flatten(),
        )
    else:
        raise ModelError(f"{type(model).__name__}: no known linear head to take features before")
    return body.eval()


def linear_head(model: nn.Module) -> nn.Linear:
    """The last layer that `feature_extractor` leaves out: `linear_head(model)(features)` gives
    the model's logits, so features and logits come from one pass through the body."""
    from torchvision.models import VGG, ResNet

    if isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear):
        return model[-1]
    if isinstance(model, _VggFromScratch):
        return model.classifier
    if isinstance(model, VGG) and isinstance(model.classifier[-1], nn.Linear):
        return model.classifier[-1]
    if isinstance(model, ResNet):
        return model.fc
    raise ModelError(f"{type(model).__name__}: no known linear head")
