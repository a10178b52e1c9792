"""Several independent networks of one architecture trained as one model, for evaluation.

MTT's evaluation trains K fresh networks on a set of a few images for a thousand epochs: one
step per epoch on a batch of a handful of images, so on a CPU the time goes into the fixed cost
of every kernel rather than arithmetic, K times over. Stacking the K networks' parameters and
running them through `torch.func.vmap` (convolutions become one grouped convolution) pays that
cost once per step for all K. Each network keeps its own initialisation, data order,
augmentation draws and optimiser state, so network k follows the same path as if it were
trained alone with the same generator (to float rounding).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from galaxy_studio.cpu_share import share_cores
from galaxy_studio.distill.augment import augment
from galaxy_studio.distill.fitting import EVAL_BATCH
from galaxy_studio.events import NEVER, CancelToken


class NetBatch:
    """K networks as stacked parameters (leaves an optimiser can step) and one vmapped forward."""

    def __init__(self, nets: list[nn.Module]) -> None:
        if not nets:
            raise ValueError("need at least one network")
        params, buffers = stack_module_state(nets)
        self.params = {name: value.detach().requires_grad_(True) for name, value in params.items()}
        self.buffers = buffers
        self.size = len(nets)
        # A parameterless copy on the meta device: the skeleton functional_call fills in.
        skeleton = copy.deepcopy(nets[0]).to("meta")

        def one(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(skeleton, (params, buffers), (x,))

        self._each = vmap(one)
        self._shared = vmap(one, in_dims=(0, 0, None))

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        """(K, B, classes) logits of (K, B, C, H, W) inputs, network k on inputs[k]."""
        return self._each(self.params, self.buffers, inputs)

    def shared(self, inputs: torch.Tensor) -> torch.Tensor:
        """(K, B, classes) logits of every network on the same (B, C, H, W) inputs."""
        return self._shared(self.params, self.buffers, inputs)


def train_batch_epoch(
    nets: NetBatch,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int,
    strategy: str,
    generators: list[torch.Generator],
    cancel: CancelToken = NEVER,
    on_batch: Callable[[], None] | None = None,
) -> torch.Tensor:
    """One pass of every network over its (N, C, H, W) images (images[k], labels[k]; N the same
    for all) in its own random order; the K mean training losses. Each network draws its order
    and augmentations from generators[k], in the order `fitting.train_epoch` does."""
    count = images.shape[1]
    orders = [torch.randperm(count, generator=generator).to(images.device) for generator in generators]
    total = torch.zeros(nets.size, device=images.device)
    for start in range(0, count, batch_size):
        cancel.raise_if_set()
        share_cores()
        batches = [order[start : start + batch_size] for order in orders]
        inputs = torch.stack(
            [augment(images[k][batch], strategy, generator=generators[k]) for k, batch in enumerate(batches)]
        )
        targets = torch.stack([labels[k][batch] for k, batch in enumerate(batches)])
        logits = nets(inputs)
        losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(0, 1), reduction="none")
        per_net = losses.view(nets.size, -1).mean(dim=1)
        optimizer.zero_grad(set_to_none=True)
        per_net.sum().backward()
        optimizer.step()
        total += per_net.detach() * len(batches[0])
        if on_batch is not None:
            on_batch()
    return total / count


@torch.no_grad()
def batch_accuracies(
    nets: NetBatch, images: torch.Tensor, labels: torch.Tensor, cancel: CancelToken = NEVER
) -> list[float]:
    """Each network's fraction of `images` whose largest logit is their label."""
    correct = torch.zeros(nets.size, dtype=torch.long, device=images.device)
    for start in range(0, len(images), EVAL_BATCH):
        cancel.raise_if_set()
        logits = nets.shared(images[start : start + EVAL_BATCH])
        correct += (logits.argmax(dim=2) == labels[start : start + EVAL_BATCH]).sum(dim=1)
    return [int(value) / max(len(images), 1) for value in correct.tolist()]
