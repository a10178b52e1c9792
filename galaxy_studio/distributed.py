"""Several processes on one job, as `torchrun` starts them: who this process is among them.

`torchrun --nproc-per-node N -m galaxy_studio COMMAND ...` (or a SLURM script that calls it)
starts N copies of the command with RANK, WORLD_SIZE and LOCAL_RANK in their environment.
The commands that split work (classify, buffer, train) join one process group for the
command's whole run: gloo on the CPU, NCCL when every rank has a GPU. Without those variables
(or with WORLD_SIZE 1) nothing is initialised and every question here answers "one process",
so a single-process run takes exactly the path it took before.

Ranks wait for each other at barriers (the merge of classification parts, the end of a
buffer); a rank that is still working holds the others there, so the group's timeout is
long. When one rank dies, torchrun stops the others and the command's resume rules apply.
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from galaxy_studio.count_text import counted, noun_for
from galaxy_studio.errors import UserError

# How long a rank waits at a barrier for the slowest one: an expert or a shard of a survey
# may take hours; a dead rank ends the wait sooner, since torchrun then stops the group.
_GROUP_TIMEOUT = timedelta(hours=12)


class DistributedError(UserError):
    """The processes of one job cannot work together (they disagree, or the group cannot form)."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: `rank` of `world` processes, and `local_rank` among
    those on this machine (which GPU it takes)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        """Rank 0 writes what the job writes once: merged tables, metrics, checkpoints."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world > 1

    def owns(self, index: int) -> bool:
        """Whether item `index` of a list all ranks see in the same order is this rank's work:
        rank r takes r, r + N, r + 2N, ..., so shards differ in length by one item at most."""
        return index % self.world == self.rank

    def describe(self) -> str:
        return f"rank {self.rank} of {self.world}"


SINGLE = Ranks()


def launched_ranks() -> Ranks:
    """The ranks torchrun's environment describes; one process when it describes none."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise DistributedError(f"torchrun's RANK, WORLD_SIZE or LOCAL_RANK is not a number ({error})") from None
    if world < 1 or not 0 <= rank < world:
        raise DistributedError(f"RANK {rank} does not lie within WORLD_SIZE {world}")
    return Ranks(rank, world, local)


def processes_on_this_machine() -> int:
    """How many of the job's processes torchrun started on this machine (LOCAL_WORLD_SIZE):
    they share its GPUs and cores. One without torchrun, or when the variable is not a number."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    except ValueError:
        return 1


def current_ranks() -> Ranks:
    """The ranks of the process group this process has joined, else one process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return Ranks(dist.get_rank(), dist.get_world_size(), launched_ranks().local_rank)


@contextmanager
def process_group(device: str = "auto") -> Iterator[Ranks]:
    """Join the job's process group for the duration of a command, when torchrun started
    several processes; NCCL when the command runs on CUDA GPUs, gloo otherwise."""
    ranks = launched_ranks()
    if not ranks.several:
        yield SINGLE
        return
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise DistributedError("this build of torch has no torch.distributed, so it cannot run under torchrun")
    on_gpu = device in ("auto", "cuda") and torch.cuda.is_available()
    if device == "cuda" and not on_gpu:
        raise DistributedError("device cuda was asked for but torch sees no CUDA GPU", "use {device} auto or cpu")
    if on_gpu:
        torch.cuda.set_device(_own_gpu(ranks, torch.cuda.device_count()))
    try:
        dist.init_process_group("nccl" if on_gpu else "gloo", timeout=_GROUP_TIMEOUT)
    except (RuntimeError, ValueError) as error:
        raise DistributedError(f"{ranks.describe()} could not join the other processes: {error}") from None
    try:
        yield current_ranks()
        _leave_together()
    finally:
        dist.destroy_process_group()


def _leave_together() -> None:
    """After a command's success, every rank waits for the others before the group is torn
    down: a rank that tore down its gloo pairs while another still sent (or while a dead
    DDP model still held its handles) aborted at exit ("terminate called without an active
    exception"). Not after a failure: a failed rank meeting the others at a barrier of their
    own would let them go on as if it had finished its part."""
    import torch.distributed as dist

    gc.collect()
    dist.barrier()


def _own_gpu(ranks: Ranks, gpus: int) -> int:
    """The GPU of this rank: its local rank. NCCL refuses two ranks on one GPU (and they
    would share its memory), so more processes on a machine than it has GPUs is an error
    named before the group forms."""
    local_world = processes_on_this_machine()
    if max(local_world, ranks.local_rank + 1) > gpus:
        raise DistributedError(
            f"{local_world} processes on this machine would share its {counted(gpus, 'GPU')}; "
            "each needs a GPU of its own",
            f"start at most {gpus} per machine (torchrun --nproc-per-node {gpus}), or run on the CPU "
            "with {device} cpu",
        )
    return ranks.local_rank


def barrier() -> None:
    """Wait until every rank arrives here; nothing to wait for in one process."""
    import torch.distributed as dist

    if current_ranks().several:
        dist.barrier()


def digest(*parts: object) -> str:
    """A short fingerprint of what a rank is about to work on, to compare across ranks."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(repr(part).encode("utf-8", "surrogateescape"))
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


def require_agreement(what: str, fingerprint: str) -> None:
    """Stop every rank, naming `what`, when the ranks do not all see the same `fingerprint`
    (different files on each machine's disk, different arguments): sharding work that the
    ranks see differently would skip some items and repeat others."""
    import torch.distributed as dist

    ranks = current_ranks()
    if not ranks.several:
        return
    seen: list[object] = [None] * ranks.world
    dist.all_gather_object(seen, fingerprint)
    if len(set(seen)) > 1:
        differing = [str(rank) for rank, value in enumerate(seen) if value != seen[0]]
        sees = "sees" if len(differing) == 1 else "see"
        raise DistributedError(
            f"the {ranks.world} processes disagree about {what}: {noun_for(len(differing), 'rank')} "
            f"{', '.join(differing)} {sees} it differently from rank 0",
            "give every process the same command and the same files (shared storage on a cluster)",
        )


def broadcast_from_leader(value: object) -> object:
    """Rank 0's `value` on every rank (a choice made once, e.g. a new run folder's name)."""
    import torch.distributed as dist

    if not current_ranks().several:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
