"""How the ranks cut up a training epoch, without starting processes: their shares of each
batch make up the one-process batch, the stream is drawn as in one process, and random
layers draw from a stream per rank and epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from galaxy_studio.distributed import Ranks
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.training import training_loader
from galaxy_studio.model.training_ranks import rank_loader, require_shares, seed_rank_stream
from tests.conftest import tiny_config


class _Numbered(Dataset[int]):
    """Image i is the number i, so that batches show which images they hold."""

    def __init__(self, images: int) -> None:
        self.labels = np.arange(images) % 3

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> int:
        return index


def _batches(loader: object) -> list[list[int]]:
    return [batch.tolist() for batch in loader]  # type: ignore[attr-defined]


@pytest.mark.parametrize("balance", ["loss", "sampler"])
def test_rank_shares_make_up_the_batches_of_one_process(balance: str) -> None:
    config = tiny_config(Path("data"), Path("run"), batch_size=16, balance=balance)
    images = _Numbered(66)
    alone = _batches(training_loader(images, config, 3))  # type: ignore[arg-type]
    shares = [_batches(rank_loader(training_loader(images, config, 3), Ranks(r, 2, r))) for r in range(2)]  # type: ignore[arg-type]
    assert [len(batch) for batch in alone] == [16, 16, 16, 16, 2]
    assert [first + second for first, second in zip(*shares)] == alone
    assert all(abs(len(first) - len(second)) <= 1 for first, second in zip(*shares))


def test_after_its_share_the_whole_loader_goes_on_as_in_one_process() -> None:
    """The weight average's batch-norm pass iterates the loader a second time, on rank 0 only."""
    config = tiny_config(Path("data"), Path("run"), batch_size=16)
    images = _Numbered(66)
    alone = training_loader(images, config, 2)  # type: ignore[arg-type]
    _batches(alone)
    whole = training_loader(images, config, 2)  # type: ignore[arg-type]
    _batches(rank_loader(whole, Ranks(1, 2, 1)))
    assert _batches(whole) == _batches(alone)


def test_more_ranks_than_the_smallest_batch_holds_are_refused() -> None:
    cpu = torch.device("cpu")
    require_shares(Ranks(0, 2, 0), cpu, 66, 16, drops_last=False)
    require_shares(Ranks(0, 16, 0), cpu, 65, 16, drops_last=True)  # the batch of one is left out
    with pytest.raises(ModelError, match="3 processes cannot share a batch of 2 training images"):
        require_shares(Ranks(0, 3, 0), cpu, 66, 16, drops_last=False)
    with pytest.raises(ModelError, match="Apple's GPU"):
        require_shares(Ranks(0, 2, 0), torch.device("mps"), 66, 16, drops_last=False)


def test_random_layers_draw_per_rank_and_epoch_and_one_process_keeps_its_stream() -> None:
    def draws(ranks: Ranks, epoch: int) -> list[float]:
        torch.manual_seed(7)
        seed_rank_stream(5, epoch, ranks)
        return torch.rand(3).tolist()

    first, second = Ranks(0, 2, 0), Ranks(1, 2, 1)
    assert draws(first, 1) == draws(first, 1), "a resumed epoch draws again what it drew"
    assert draws(first, 1) != draws(second, 1) and draws(first, 1) != draws(first, 2)
    torch.manual_seed(7)
    unseeded = torch.rand(3).tolist()
    assert draws(Ranks(), 1) == unseeded
