"""Training a network on tensors held in memory with SGD and differentiable augmentation.

Experts and evaluation nets are trained the same way (MTT's protocol): the whole image set
sits on the device, each epoch is a seeded permutation, and each batch is augmented by
`augment` with the same generator, so a run is reproducible from its seed alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from galaxy_studio.cpu_share import share_cores
from galaxy_studio.distill.augment import augment
from galaxy_studio.events import NEVER, CancelToken

EVAL_BATCH = 512


def seeded_generator(*key: int) -> torch.Generator:
    """A CPU generator seeded from a tuple of ints (through NumPy's SeedSequence, so that
    nearby keys give unrelated streams)."""
    seed = int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(seed)


def train_epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int,
    strategy: str,
    generator: torch.Generator,
    cancel: CancelToken = NEVER,
    on_batch: Callable[[], None] | None = None,
) -> float:
    """One pass over (images, labels) in a random order; the mean training loss.
    `labels` are class indices or (N, classes) soft labels."""
    net.train()
    order = torch.randperm(len(images), generator=generator).to(images.device)
    # Summed on the device and read once: a read per batch would make the CPU wait for the GPU
    # (float32: Apple's MPS has no float64).
    total = torch.zeros((), device=images.device)
    for start in range(0, len(images), batch_size):
        cancel.raise_if_set()
        share_cores()
        batch = order[start : start + batch_size]
        inputs = augment(images[batch], strategy, generator=generator)
        loss = F.cross_entropy(net(inputs), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(batch)
        if on_batch is not None:
            on_batch()
    return float(total) / len(images)


@torch.no_grad()
def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, cancel: CancelToken = NEVER) -> float:
    """Fraction of `images` whose largest logit is their label (no augmentation)."""
    net.eval()
    correct = 0
    for start in range(0, len(images), EVAL_BATCH):
        cancel.raise_if_set()
        logits = net(images[start : start + EVAL_BATCH])
        correct += int((logits.argmax(dim=1) == labels[start : start + EVAL_BATCH]).sum())
    return correct / max(len(images), 1)
