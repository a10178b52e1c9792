"""Progress bars for a job's Progressed events, drawn with tqdm: the command line draws them on
stderr, the notebook API as tqdm.auto widgets. Qt- and torch-free.

A job reports one counted task at a time, and some tasks sit inside longer ones: the batches of
an epoch inside the run's epochs, an expert's batches inside the buffer's experts, a fold's
epochs inside cross-validation. Each nesting level gets a bar of its own, outer ones above, so
that the outer bar's estimate covers the whole job while the inner one shows the rate.

On a stream that is not a terminal (a log file, CI) a redrawn bar would fill the log with
carriage returns, so a bar is written as plain lines instead: one per tenth of the task or
every `LINE_INTERVAL_S`, whichever comes first, and one when it ends. A bar inside another one
writes only on the timer, so that a training log holds a few lines per epoch, not ten.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any, Protocol

from tqdm import tqdm

from galaxy_studio.eta import format_duration
from galaxy_studio.events import EpochEnded, Event, Progressed

LINE_INTERVAL_S = 30.0
"""Longest silence of a plain-line bar while its task goes on."""

LINE_GAP_S = 1.0
"""Shortest time between two lines of a bar before its end: a task done in a second is one line."""

OUTER, MIDDLE, INNER = 0, 1, 2
"""Nesting levels: folds; epochs or experts; anything counted within them (batches, files)."""

_EPOCH = re.compile(r"epoch (\d+)/(\d+)")
_EXPERT = re.compile(r"expert (\d+)/(\d+)")


def _unit(what: str) -> str:
    """What a task counts, for the rate: `12.3 batch/s`."""
    if what.startswith(("epoch ", "expert ")):
        return "batch"
    if what == "classifying" or what.endswith("images"):
        return "image"
    if what.endswith("galaxies"):
        return "galaxy"
    return {"folds": "fold", "epochs": "epoch", "experts": "expert"}.get(what, "it")


def levels_of(event: Progressed) -> list[tuple[int, int, int, str]]:
    """(level, done, total, description) of each bar one event moves, outermost first.

    Training reports the batches of `epoch k/N`: the epochs bar stands at k-1 until the epoch
    ends (EpochEnded moves it on). A buffer counts batches over all its experts, each expert
    the same number: the experts bar counts finished experts and the inner bar the current
    expert's batches."""
    what = event.what
    if what == "folds":
        return [(OUTER, event.done, event.total, what)]
    epoch = _EPOCH.fullmatch(what)
    if epoch:
        return [(MIDDLE, int(epoch[1]) - 1, int(epoch[2]), "epochs"), (INNER, event.done, event.total, what)]
    expert = _EXPERT.fullmatch(what)
    if expert and event.total % int(expert[2]) == 0 and event.done > 0:
        experts, per_expert = int(expert[2]), event.total // int(expert[2])
        return [
            (MIDDLE, event.done // per_expert, experts, "experts"),
            (INNER, (event.done - 1) % per_expert + 1, per_expert, what),
        ]
    return [(INNER, event.done, event.total, what)]


def is_terminal(stream: Any) -> bool:
    """Whether a bar on `stream` can be redrawn in place."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _Bar(Protocol):
    total: int
    done: int

    def show(self, done: int, what: str) -> None: ...

    def close(self) -> None: ...


class _DrawnBar:
    """A tqdm bar, redrawn in place: rate and time left are tqdm's."""

    def __init__(
        self,
        tqdm_class: type[tqdm],
        stream: Any,
        total: int,
        what: str,
        *,
        initial: int,
        position: int,
        redraw_s: float,
    ) -> None:
        self.total, self.done = total, initial
        # `initial`: a resumed task's rate counts only what is done now.
        self._bar = tqdm_class(
            total=total,
            initial=initial,
            desc=what,
            unit=_unit(what),
            file=stream,
            position=position,
            leave=position == 0,
            mininterval=redraw_s,
            dynamic_ncols=True,
        )

    def show(self, done: int, what: str) -> None:
        if what != self._bar.desc:
            self._bar.set_description_str(what, refresh=False)
        self._bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        self._bar.close()


class _LineBar:
    """A bar as plain lines: `epoch 2/5: 40/100 (40%), 12 s, about 18 s left, 3.3 batch/s`."""

    def __init__(self, stream: Any, total: int, what: str, nested: bool, interval_s: float) -> None:
        self.total, self.done = total, 0
        self._stream, self._nested, self._interval = stream, nested, interval_s
        self._unit = _unit(what)
        self._began = self._written = time.monotonic()
        self._first: int | None = None
        self._tenth = 0

    def show(self, done: int, what: str) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first, self._began = done, now
        self.done = done
        tenth = 10 * done // self.total
        due = now - self._written >= self._interval
        if not self._nested:
            due = due or done >= self.total or (tenth > self._tenth and now - self._written >= LINE_GAP_S)
        if due:
            self._tenth = tenth
            self._written = now
            self._stream.write(self._line(done, what, now) + "\n")
            self._stream.flush()

    def _line(self, done: int, what: str, now: float) -> str:
        elapsed, counted = now - self._began, done - (self._first or 0)
        text = f"{what}: {done}/{self.total} ({100 * done // self.total}%), {format_duration(elapsed)}"
        if counted > 0 and elapsed > 0:
            if done < self.total:
                text += f", about {format_duration(elapsed / counted * (self.total - done))} left"
            rate = counted / elapsed
            text += f", {rate:.{1 if rate < 100 else 0}f} {self._unit}/s"
        return text

    def close(self) -> None:
        """Nothing to clear: every line is already finished."""


class ProgressBars:
    """Event sink: a bar per nesting level of the Progressed events (and EpochEnded, which ends
    an epoch), drawn in place on a terminal and as plain lines elsewhere. Use it as a context
    manager, or call `close()`, so that a bar a job left unfinished (stopped early, cancelled,
    failed) gives way before the next line.

    `nested=False` draws the outermost level of a task only (the epochs, not their batches):
    for text bars in Jupyter, whose output cannot move the cursor up to redraw a bar above."""

    def __init__(
        self,
        stream: Any = None,
        *,
        drawn: bool | None = None,
        tqdm_class: type[tqdm] = tqdm,
        nested: bool = True,
        redraw_s: float = 0.1,
        line_interval_s: float = LINE_INTERVAL_S,
    ) -> None:
        self.stream = stream or sys.stderr
        self.drawn = is_terminal(self.stream) if drawn is None else drawn
        self.nested = nested
        self._tqdm = tqdm_class
        self._redraw, self._interval = redraw_s, line_interval_s
        self._bars: dict[int, _Bar] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progressed) and event.total > 0:
            levels = levels_of(event)
            if not self.nested:
                levels = [entry for entry in levels[:1] if not any(key < entry[0] for key in self._bars)]
            for level, done, total, what in levels:
                self._show(level, done, total, what)
        elif isinstance(event, EpochEnded) and event.epochs > 0 and (self.nested or OUTER not in self._bars):
            self._show(MIDDLE, event.epoch, event.epochs, "epochs")
        # Innermost first: a drawn bar's place counts the bars above it, so they must still stand.
        for level in sorted(self._bars, reverse=True):
            if self._bars[level].done >= self._bars[level].total:
                self._bars.pop(level).close()

    def _show(self, level: int, done: int, total: int, what: str) -> None:
        bar = self._bars.get(level)
        if bar is None or total != bar.total or done < bar.done:
            for deeper in sorted((key for key in self._bars if key >= level), reverse=True):
                self._bars.pop(deeper).close()
            position = sum(1 for key in self._bars if key < level)
            bar = (
                _DrawnBar(
                    self._tqdm,
                    self.stream,
                    total,
                    what,
                    initial=min(done, total),
                    position=position,
                    redraw_s=self._redraw,
                )
                if self.drawn
                else _LineBar(self.stream, total, what, position > 0, self._interval)
            )
            self._bars[level] = bar
        bar.show(min(done, total), what)

    def write(self, text: str) -> None:
        """A finished line of text (an epoch's summary, a warning) that leaves the bars whole."""
        if self.drawn and self._bars:
            self._tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        for level in sorted(self._bars, reverse=True):
            self._bars.pop(level).close()

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
