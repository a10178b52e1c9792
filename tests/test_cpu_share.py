"""A job's torch threads follow the cores other programs leave free."""

from __future__ import annotations

import torch

from galaxy_studio import cpu_share
from galaxy_studio.cpu_share import CoreShare, cores_shared, machine_busy_seconds, share_cores


class FakeMachine:
    """A 2-core machine whose other programs keep `others` cores busy while this job uses `own`."""

    def __init__(self) -> None:
        self.now, self.busy, self.mine = 0.0, 0.0, 0.0
        self.others, self.own = 0.0, 1.0
        self.applied: list[int] = []

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.busy += (self.others + self.own) * seconds
        self.mine += self.own * seconds

    def share(self, ceiling: int = 2) -> CoreShare:
        return CoreShare(
            ceiling,
            2,
            interval=2.0,
            clock=lambda: self.now,
            machine=lambda: self.busy,
            own=lambda: self.mine,
            apply=self.applied.append,
        )


def test_threads_drop_to_one_beside_two_busy_programs_and_come_back_when_they_stop() -> None:
    machine = FakeMachine()
    share = machine.share()
    machine.advance(3)
    assert share.adjust() == 2 and machine.applied == []
    machine.others = 2.0
    machine.advance(3)
    assert share.adjust() == 1
    machine.advance(3)
    assert share.adjust() == 1
    machine.others = 0.1
    machine.advance(3)
    assert share.adjust() == 2
    assert machine.applied == [1, 2]


def test_one_busy_program_leaves_one_core() -> None:
    machine = FakeMachine()
    share = machine.share()
    machine.others = 1.0
    machine.advance(2.5)
    assert share.adjust() == 1


def test_no_more_threads_than_the_job_started_with_and_no_reading_before_the_interval() -> None:
    machine = FakeMachine()
    share = machine.share(ceiling=1)
    machine.advance(5)
    assert share.adjust() == 1 and machine.applied == []
    share = machine.share()
    machine.others = 2.0
    machine.advance(1)
    assert share.adjust() == 2 and machine.applied == []


def test_without_a_machine_reading_nothing_changes() -> None:
    applied: list[int] = []
    share = CoreShare(2, 2, machine=lambda: None, apply=applied.append)
    assert share.adjust() == 2 and applied == []


def test_cores_shared_restores_the_thread_count_and_leaves_gpus_alone(monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("GALAXY_STUDIO_CPU_RUNTIME", raising=False)
    before = torch.get_num_threads()
    seen: list[CoreShare | None] = []
    with cores_shared(torch.device("cpu")):
        seen.append(getattr(cpu_share._active, "share", None))
        torch.set_num_threads(1)
        share_cores()
    assert torch.get_num_threads() == before
    assert getattr(cpu_share._active, "share", None) is None
    if machine_busy_seconds() is not None:
        assert isinstance(seen[0], CoreShare) and seen[0].ceiling == before
    with cores_shared(torch.device("meta")):
        assert getattr(cpu_share._active, "share", None) is None


def test_a_fixed_thread_count_is_left_alone(monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with cores_shared(torch.device("cpu")):
        assert getattr(cpu_share._active, "share", None) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("GALAXY_STUDIO_CPU_RUNTIME", "off")
    with cores_shared(torch.device("cpu")):
        assert getattr(cpu_share._active, "share", None) is None
