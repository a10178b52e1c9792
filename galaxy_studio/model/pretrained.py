"""Starting a network from a torchvision weights file the user already has (ImageNet's, or an
encoder fine-tuned elsewhere such as Zoobot's): read it without running code, check that it
is the architecture's, adapt its first convolution to the data and replace its last layer.

Nothing is downloaded: observatories and laptops on a plane are often offline, and a silent
100 MB download is not what a user asked for. The file is read only when a run starts; the
checkpoint holds the trained weights, so `model_from_spec` rebuilds the network without it.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from galaxy_studio.model.architectures import ArchitectureSpec, architecture, model_from_spec
from galaxy_studio.model.errors import ModelError

# Containers that training scripts commonly save a state dict inside.
_WRAPPERS = ("state_dict", "model_state_dict", "model")
# The stride of each stem in torchvision's ImageNet networks, to report the small-image change.
_IMAGENET_STEM_STRIDE = {"vgg11": 1, "resnet18": 2, "convnext-tiny": 4}
# Block counts per stage (and bottleneck blocks or not) of torchvision's ResNets.
_RESNETS: dict[tuple[tuple[int, ...], bool], str] = {
    ((2, 2, 2, 2), False): "ResNet-18",
    ((3, 4, 6, 3), False): "ResNet-34",
    ((3, 4, 6, 3), True): "ResNet-50",
    ((3, 4, 23, 3), True): "ResNet-101",
    ((3, 8, 36, 3), True): "ResNet-152",
}
_CONVNEXTS: dict[tuple[tuple[int, ...], int], str] = {
    ((3, 3, 9, 3), 96): "ConvNeXt-Tiny",
    ((3, 3, 27, 3), 96): "ConvNeXt-Small",
    ((3, 3, 27, 3), 128): "ConvNeXt-Base",
    ((3, 3, 27, 3), 192): "ConvNeXt-Large",
}
_VGGS = {8: "VGG-11", 10: "VGG-13", 13: "VGG-16", 16: "VGG-19"}
# torchvision's name of each architecture and where its ImageNet weights are published.
_TORCHVISION = {
    "vgg11": ("vgg11", "https://download.pytorch.org/models/vgg11-8a719046.pth"),
    "resnet18": ("resnet18", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
    "convnext-tiny": ("convnext_tiny", "https://download.pytorch.org/models/convnext_tiny-983f1562.pth"),
}


@dataclass(frozen=True)
class StartingWeights:
    """Where a run's weights started: the file (name, path, SHA-256), how many tensors were
    taken as they are, what was adapted and what was initialised afresh. `fresh` names the
    modules that learn at the full rate (the new head, a stem whose filters were rebuilt);
    everything else came from the file and is the backbone."""

    file: str
    path: str
    sha256: str
    network: str
    loaded: int
    adapted: tuple[str, ...]
    new: tuple[str, ...]
    fresh: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "path": self.path,
            "sha256": self.sha256,
            "network": self.network,
            "loaded": self.loaded,
            "adapted": list(self.adapted),
            "new": list(self.new),
            "fresh": list(self.fresh),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StartingWeights:
        return cls(
            str(data["file"]),
            str(data["path"]),
            str(data["sha256"]),
            str(data["network"]),
            int(data["loaded"]),
            tuple(data["adapted"]),
            tuple(data["new"]),
            tuple(data["fresh"]),
        )

    def lines(self) -> list[str]:
        """What was loaded, adapted and initialised, a line each, for the run's log."""
        return [
            f"{self.file} (SHA-256 {self.sha256[:12]}…): {self.loaded} tensors of {self.network} loaded",
            *(f"adapted {text}" for text in self.adapted),
            *(f"newly initialised {text}" for text in self.new),
        ]


def _hint(name: str) -> str:
    torchvision_name, url = _TORCHVISION[name]
    return (
        f"pass {{pretrained}} a state dict of torchvision's {torchvision_name} (model.state_dict() saved with "
        f"torch.save; ImageNet's is {url}, to fetch by hand: Galaxy Studio downloads nothing), or train from scratch"
    )


