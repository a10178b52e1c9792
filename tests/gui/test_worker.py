"""The job bridge: a start returns a handle and each job reports to its own callbacks, in the
GUI thread, with its own result; events arrive in order, snapshots are coalesced (memory
stays flat and the GUI takes at most ~10 a second, the last one always), pause parks a job
and cancel frees it; a preview runner delivers only the newest request's result; every
progress bar and Cancel button follows its runner."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
import psutil
import pytest
from PySide6.QtWidgets import QVBoxLayout, QWidget

from galaxy_studio.events import CancelToken, EventSink, MetricLogged, Progressed, SnapshotTaken
from galaxy_studio.gui import worker
from galaxy_studio.gui.widgets.job_progress import JobProgress, JobProgressRow
from galaxy_studio.gui.worker import SNAPSHOTS_PER_SECOND, EventMailbox, JobRunner, LatestRequestRunner

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
        runner.start(job, on_success=lambda _count: None, on_failure=pytest.fail)
    seconds = time.perf_counter() - began
    growth_mb = (process.memory_info().rss - before) / 2**20
    print(
        f"\n{SNAPSHOTS} snapshots in {seconds:.1f} s: RSS {before / 2**20:.0f} MB -> "
        f"{process.memory_info().rss / 2**20:.0f} MB ({growth_mb:+.1f} MB); GUI took {len(snapshots)}"
    )
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

    cancelled: list[bool] = []
    handle = runner.start(
        job, on_success=lambda _none: None, on_failure=pytest.fail, on_cancel=lambda: cancelled.append(True)
    )
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=10_000)
    with qtbot.waitSignal(runner.paused_changed, timeout=10_000) as paused:
        runner.pause()
    assert paused.args == [True] and runner.paused and handle.paused
    qtbot.wait(100)
    count = len(seen)
    qtbot.wait(300)
    assert len(seen) == count, "a parked job emits nothing"
    runner.resume()
    assert not runner.paused
    qtbot.waitUntil(lambda: len(seen) > count + 5, timeout=10_000)
    runner.pause()
    qtbot.waitUntil(lambda: runner.paused, timeout=10_000)
    handle.cancel()
    qtbot.waitUntil(lambda: cancelled == [True], timeout=10_000)
    qtbot.waitUntil(lambda: not runner.running, timeout=10_000)
    assert not runner.paused and not handle.running


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
        runner.start(job, on_success=lambda _none: None, on_failure=pytest.fail)
    assert gc.get_freeze_count() >= before + len(kept)


class _InACycle:
    """A stand-in for what a cancelled training leaves: its model and tensors held in a reference
    cycle through the Cancelled exception's traceback, freed only by a collection."""

    def __init__(self) -> None:
        self.me = self


def test_what_a_cancelled_job_left_in_a_cycle_is_freed_not_frozen_by_the_next_job(qtbot) -> None:  # noqa: ANN001
    """gc.freeze moves every tracked object out of the collector's reach, garbage not yet
    collected included: what a cancelled training left in a cycle and the collector had not yet
    reached froze when the next job started and stayed in memory until the application quit."""
    runner = JobRunner()
    left: list[weakref.ref[_InACycle]] = []
    delivered = threading.Event()

    def cancelled_job(emit: EventSink, cancel: CancelToken) -> None:
        emit(MetricLogged("loss", 0, 1.0))
        assert delivered.wait(10)
        left.append(weakref.ref(_InACycle()))
        while True:
            cancel.raise_if_set()
            time.sleep(0.002)

    def next_job(emit: EventSink, cancel: CancelToken) -> None:
        emit(MetricLogged("loss", 0, 1.0))

    collecting = gc.isenabled()
    gc.disable()
    try:
        handle = runner.start(
            cancelled_job,
            on_success=lambda _none: None,
            on_failure=pytest.fail,
            on_event=lambda _event: delivered.set(),
        )
        qtbot.waitUntil(lambda: bool(left), timeout=10_000)
        with qtbot.waitSignal(runner.finished, timeout=10_000):
            handle.cancel()
        assert left[0]() is not None, "only a collection frees a cycle"
        with qtbot.waitSignal(runner.finished, timeout=10_000):
            runner.start(next_job, on_success=lambda _none: None, on_failure=pytest.fail)
        gc.collect()
        assert left[0]() is None
    finally:
        if collecting:
            gc.enable()


@dataclass(frozen=True)
class Measured:
    total: float
    steps: int


