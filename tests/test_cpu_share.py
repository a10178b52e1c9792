"""A job's torch threads follow the cores other programs leave free."""

from __future__ import annotations

import torch

from galaxy_studio import cpu_share
from galaxy_studio.cpu_share import MIN_STEPS, CoreShare, ThreadProbe, cores_shared, machine_busy_seconds, share_cores


class FakeMachine:
    """A 2-core machine whose other programs keep `others` cores busy while this job uses `own`;
    the job's step takes `step[threads]` seconds at each thread count."""

    def __init__(self, step: dict[int, float] | None = None) -> None:
        self.now, self.busy, self.mine = 0.0, 0.0, 0.0
        self.others, self.own = 0.0, 1.0
        self.step = step or {1: 0.1, 2: 0.1}
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

    def run(self, share: CoreShare, seconds: float) -> int:
        """Steps of the job for `seconds`, each at the thread count then in force."""
        until = self.now + seconds
        while self.now < until:
            self.advance(self.step[share.threads])
            share.adjust()
        return share.threads


def test_threads_drop_to_one_beside_two_busy_programs_and_come_back_when_they_stop() -> None:
    machine = FakeMachine()
    share = machine.share()
    assert machine.run(share, 10) == 2, "one thread was no faster, so the job keeps two"
    assert machine.applied == [1, 2]
    machine.others = 2.0
    assert machine.run(share, 3) == 1
    assert machine.run(share, 3) == 1
    machine.others = 0.1
    assert machine.run(share, 3) == 2
    assert machine.applied == [1, 2, 1, 2]


def test_one_busy_program_leaves_one_core() -> None:
    machine = FakeMachine()
    share = machine.share()
    machine.others = 1.0
    assert machine.run(share, 2.5) == 1


def test_fewer_threads_are_kept_when_the_job_runs_faster_on_them() -> None:
    """Seen: the demo distillation ran 1.8x slower on two threads than on one."""
    machine = FakeMachine({1: 0.1, 2: 0.18})
    share = machine.share()
    assert machine.run(share, 30) == 1
    assert machine.applied == [1]
    machine.others = 2.0
    assert machine.run(share, 5) == 1
    machine.others = 0.0
    assert machine.run(share, 5) == 1, "an idle machine does not bring back the slower count"


def test_more_threads_are_kept_when_they_are_faster() -> None:
    machine = FakeMachine({1: 0.1, 2: 0.06})
    share = machine.share()
    assert machine.run(share, 30) == 2
    assert machine.applied == [1, 2]


def test_a_busy_window_times_nothing_and_the_probe_waits_for_a_quiet_machine() -> None:
    machine = FakeMachine({1: 0.1, 2: 0.18})
    share = machine.share()
    machine.others = 2.0
    assert machine.run(share, 20) == 1, "the busy-cores rule holds while the machine is busy"
    assert share.ceiling == 2, "nothing chosen from busy windows"
    machine.others = 0.0
    assert machine.run(share, 30) == 1
    assert share.ceiling == 1


def test_the_probe_halves_the_count_and_stops_at_the_first_slower_one() -> None:
    probe = ThreadProbe(16)
    assert probe.candidates == [16, 8, 4, 2, 1]
    medians = {16: 0.5, 8: 0.3, 4: 0.2, 2: 0.25, 1: 0.1}
    assert probe.close_window() == 16, "the warm-up window is not timed"
    tried = []
    while True:
        for _ in range(MIN_STEPS):
            probe.record(medians[probe.count])
        tried.append(probe.count)
        if probe.close_window() is None:
            break
    assert tried == [16, 8, 4, 2] and probe.best == 4


def test_a_window_waits_for_enough_steps() -> None:
    machine = FakeMachine({1: 3.0, 2: 3.0})
    share = machine.share()
    machine.run(share, 2 * (MIN_STEPS - 1) * 3.0)
    assert machine.applied == [], "no window closed on fewer steps than its median needs"


def test_no_more_threads_than_the_job_started_with_and_no_reading_before_the_interval() -> None:
    machine = FakeMachine()
    share = machine.share(ceiling=1)
    assert machine.run(share, 5) == 1 and machine.applied == []
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