def read_state_dict(path: str | Path, hint: str = "") -> dict[str, torch.Tensor]:
    """The tensors a weights file holds, read with `weights_only` (so that it cannot run
    code), taken out of a {"state_dict": ...} or {"model": ...} record and without the
    "module." prefix that DataParallel adds to every name. `hint` goes with a missing file."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a weights file" if path.is_dir() else "weights file not found"
        raise ModelError(f"{path}: {problem}", hint)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():
            raise ModelError(
                f"{path}: refused: the file asks to build Python objects other than tensors (a whole pickled "
                "model rather than its weights?), and loading those could run code",
                "save model.state_dict() with torch.save and pass that file",
            ) from None
        raise ModelError(f"{path}: not a PyTorch weights file (damaged, or another kind of pickle)") from None
    except (KeyError, IndexError, TypeError):
        raise ModelError(f"{path}: not a PyTorch weights file, or a damaged or truncated one") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        reason = str(exc).split(". ")[0] or type(exc).__name__
        raise ModelError(f"{path}: not a PyTorch weights file, or a damaged or truncated one ({reason})") from None
    state = _unwrapped(loaded)
    if state is None:
        found = (
            f"a record of {', '.join(map(repr, list(loaded)[:5]))}"
            if isinstance(loaded, dict)
            else type(loaded).__name__
        )
        raise ModelError(f"{path}: holds no state dict of named tensors (found {found})")
    prefix = "module."
    if all(key.startswith(prefix) for key in state):
        state = {key[len(prefix) :]: value for key, value in state.items()}
    return state


def _unwrapped(loaded: Any) -> dict[str, torch.Tensor] | None:
    if _is_state(loaded):
        return loaded
    if isinstance(loaded, dict):
        for key in _WRAPPERS:
            if _is_state(loaded.get(key)):
                return loaded[key]
    return None


def _is_state(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in value.items())
    )


def describe_network(state: dict[str, torch.Tensor]) -> str:
    """Which torchvision network a state dict is, from its names and shapes: "a ResNet-50",
    "a ConvNeXt-Tiny", "a VGG-11", or a description of its stages when it is none of these."""
    if "layer1.0.conv1.weight" in state:
        blocks = tuple(_count_blocks(state, rf"layer{stage}\.(\d+)\.") for stage in range(1, 5))
        bottleneck = any(re.match(r"layer\d\.\d+\.conv3\.", key) for key in state)
        return "a " + _RESNETS.get((blocks, bottleneck), f"ResNet with {blocks} {'bottleneck ' * bottleneck}blocks")
    if "features.1.0.block.0.weight" in state and "features.0.0.weight" in state:
        blocks = tuple(_count_blocks(state, rf"features\.{stage}\.(\d+)\.block\.") for stage in (1, 3, 5, 7))
        width = int(state["features.0.0.weight"].shape[0])
        name = _CONVNEXTS.get((blocks, width), f"ConvNeXt with {blocks} blocks, {width} channels in its first stage")
        return "a " + name
    if "features.0.weight" in state and "classifier.6.weight" in state:
        convs = sum(1 for key, value in state.items() if key.startswith("features.") and value.dim() == 4)
        return "a " + _VGGS.get(convs, f"VGG with {convs} convolutions")
    return "an unrecognised network"


def _count_blocks(state: dict[str, torch.Tensor], pattern: str) -> int:
    indices = {int(match.group(1)) for key in state if (match := re.match(pattern, key))}
    return max(indices) + 1 if indices else 0


@dataclass(frozen=True)
class _Parts:
    """The stem and head module names of a fine-tunable architecture."""

    stem: str
    head: str


def _parts(name: str) -> _Parts:
    arch = architecture(name)
    if arch.stem is None or arch.head is None or name not in _TORCHVISION:
        able = ", ".join(_TORCHVISION)
        raise ModelError(f"{name} cannot start from a weights file; {able} can", "choose one of those as {arch}")
    return _Parts(arch.stem, arch.head)


def start_from_file(spec: ArchitectureSpec, path: str | Path) -> tuple[nn.Module, StartingWeights]:
    """The network of `spec` in its pretrained layout, its weights from `path`: the stem's
    filters adapted to the data's channels, the head new for `spec.n_classes`."""
    parts = _parts(spec.name)
    state = read_state_dict(path, _hint(spec.name))  # a wrong file is reported before the network is built
    spec = ArchitectureSpec(spec.name, spec.n_classes, spec.in_channels, spec.size, spec.width, "torchvision")
    model = model_from_spec(spec)
    return model, _load(model, parts, spec, state, Path(path))


def check_weights_file(name: str, path: str | Path, *, size: int, width: int | None = None) -> StartingWeights:
    """What starting `name` from `path` would load, adapt and initialise, for 3-channel data
    and two classes (neither changes what fits), or the error a run would stop with. The
    network is built on the meta device, so checking allocates no weights."""
    parts = _parts(name)
    state = read_state_dict(path, _hint(name))
    spec = ArchitectureSpec(name, 2, 3, size, width, "torchvision")
    with torch.device("meta"):
        model = model_from_spec(spec)
    return _report(model, parts, spec, state, Path(path))


def _load(
    model: nn.Module, parts: _Parts, spec: ArchitectureSpec, state: dict[str, torch.Tensor], path: Path
) -> StartingWeights:
    report = _report(model, parts, spec, state, path)
    stem, head = f"{parts.stem}.weight", f"{parts.head}."
    body = {key: value for key, value in state.items() if not key.startswith(head)}
    body[stem] = _stem_filters(body[stem], spec.in_channels)
    # The names were compared by _report: only the head, built afresh with the network, is left out.
    model.load_state_dict(body, strict=False)
    return report


