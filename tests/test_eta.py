"""Time left from progress reports, and durations in words."""

from __future__ import annotations

import math

from galaxy_studio.eta import Eta, format_duration
from galaxy_studio.events import Progressed


def test_durations_read_as_a_person_writes_them() -> None:
    assert [format_duration(s) for s in (0.4, 42, 185, 4440, math.inf)] == [
        "0 s",
        "42 s",
        "3 min 05 s",
        "1 h 14 min",
        "?",
    ]


def test_the_estimate_follows_the_mean_pace_and_restarts_with_a_new_task() -> None:
    eta = Eta()
    assert eta.update(Progressed(1, 11, "loss 0.9"), now=100.0) == (0.0, None)
    assert eta.update(Progressed(3, 11, "loss 0.8"), now=104.0) == (4.0, 16.0), "a new description, the same task"
    assert eta.describe(Progressed(11, 11, "loss 0.7"), now=120.0) == "20 s"
    assert eta.update(Progressed(1, 5, "other"), now=200.0) == (0.0, None)
    assert eta.describe(Progressed(2, 5, "other"), now=230.0) == "30 s, about 1 min 30 s left"
    assert eta.update(Progressed(1, 5, "epoch 2"), now=240.0) == (0.0, None), "the count went back"
