"""The networks a user can train, by name, and how each is rebuilt from a checkpoint.

A checkpoint records an `ArchitectureSpec` (plain fields only), so `model_from_spec`
must rebuild exactly the same module tree from it without fetching any weights.
torchvision is imported only by the builders that need it: it costs seconds to import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from galaxy_studio.model.dihedral import DihedralPooling
from galaxy_studio.model.errors import ModelError

# VGG11 configuration "A": eight 3x3 convolutions, "M" = 2x2 max pooling.
_VGG11_LAYOUT: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
# `ArchitectureSpec.pretrained`: the module tree of a network started from a torchvision
# weights file. "deep" and "shallow" are what checkpoints of fine-tuned vgg11 recorded before
# the file became the setting; they name the same tree.
PRETRAINED_LAYOUTS: tuple[str, ...] = ("torchvision", "deep", "shallow")
# galaxy-cnn-d4's channels per layer: its trunk runs 8 times per image.
D4_WIDTH = 8
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class ArchitectureSpec:
    """Everything needed to rebuild a network's module tree (not its weights). `pretrained`
    is None or one of PRETRAINED_LAYOUTS: the tree a torchvision weights file loads into."""

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
    """A network by name. `stem` and `head` name the first convolution and the last linear
    layer in torchvision's layout; an architecture with them can start from a torchvision
    weights file (the stem adapted to the data's channels, the head replaced). What each is, in
    a line, is config.ARCHITECTURE_SUMMARIES (torch-free, for the GUI and the CLI's help)."""

    name: str
    default_width: int
    build: Callable[[ArchitectureSpec], nn.Module]
    stem: str | None = None
    head: str | None = None


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
    """From scratch, the narrow net above; from a weights file, torchvision's vgg11 itself
    (its 4096-wide head kept, as the file holds it) with a new last layer."""
    if spec.pretrained is None:
        return _VggFromScratch(spec)
    from torchvision.models import vgg11

    model = vgg11(weights=None)
    model.features[0] = nn.Conv2d(spec.in_channels, 64, 3, padding=1)
    model.classifier[6] = nn.Linear(model.classifier[6].in_features, spec.n_classes)
    return model


def _resnet18(spec: ArchitectureSpec) -> nn.Module:
    """torchvision's ResNet-18 whose stem brings any input to about 32 px before layer1, as
    the ImageNet stem does for 128 px: the full stem would leave 2x2 maps from 64 px cutouts.
    From scratch a small image gets a 3x3 stem; from a weights file the stem keeps the
    file's 7x7 kernel (its filters are the most reusable ones) and only its stride changes."""
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=spec.n_classes)
    stride = 2 if spec.size >= 128 else 1
    if spec.pretrained is not None or spec.size >= 128:
        model.conv1 = nn.Conv2d(spec.in_channels, 64, 7, stride=stride, padding=3, bias=False)
    else:
        model.conv1 = nn.Conv2d(spec.in_channels, 64, 3, stride=1, padding=1, bias=False)
    if spec.size < 64:
        model.maxpool = nn.Identity()
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def _convnext_tiny(spec: ArchitectureSpec) -> nn.Module:
    """torchvision's ConvNeXt-Tiny (stage depths 3, 3, 9, 3). Its 4x4 stem has stride 4, which
    brings a 128 px image to 32 px; at 64 px it steps by 2 and below by 1, so that the last
    stage still sees more than one pixel. `width` is the first stage's channels (96 as
    ImageNet's; the later stages double it), so a small variant can stand in for it in tests."""
    from functools import partial

    from torchvision.models.convnext import CNBlockConfig, ConvNeXt, LayerNorm2d

    width = spec.width or 96
    stages = [CNBlockConfig(width, 2 * width, 3), CNBlockConfig(2 * width, 4 * width, 3)]
    stages += [CNBlockConfig(4 * width, 8 * width, 9), CNBlockConfig(8 * width, None, 3)]
    model = ConvNeXt(stages, stochastic_depth_prob=0.1, num_classes=spec.n_classes)
    stride = 4 if spec.size >= 128 else 2 if spec.size >= 64 else 1
    model.features[0][0] = nn.Conv2d(spec.in_channels, width, 4, stride=stride, padding={4: 0, 2: 1, 1: 2}[stride])
    model.features[0][1] = partial(LayerNorm2d, eps=1e-6)(width)
    return model


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture("galaxy-cnn", 32, _galaxy_cnn),
        Architecture("galaxy-cnn-d4", D4_WIDTH, _galaxy_cnn_d4),
        Architecture("vgg11", 32, _vgg11, "features.0", "classifier.6"),
        Architecture("convnet-d3", 128, _convnet_d3),
        Architecture("resnet18", 64, _resnet18, "conv1", "fc"),
        Architecture("convnext-tiny", 96, _convnext_tiny, "features.0.0", "classifier.2"),
    )
}