def _stem_filters(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """The first convolution's filters for `channels` input channels. Other counts than the
    file's get the sum of its filters over the file's channels, divided among the new ones:
    an image equal in every band then excites each filter as the same grey image did in
    RGB, so the layers after it see activations of the size they learned on."""
    if weight.shape[1] == channels:
        return weight
    return weight.sum(dim=1, keepdim=True).repeat(1, channels, 1, 1) / channels


def _report(
    model: nn.Module, parts: _Parts, spec: ArchitectureSpec, state: dict[str, torch.Tensor], path: Path
) -> StartingWeights:
    """Compare the file's tensors with the network's, refusing a mismatch with what each is."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    head, stem = f"{parts.head}.", f"{parts.stem}.weight"
    body = {key for key in expected if not key.startswith(head)}
    given = {key for key in state if not key.startswith(head)}
    missing = sorted(key for key in body - given if not key.endswith("num_batches_tracked"))
    unexpected = sorted(given - body)
    if missing or unexpected:
        details = "; ".join(
            text
            for text in (
                f"missing {_some(missing)}" if missing else "",
                f"not in {spec.name}: {_some(unexpected)}" if unexpected else "",
            )
            if text
        )
        raise ModelError(
            f"{path}: holds {_tensors(len(state))} of {describe_network(state)}; {spec.name} expects the "
            f"{len(expected)} tensors of {describe_network(model.state_dict())} ({details})",
            _hint(spec.name),
        )
    wrong = [key for key in expected if key in given and not _fits(key, tuple(state[key].shape), expected[key], stem)]
    if wrong:
        first = wrong[0]
        more = f" and {len(wrong) - 1} more tensors differ" if len(wrong) > 1 else ""
        raise ModelError(
            f"{path}: {first} has shape {tuple(state[first].shape)} in the file but {expected[first]} in "
            f"{spec.name}{more} (the file holds {describe_network(state)}{_width_note(spec)})",
            _hint(spec.name),
        )
    adapted, fresh = [], [parts.head]
    channels = int(state[stem].shape[1])
    if channels != spec.in_channels:
        adapted.append(
            f"{parts.stem}: the file's {channels}-channel filters summed and shared among the data's "
            f"{spec.in_channels} channel{'s' * (spec.in_channels != 1)}"
        )
        fresh.insert(0, parts.stem)
    stem_layer = model.get_submodule(parts.stem)
    stride = stem_layer.stride[0] if isinstance(stem_layer, nn.Conv2d) else 1
    if stride != _IMAGENET_STEM_STRIDE[spec.name]:
        adapted.append(
            f"{parts.stem}: stride {stride} instead of ImageNet's {_IMAGENET_STEM_STRIDE[spec.name]}, "
            f"for {spec.size} px images"
        )
    classes = state.get(f"{parts.head}.weight")
    dropped = "" if classes is None else f" (the file's {classes.shape[0]}-class head left out)"
    return StartingWeights(
        path.name,
        str(path.resolve()),
        _sha256(path),
        describe_network(state),
        len(body & given),
        tuple(adapted),
        (f"{parts.head}: {spec.n_classes} classes{dropped}",),
        tuple(fresh),
    )


def _fits(key: str, found: tuple[int, ...], wanted: tuple[int, ...], stem: str) -> bool:
    """Equal shapes; for the stem's filters, equal but for the input channels, which adapt."""
    if key == stem:
        return len(found) == len(wanted) and found[:1] + found[2:] == wanted[:1] + wanted[2:]
    return found == wanted


def _tensors(count: int) -> str:
    return f"{count} tensor{'s' * (count != 1)}"


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def _width_note(spec: ArchitectureSpec) -> str:
    return f"; this run builds width {spec.width}" if spec.width is not None else ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parameter_groups(
    model: nn.Module, fresh: tuple[str, ...], lr: float, backbone_lr_scale: float
) -> list[dict[str, Any]]:
    """AdamW's parameter groups for fine-tuning: the `fresh` modules' parameters at `lr`
    first (so the history's learning rate is theirs), then the backbone's at
    `lr * backbone_lr_scale`. A scale of 0 freezes the backbone instead: its parameters get
    no gradient and are left out."""
    own, backbone = [], []
    for name, parameter in model.named_parameters():
        if any(name == module or name.startswith(f"{module}.") for module in fresh):
            own.append(parameter)
        elif backbone_lr_scale == 0:
            parameter.requires_grad = False
        else:
            backbone.append(parameter)
    groups: list[dict[str, Any]] = [{"params": own, "lr": lr}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * backbone_lr_scale})
    return groups
