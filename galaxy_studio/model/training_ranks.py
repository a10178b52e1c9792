"""Training as several processes (torchrun): each rank takes a share of every batch.

Every rank builds the same split and draws the same global batches from the same (seed,
epoch) stream as one process does; `_RankShare` hands each rank its contiguous part of each
global batch. A rank's loss is its summed per-image loss over the global batch's total
weight, times the number of ranks: DistributedDataParallel averages the ranks' gradients, so
the step is the one-process step on the whole batch, and the run follows the one-process run
up to rounding (the sums are split differently).

What does not split: batch norm sees each rank's share of a batch, not the whole one. On
CUDA GPUs the network's batch norm layers become SyncBatchNorm, which computes the whole
batch's statistics; gloo on the CPU has no SyncBatchNorm, so there a network with batch norm
(galaxy-cnn, resnet18) trains on per-share statistics and ends slightly differently from one
process. Networks without it (convnet-d3, vgg11) train as in one process; convnext-tiny has
no batch norm but drops blocks at random, from a stream of each rank's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Sampler

from galaxy_studio.count_text import counted
from galaxy_studio.distributed import Ranks
from galaxy_studio.model.errors import ModelError


class _RankShare(Sampler[list[int]]):
    """This rank's part of each batch `batches` yields: the ranks' parts, in rank order, make
    up the batch, and differ in size by one image at most."""

    def __init__(self, batches: BatchSampler, ranks: Ranks) -> None:
        self.batches = batches
        self.ranks = ranks

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self.ranks.rank, self.ranks.world
        for batch in self.batches:
            yield batch[rank * len(batch) // world : (rank + 1) * len(batch) // world]

    def __len__(self) -> int:
        return len(self.batches)


def rank_loader(whole: DataLoader, ranks: Ranks) -> DataLoader:
    """The batches of `whole` cut down to this rank's share. The two loaders share `whole`'s
    sampler and stream, so iterating this one draws the stream as iterating `whole` would:
    `whole` iterated afterwards (the weight average's batch-norm pass) sees what it would
    have seen in one process."""
    if not ranks.several:
        return whole
    assert isinstance(whole.batch_sampler, BatchSampler)
    return DataLoader(whole.dataset, batch_sampler=_RankShare(whole.batch_sampler, ranks), generator=whole.generator)


def require_shares(ranks: Ranks, device: torch.device, images: int, batch_size: int, drops_last: bool) -> None:
    """Refuse, before the run folder is made, what the ranks cannot share: more ranks than
    the smallest batch has images (a rank with nothing to train on would have no loss to
    send its gradients from), and Apple's GPU, for which torch has no process group."""
    if not ranks.several:
        return
    if device.type == "mps":
        raise ModelError(
            "several processes train on CUDA GPUs or on the CPU, not on Apple's GPU (MPS)",
            "use {device} cpu, or start one process without torchrun",
        )
    rest = images % batch_size
    smallest = rest if rest and not drops_last else batch_size
    if ranks.world > smallest:
        raise ModelError(
            f"{ranks.world} processes cannot share a batch of {counted(smallest, 'training image')}",
            "start fewer processes, or change {batch_size} so that every batch has one image per process",
        )


def distributed_network(model: nn.Module, device: torch.device, ranks: Ranks) -> nn.Module:
    """The network each step runs: `model` itself in one process; across ranks, `model`
    wrapped so that the ranks' gradients are averaged (with whole-batch batch norm on CUDA).
    The wrapper shares `model`'s parameters, so the optimiser, the weight average and the
    checkpoints keep working on `model`."""
    if not ranks.several:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)


def seed_rank_stream(seed: int, epoch: int, ranks: Ranks) -> None:
    """Across ranks, seed torch's stream for layers that draw while training (convnext-tiny's
    stochastic depth) by (seed, epoch, rank): ranks seeded alike would drop the same blocks for
    their images, and a stream seeded per epoch resumes without each rank's saved state (the
    checkpoint holds rank 0's). One process keeps its single stream, as before."""
    if not ranks.several:
        return
    import numpy as np

    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, ranks.rank]).generate_state(1, np.uint64)[0] >> 1))


def batch_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None, ranks: Ranks
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss to take the step's gradient of, this rank's part of the global batch's mean
    loss times its image count). In one process: the weighted mean over the batch. Across
    ranks: the rank's weighted sum over the whole batch's weight, times the ranks, which the
    averaging of gradients turns back into the mean's gradient."""
    if not ranks.several:
        loss = F.cross_entropy(logits, labels, weight=weights)
        return loss, loss.detach() * len(labels)
    import torch.distributed as dist

    summed = F.cross_entropy(logits, labels, weight=weights, reduction="sum")
    weight = weights[labels].sum() if weights is not None else torch.tensor(float(len(labels)), device=logits.device)
    totals = torch.stack([weight.detach().float(), torch.tensor(float(len(labels)), device=logits.device)])
    dist.all_reduce(totals)
    total_weight, images = totals[0], totals[1]
    return summed / total_weight * ranks.world, summed.detach() / total_weight * images


def summed_over_ranks(ranks: Ranks, *values: torch.Tensor) -> None:
    """Replace each of `values` (an epoch's summed loss and counts) in place by its sum over
    the ranks: what one process would have summed."""
    if not ranks.several:
        return
    import torch.distributed as dist

    for value in values:
        dist.all_reduce(value)