def model_from_spec(spec: ArchitectureSpec) -> nn.Module:
    """The untrained module tree for `spec` (weights are loaded afterwards, never fetched here)."""
    return _checked(spec).build(spec)


def architecture(name: str) -> Architecture:
    """The registry's entry for `name`, or a clear error listing the names there are."""
    arch = ARCHITECTURES.get(name)
    if arch is None:
        raise ModelError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    return arch


def _checked(spec: ArchitectureSpec) -> Architecture:
    arch = architecture(spec.name)
    if spec.pretrained is not None and arch.head is None:
        pretrainable = ", ".join(name for name, entry in ARCHITECTURES.items() if entry.head is not None)
        raise ModelError(f"{spec.name} cannot start from a weights file; {pretrainable} can")
    if spec.pretrained not in (None, *PRETRAINED_LAYOUTS):
        raise ModelError(f"pretrained must be one of {', '.join(PRETRAINED_LAYOUTS)}, got {spec.pretrained!r}")
    if spec.n_classes < 2 or spec.in_channels < 1 or spec.size < 8:
        raise ModelError(
            f"need at least 2 classes, 1 channel and 8 px (got {spec.n_classes}, {spec.in_channels}, {spec.size})"
        )
    return arch


def build_model(
    name: str,
    *,
    n_classes: int,
    in_channels: int,
    size: int,
    width: int | None = None,
) -> nn.Module:
    """A network ready to train from scratch (model/pretrained.py starts one from a file)."""
    spec = ArchitectureSpec(name, n_classes, in_channels, size, width)
    return _checked(spec).build(spec)


def has_batch_norm(model: nn.Module) -> bool:
    """Distillation unrolls must not depend on batch statistics; this says whether they would."""
    return any(isinstance(module, _BATCH_NORMS) for module in model.modules())


def feature_extractor(model: nn.Module) -> nn.Module:
    """The network up to, not including, its linear head: the penultimate-layer features that
    embeddings use. The result shares the model's modules (no weights are copied) and is in
    eval mode. Each builder puts its head in a known place, so each case is spelled out rather
    than guessed from the module tree."""
    from torchvision.models import VGG, ConvNeXt, ResNet

    if isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear):
        body = nn.Sequential(*list(model.children())[:-1])
    elif isinstance(model, ConvNeXt):
        body = nn.Sequential(model.features, model.avgpool, *list(model.classifier.children())[:-1])
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
    from torchvision.models import VGG, ConvNeXt, ResNet

    if isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear):
        return model[-1]
    if isinstance(model, ConvNeXt) and isinstance(model.classifier[-1], nn.Linear):
        return model.classifier[-1]
    if isinstance(model, _VggFromScratch):
        return model.classifier
    if isinstance(model, VGG) and isinstance(model.classifier[-1], nn.Linear):
        return model.classifier[-1]
    if isinstance(model, ResNet):
        return model.fc
    raise ModelError(f"{type(model).__name__}: no known linear head")
