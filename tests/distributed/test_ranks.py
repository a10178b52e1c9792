"""Who a process is under torchrun, and the commands that refuse to run as several processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from galaxy_studio.distributed import (
    SINGLE,
    DistributedError,
    Ranks,
    current_ranks,
    digest,
    launched_ranks,
    process_group,
    require_agreement,
)
from tests.distributed.torchrun import torchrun


def test_without_torchrun_a_process_is_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launched_ranks() == SINGLE
    assert current_ranks() == SINGLE
    require_agreement("the inputs", "anything")


def test_torchrun_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched_ranks() == Ranks(3, 4, 1)


@pytest.mark.parametrize(("rank", "world"), [("2", "2"), ("x", "2"), ("0", "0")])
def test_an_impossible_environment_is_named(monkeypatch: pytest.MonkeyPatch, rank: str, world: str) -> None:
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", world)
    with pytest.raises(DistributedError, match="RANK|WORLD_SIZE"):
        launched_ranks()


def test_shards_cover_every_item_once() -> None:
    ranks = [Ranks(rank, 3, rank) for rank in range(3)]
    owners = [[r.rank for r in ranks if r.owns(index)] for index in range(10)]
    assert all(len(owner) == 1 for owner in owners)
    assert [sum(r.owns(index) for index in range(10)) for r in ranks] == [4, 3, 3]


def test_digest_tells_inputs_apart() -> None:
    assert digest("a", 1) == digest("a", 1)
    assert digest("a", 1) != digest("a", 2)
    assert digest("ab", "") != digest("a", "b")


def test_a_single_process_command_refuses_to_run_as_two(tmp_path: Path) -> None:
    result = torchrun(["inspect", str(tmp_path)], home=tmp_path / "home")
    assert result.returncode != 0
    # torchrun stops the other rank as soon as one fails, so only one may get to print.
    assert re.search(r"rank [01]: error: inspect runs in one process", result.stderr)


def test_more_ranks_than_gpus_on_a_machine_is_refused_before_the_group_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DistributedError) as caught, process_group("auto"):
        pass
    assert "2 processes on this machine would share its 1 GPU;" in caught.value.text()
    assert "--nproc-per-node 1" in caught.value.text()
    assert not current_ranks().several
