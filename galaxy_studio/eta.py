"""Time spent and time left of a job, from its Progressed events, and durations in words.

Torch- and Qt-free: the panels' progress readouts use it; the command line's plain-line bars
(progress_bars.py) write durations with `format_duration`.
"""

from __future__ import annotations

import math
import time

from galaxy_studio.events import Progressed


def format_duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 14 min'; '?' when unknown."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Eta:
    """The mean pace since a task's first report, so that the estimate settles as the task goes.
    A new task starts when the total changes or the count goes back; a changing description
    (a distillation reports its loss in it) is the same task."""

    def __init__(self) -> None:
        self._total = -1
        self._began = 0.0
        self._first = self._last = 0

    def update(self, event: Progressed, now: float | None = None) -> tuple[float, float | None]:
        """(seconds since the task's first report, seconds left or None before a pace is known)."""
        now = time.monotonic() if now is None else now
        if event.total != self._total or event.done < self._last:
            self._total, self._began, self._first = event.total, now, event.done
        self._last = event.done
        elapsed = now - self._began
        if event.done <= self._first or event.total <= 0:
            return elapsed, None
        return elapsed, elapsed / (event.done - self._first) * max(event.total - event.done, 0)

    def describe(self, event: Progressed, now: float | None = None) -> str:
        """'12 s, about 3 min 05 s left' (or just the time spent, until a pace is known)."""
        elapsed, left = self.update(event, now)
        text = format_duration(elapsed)
        if left is not None and event.done < event.total:
            text += f", about {format_duration(left)} left"
        return text
