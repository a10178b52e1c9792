"""Progress on the command line: tqdm bars on a terminal, a bounded number of plain lines in a
log, nothing but warnings with --quiet."""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import galaxy_studio.progress_bars as progress_bars
from galaxy_studio.cli import main
from galaxy_studio.cli.progress import DistillPrinter, ProgressPrinter, TrainingPrinter
from galaxy_studio.events import EpochEnded, MetricLogged, Noted, Progressed, Warned
from galaxy_studio.progress_bars import INNER, MIDDLE, ProgressBars, levels_of


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """time.monotonic for the line bars, moved on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_bars.time, "monotonic", fake)
    return fake


def run_steps(sink: ProgressPrinter, clock: Clock, steps: int, seconds_per_step: float) -> None:
    for done in range(1, steps + 1):
        clock.now += seconds_per_step
        sink(Progressed(done, steps, "steps"))


def test_a_log_gets_a_line_per_tenth_and_no_carriage_returns(clock: Clock) -> None:
    log = io.StringIO()
    with ProgressPrinter(log) as sink:
        run_steps(sink, clock, 1000, 0.02)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    assert len(lines) == 10, lines
    assert lines[0] == "steps: 100/1000 (10%), 2 s, about 18 s left, 50.0 it/s"
    assert lines[-1] == "steps: 1000/1000 (100%), 20 s, 50.0 it/s"


def test_a_slow_job_writes_every_30_seconds_and_a_fast_one_only_its_end(clock: Clock) -> None:
    log = io.StringIO()
    with ProgressPrinter(log) as sink:
        run_steps(sink, clock, 1000, 1.0)  # 1000 s: a line every 30 s, the tenths fall between them
    lines = log.getvalue().splitlines()
    assert 1000 // 30 <= len(lines) <= 1000 // 30 + 11
    assert lines[0].startswith("steps: 31/1000 (3%), 30 s, about 16 min 09 s left, 1.0 it/s")
    assert all("left" in line for line in lines[:-1]) and lines[-1].startswith("steps: 1000/1000 (100%)")
    fast = io.StringIO()
    with ProgressPrinter(fast) as sink:
        run_steps(sink, clock, 1000, 0.0001)
    assert fast.getvalue().splitlines() == ["steps: 1000/1000 (100%), 0 s, 10000 it/s"]


def test_a_log_of_training_has_the_epochs_not_every_batch(clock: Clock) -> None:
    log = io.StringIO()
    with TrainingPrinter(log) as sink:
        for epoch in range(1, 6):
            for step in range(1, 201):
                clock.now += 0.01
                sink(Progressed(step, 200, f"epoch {epoch}/5"))
            sink(EpochEnded(epoch, 5, 0.5, 0.6, 0.7, 0.8, 2.0))
    lines = log.getvalue().splitlines()
    assert not any(line.startswith("epoch 1/5:") for line in lines), "batch bars inside epochs stay quiet"
    assert [line.split(":")[0] for line in lines if line.startswith("epochs:")] == ["epochs"] * 5
    assert lines[-1] == "epochs: 5/5 (100%), 10 s, 0.5 epoch/s"
    assert lines[-2].startswith("epoch 5/5  train loss 0.5000 acc 0.700  val loss 0.6000 acc 0.800")


def test_a_terminal_gets_redrawn_bars_with_rate_and_time_left() -> None:
    terminal = Terminal()
    with ProgressBars(terminal, redraw_s=0) as bars:
        for epoch in range(1, 3):
            for step in range(1, 51):
                bars(Progressed(step, 50, f"epoch {epoch}/2"))
            bars(EpochEnded(epoch, 2, 0.5, 0.6, 0.7, 0.8, 1.0))
    text = terminal.getvalue()
    assert "\r" in text
    assert re.search(r"epoch 2/2: +\d+%\|.*\| \d+/50 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+(batch/s|s/batch)\]", text), text
    assert re.search(r"epochs: 100%\|.*\| 2/2 \[", text), "the outer bar counts the epochs"


def test_lines_beside_bars_are_whole_lines() -> None:
    terminal = Terminal()
    with DistillPrinter(terminal) as sink:
        sink(Progressed(3, 10, "expert 1/2"))
        sink(MetricLogged("expert_test_accuracy", 0, 0.75))
        sink(Warned("only 12 test images"))
    text = terminal.getvalue()
    assert "expert 1: test accuracy 0.7500\n" in text and "expert 1/2:  60%" in text
    assert "galaxy-studio: warning: only 12 test images\n" in text


def test_buffer_progress_nests_an_experts_batches_inside_the_experts() -> None:
    # Two experts of 10 batches; the first was kept from an earlier run, so the second starts at 10.
    assert levels_of(Progressed(17, 20, "expert 2/2")) == [(MIDDLE, 1, 2, "experts"), (INNER, 7, 10, "expert 2/2")]
    assert levels_of(Progressed(20, 20, "expert 2/2")) == [(MIDDLE, 2, 2, "experts"), (INNER, 10, 10, "expert 2/2")]
    assert levels_of(Progressed(4, 9, "epoch 3/7")) == [(MIDDLE, 2, 7, "epochs"), (INNER, 4, 9, "epoch 3/7")]
    assert levels_of(Progressed(4, 9, "decoding training images")) == [(INNER, 4, 9, "decoding training images")]


def test_quiet_keeps_warnings_and_notes_only(clock: Clock) -> None:
    log = io.StringIO()
    with TrainingPrinter(log, quiet=True) as sink:
        run_steps(sink, clock, 100, 1.0)
        sink(EpochEnded(1, 1, 0.5, 0.6, 0.7, 0.8, 2.0))
        sink(Warned("a warning"))
        sink(Noted("a note"))
    assert log.getvalue() == "galaxy-studio: warning: a warning\ngalaxy-studio: a note\n"


def test_quiet_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", str(tmp_path / "loud"), "--per-class", "2", "--size", "32"]) == 0
    assert "demo galaxies: 20/20 (100%)" in capsys.readouterr().err
    assert main(["demo-data", str(tmp_path / "quiet"), "--per-class", "2", "--size", "32", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "wrote 20 demo galaxies" in captured.out


def test_without_nesting_one_bar_stands_for_the_outermost_task() -> None:
    terminal = Terminal()
    with ProgressBars(terminal, redraw_s=0, nested=False) as bars:
        bars(Progressed(0, 2, "folds"))
        for step in range(1, 6):
            bars(Progressed(step, 5, "epoch 1/3"))
        bars(EpochEnded(1, 3, 0.5, 0.6, 0.7, 0.8, 1.0))
        bars(Progressed(1, 2, "folds"))
    text = terminal.getvalue()
    assert "\x1b[A" not in text, "no bar is kept above another"
    assert "folds:  50%" in text and "epoch" not in text


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")
def test_the_command_draws_bars_on_a_real_terminal(tmp_path: Path) -> None:
    """stderr a pseudo-terminal of 100 columns: tqdm redraws the bar in place with its rate."""
    import fcntl
    import termios

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # concurrently, so that a full terminal buffer never blocks the child
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # Linux: the terminal is gone once the child and our end are closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    code = "from galaxy_studio.cli import main; raise SystemExit(main())"
    args = [sys.executable, "-c", code, "demo-data", str(tmp_path / "d"), "--per-class", "3", "--size", "32"]
    child = subprocess.run(args, stderr=follower, stdout=subprocess.PIPE, timeout=120)
    os.close(follower)
    reader.join(timeout=10)
    os.close(leader)
    drawn = b"".join(chunks)
    assert child.returncode == 0
    text = drawn.decode("utf-8")
    assert "\r" in text and re.search(r"demo galaxies: 100%\|█+\| 30/30 \[\d\d:\d\d<00:00, +[\d.]+galaxy/s\]", text), (
        text
    )


def test_a_failed_job_leaves_its_bar_on_a_line_of_its_own() -> None:
    terminal = Terminal()
    with pytest.raises(RuntimeError), ProgressPrinter(terminal) as sink:
        sink(Progressed(3, 10, "classifying"))
        raise RuntimeError("disk full")
    assert terminal.getvalue().endswith("\n"), "the error message that follows starts on a new line"
    assert "classifying:  30%" in terminal.getvalue()