def in_gui_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def test_a_start_returns_a_handle_and_success_reaches_its_callback_with_the_typed_result(qtbot) -> None:  # noqa: ANN001
    runner = JobRunner()
    calls: list[tuple[str, object, bool]] = []

    def job(emit: EventSink, cancel: CancelToken) -> Measured:
        assert not in_gui_thread()
        for step in range(3):
            emit(MetricLogged("loss", step, float(step)))
        return Measured(total=3.0, steps=3)

    def on_success(result: Measured) -> None:
        calls.append(("success", result, in_gui_thread()))
        assert runner.running, "the callback comes before the thread's end"

    runner.finished.connect(lambda: calls.append(("finished", None, in_gui_thread())))
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        handle = runner.start(
            job,
            on_success=on_success,
            on_failure=pytest.fail,
            on_cancel=lambda: pytest.fail("not cancelled"),
            on_event=lambda event: calls.append(("event", event.step, in_gui_thread())),
        )
        assert handle.running and runner.running
    assert calls == [
        ("event", 0, True),
        ("event", 1, True),
        ("event", 2, True),
        ("success", Measured(3.0, 3), True),
        ("finished", None, True),
    ]
    assert not handle.running and not runner.running


def test_a_failing_job_reaches_on_failure_in_the_gui_thread_and_a_bug_names_its_type(qtbot) -> None:  # noqa: ANN001
    runner = JobRunner()
    failures: list[tuple[str, bool]] = []

    def refused(emit: EventSink, cancel: CancelToken) -> int:
        raise ValueError("the size must be a multiple of 8")

    def buggy(emit: EventSink, cancel: CancelToken) -> int:
        return {}["missing"]

    for job in (refused, buggy):
        with qtbot.waitSignal(runner.finished, timeout=10_000):
            runner.start(
                job,
                on_success=lambda _value: pytest.fail("no result"),
                on_failure=lambda message: failures.append((message, in_gui_thread())),
            )
    assert failures == [("the size must be a multiple of 8", True), ("KeyError: 'missing'", True)]


def test_a_cancelled_job_reaches_on_cancel_only_and_one_job_runs_at_a_time(qtbot) -> None:  # noqa: ANN001
    runner = JobRunner()
    outcomes: list[str] = []
    started = threading.Event()

    def job(emit: EventSink, cancel: CancelToken) -> int:
        started.set()
        while True:
            cancel.raise_if_set()
            time.sleep(0.002)

    handle = runner.start(
        job,
        on_success=lambda _value: outcomes.append("success"),
        on_failure=outcomes.append,
        on_cancel=lambda: outcomes.append("cancelled"),
    )
    assert started.wait(10)
    with pytest.raises(RuntimeError):
        runner.start(job, on_success=lambda _value: None, on_failure=outcomes.append)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        handle.cancel()
    assert outcomes == ["cancelled"]


def test_torch_is_imported_on_the_gui_thread_before_a_job_that_uses_it(qtbot, monkeypatch) -> None:  # noqa: ANN001
    order: list[tuple[str, bool]] = []
    monkeypatch.setattr(worker, "import_torch", lambda: order.append(("import torch", in_gui_thread())))
    runner = JobRunner()

    def job(emit: EventSink, cancel: CancelToken) -> None:
        order.append(("job", in_gui_thread()))

    for uses_torch in (False, True):
        with qtbot.waitSignal(runner.finished, timeout=10_000):
            runner.start(job, on_success=lambda _none: None, on_failure=pytest.fail, uses_torch=uses_torch)
    assert order == [("job", False), ("import torch", True), ("job", False)]


def test_a_newer_preview_request_supersedes_older_ones_and_only_its_result_arrives(qtbot) -> None:  # noqa: ANN001
    previews = LatestRequestRunner()
    release = threading.Event()
    ran: list[str] = []
    delivered: list[tuple[str, bool]] = []

    def preview(name: str, wait: bool = False) -> worker.Job[str]:
        def job(emit: EventSink, cancel: CancelToken) -> str:
            ran.append(name)
            if wait:
                assert release.wait(10)
            return name.upper()

        return job

    def on_success(result: str) -> None:
        delivered.append((result, in_gui_thread()))

    previews.request(preview("first", wait=True), on_success=on_success, on_failure=pytest.fail)
    qtbot.waitUntil(lambda: ran == ["first"], timeout=10_000)
    previews.request(preview("second"), on_success=on_success, on_failure=pytest.fail)
    previews.request(preview("third"), on_success=on_success, on_failure=pytest.fail)
    assert previews.running
    release.set()
    qtbot.waitUntil(lambda: not previews.running, timeout=10_000)
    assert ran == ["first", "third"], "a waiting request is replaced by a newer one"
    assert delivered == [("THIRD", True)], "the superseded request's result is dropped"


