"""The job bridge: events arrive in order, snapshots are coalesced (memory stays flat and the
GUI takes at most ~10 a second, the last one always), pause parks a job and cancel frees it."""

from __future__ import annotations

import gc
import time

import numpy as np
import psutil

from galaxy_studio.events import CancelToken, EventSink, MetricLogged, SnapshotTaken
from galaxy_studio.gui.worker import SNAPSHOTS_PER_SECOND, EventMailbox, JobRunner

SNAPSHOTS = 20_000
PICTURES = (64, 16, 16, 3)  # 48 kB a snapshot: 20,000 kept would be about 1 GB


def test_mailbox_keeps_only_the_latest_snapshot_and_every_other_event() -> None:
    mailbox = EventMailbox()
    assert mailbox.put(MetricLogged("loss", 1, 1.0)) is True
    assert mailbox.put(MetricLogged("loss", 2, 0.5)) is False, "the GUI was already woken"
    for step in range(3):
        assert mailbox.put(SnapshotTaken(step, np.zeros((1, 2, 2, 3), np.uint8), np.zeros(1))) is False
    assert [event.step for event in mailbox.take_events()] == [1, 2]
    assert mailbox.take_snapshot().step == 2
    assert mailbox.take_snapshot() is None and mailbox.take_events() == []


def test_twenty_thousand_snapshots_keep_memory_flat(qtbot) -> None:  # noqa: ANN001
    runner = JobRunner()
    snapshots: list[int] = []
    metrics: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, SnapshotTaken):
            snapshots.append(event.step)
        else:
            metrics.append(event.step)

    runner.event.connect(on_event)

    def job(emit: EventSink, cancel: CancelToken) -> int:
        for step in range(SNAPSHOTS):
            cancel.raise_if_set()
            emit(MetricLogged("loss", step, 1.0 / (step + 1)))
            emit(SnapshotTaken(step, np.full(PICTURES, step % 256, np.uint8), np.arange(PICTURES[0])))
        return SNAPSHOTS

    process = psutil.Process()
    before = process.memory_info().rss
    began = time.perf_counter()
    with qtbot.waitSignal(runner.finished, timeout=120_000):
        runner.start(job)
    seconds = time.perf_counter() - began
    growth_mb = (process.memory_info().rss - before) / 2**20
    print(f"\n{SNAPSHOTS} snapshots in {seconds:.1f} s: RSS {before / 2**20:.0f} MB -> "
          f"{process.memory_info().rss / 2**20:.0f} MB ({growth_mb:+.1f} MB); GUI took {len(snapshots)}")
    assert growth_mb < 60, f"memory grew {growth_mb:.0f} MB over {SNAPSHOTS} snapshots"
    assert metrics == list(range(SNAPSHOTS)), "every metric arrives, in order"
    assert snapshots[-1] == SNAPSHOTS - 1, "the last snapshot always reaches the GUI"
    assert len(snapshots) <= seconds * SNAPSHOTS_PER_SECOND + 2
    assert snapshots == sorted(snapshots)


def test_pause_parks_the_job_and_cancel_releases_it(qtbot) -> None:  # noqa: ANN001
    runner = JobRunner()
    seen: list[int] = []
    runner.event.connect(lambda event: seen.append(event.step))

    def job(emit: EventSink, cancel: CancelToken) -> None:
        step = 0
        while True:
            cancel.raise_if_set()
            emit(MetricLogged("loss", step, 0.0))
            step += 1
            time.sleep(0.002)

    runner.start(job)
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=10_000)
    with qtbot.waitSignal(runner.paused_changed, timeout=10_000) as paused:
        runner.pause()
    assert paused.args == [True] and runner.paused
    qtbot.wait(100)
    count = len(seen)
    qtbot.wait(300)
    assert len(seen) == count, "a parked job emits nothing"
    runner.resume()
    assert not runner.paused
    qtbot.waitUntil(lambda: len(seen) > count + 5, timeout=10_000)
    runner.pause()
    qtbot.waitUntil(lambda: runner.paused, timeout=10_000)
    with qtbot.waitSignal(runner.cancelled, timeout=10_000):
        runner.cancel()
    qtbot.waitUntil(lambda: not runner.running, timeout=10_000)
    assert not runner.paused


def test_objects_alive_at_a_jobs_first_event_leave_the_collectors_walk(qtbot) -> None:  # noqa: ANN001
    """A full collection walks every tracked object while all threads wait; objects frozen
    when the job's first events arrive (its imports done) are not walked again."""
    runner = JobRunner()
    kept: list[list[int]] = []

    def job(emit: EventSink, cancel: CancelToken) -> None:
        kept.extend([step] for step in range(5000))
        emit(MetricLogged("loss", 0, 1.0))

    before = gc.get_freeze_count()
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(job)
    assert gc.get_freeze_count() >= before + len(kept)
