"""A network's parameters as one flat vector, and back.

Trajectory matching treats a network as a point in parameter space: experts are stored as flat
vectors and the unrolled student steps act on one. Views of a single flat tensor (rather than a
hand-written reparametrisation module) keep every step differentiable with respect to that vector
and let `torch.func.functional_call` run the unchanged network on them.
"""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(net: nn.Module) -> int:
    return sum(parameter.numel() for parameter in net.parameters())


def flat_parameters(net: nn.Module) -> torch.Tensor:
    """A detached float32 copy in `named_parameters()` order, the order experts are stored in."""
    return torch.cat([parameter.detach().reshape(-1).float() for parameter in net.parameters()])


def parameter_dict(net: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """Views of `flat` shaped like each parameter of `net`; gradients of anything computed from
    them flow back into `flat`."""
    named = list(net.named_parameters())
    sizes = [parameter.numel() for _, parameter in named]
    if flat.dim() != 1 or flat.numel() != sum(sizes):
        raise ValueError(
            f"the flat parameter vector has shape {tuple(flat.shape)}, but the network has {sum(sizes)} parameters"
        )
    return {name: piece.view(parameter.shape) for (name, parameter), piece in zip(named, flat.split(sizes))}