def test_a_superseded_preview_is_cancelled_and_its_failure_is_dropped(qtbot) -> None:  # noqa: ANN001
    previews = LatestRequestRunner()
    started = threading.Event()
    failures: list[str] = []
    delivered: list[int] = []

    def slow(emit: EventSink, cancel: CancelToken) -> int:
        started.set()
        while True:
            cancel.raise_if_set()
            time.sleep(0.002)

    def failing(emit: EventSink, cancel: CancelToken) -> int:
        started.wait(10)
        raise OSError("gone")

    previews.request(slow, on_success=delivered.append, on_failure=failures.append)
    assert started.wait(10)
    previews.request(lambda emit, cancel: 7, on_success=delivered.append, on_failure=failures.append)
    qtbot.waitUntil(lambda: not previews.running, timeout=10_000)
    assert delivered == [7] and failures == []
    previews.request(failing, on_success=delivered.append, on_failure=failures.append)
    qtbot.waitUntil(lambda: not previews.running, timeout=10_000)
    assert failures == ["gone"]


def test_progress_shows_while_a_job_runs_and_cancel_follows_the_runner(qtbot) -> None:  # noqa: ANN001
    runner = JobRunner()
    window = QWidget()
    qtbot.addWidget(window)
    progress = JobProgress(runner, window)
    row = JobProgressRow(runner)
    layout = QVBoxLayout(window)
    for widget in (progress.bar, progress.cancel_button, row):
        layout.addWidget(widget)
    window.show()
    cancelled: list[bool] = []

    def job(emit: EventSink, cancel: CancelToken) -> None:
        emit(Progressed(3, 10, "reading"))
        while True:
            cancel.raise_if_set()
            time.sleep(0.002)

    assert not row.isVisible() and not progress.cancel_button.isEnabled()
    runner.start(job, on_success=lambda _none: None, on_failure=pytest.fail, on_cancel=lambda: cancelled.append(True))
    assert row.isVisible() and progress.cancel_button.isEnabled() and not progress.bar.isHidden()
    qtbot.waitUntil(lambda: progress.bar.maximum() == 10 and row.bar.value() == 3, timeout=10_000)
    assert row.bar.text().startswith("reading 3/10")
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        row.cancel_button.click()
    assert cancelled == [True]
    assert not row.isVisible() and progress.bar.isHidden() and not progress.cancel_button.isEnabled()


def test_progress_stays_for_a_follow_up_job_started_when_the_first_ends(qtbot) -> None:  # noqa: ANN001
    """A panel that chains jobs (the Distill demo: prepare, then distil) starts the next one
    from its own `finished` slot, connected before its progress bar existed."""
    runner = JobRunner()
    second_done = threading.Event()

    def first(emit: EventSink, cancel: CancelToken) -> None:
        return None

    def second(emit: EventSink, cancel: CancelToken) -> None:
        second_done.wait(10)

    def follow_up() -> None:
        if not second_done.is_set() and not runner.running:
            runner.start(second, on_success=lambda _none: None, on_failure=pytest.fail)

    runner.finished.connect(follow_up)
    window = QWidget()
    qtbot.addWidget(window)
    progress = JobProgress(runner, window)
    row = JobProgressRow(runner)
    layout = QVBoxLayout(window)
    for widget in (progress.bar, progress.cancel_button, row):
        layout.addWidget(widget)
    window.show()
    runner.start(first, on_success=lambda _none: None, on_failure=pytest.fail)
    qtbot.waitSignal(runner.finished, timeout=10_000).wait()
    try:
        assert runner.running, "the follow-up runs"
        assert not progress.bar.isHidden() and progress.cancel_button.isEnabled() and row.isVisible()
    finally:
        with qtbot.waitSignal(runner.finished, timeout=10_000):
            second_done.set()
    assert progress.bar.isHidden() and not row.isVisible()


def test_a_time_left_given_by_the_panel_replaces_the_bars_own_until_the_job_ends(qtbot) -> None:  # noqa: ANN001
    """The Distill panel knows a run's time left from its recent pace (and that STM may stop
    sooner); the bar shows that, not a second estimate from the mean pace since the start."""
    runner = JobRunner()
    progress = JobProgress(runner)
    progress.bar.setFormat("%v / %m")
    step = threading.Event()

    def job(emit: EventSink, cancel: CancelToken) -> None:
        for done in (1, 2, 3):
            emit(Progressed(done, 10, "iterating"))
            step.wait(10)
            step.clear()
            time.sleep(0.05)

    runner.start(job, on_success=lambda _none: None, on_failure=pytest.fail)
    qtbot.waitUntil(lambda: progress.bar.value() == 1, timeout=10_000)
    progress.give_time_left("at most 42 s left")
    assert progress.bar.format() == "%v / %m · at most 42 s left"
    step.set()
    qtbot.waitUntil(lambda: progress.bar.value() == 2, timeout=10_000)
    assert progress.bar.format() == "%v / %m · at most 42 s left"
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        step.set()
        time.sleep(0.1)
        step.set()
    runner.start(job, on_success=lambda _none: None, on_failure=pytest.fail)
    qtbot.waitUntil(lambda: progress.bar.value() == 1, timeout=10_000)
    assert "42 s" not in progress.bar.format(), "the next job estimates its own time again"
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        for _ in range(3):
            step.set()
            time.sleep(0.1)
