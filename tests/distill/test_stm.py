"""The schedules follow METHODS.md to the iteration on scripted validation-loss sequences."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from galaxy_studio.distill.config import DistillConfig
from galaxy_studio.distill.stm import (
    PHASE_FINETUNING,
    PHASE_STOPPED,
    MttSchedule,
    StmSchedule,
    new_schedule,
    pearson_with_time,
    restore_schedule,
)


def feed(schedule: StmSchedule, values: list[float | None]) -> list[tuple[int, object]]:
    """Observe each value; the (1-based observation, change) pairs that changed something."""
    changes = []
    for number, value in enumerate(values, start=1):
        change = schedule.observe(value)
        if change is not None:
            changes.append((number, change))
    return changes


def test_pearson_with_time_matches_numpy() -> None:
    values = list(np.random.default_rng(1).normal(size=17))
    assert pearson_with_time(values) == pytest.approx(np.corrcoef(np.arange(17), values)[0, 1], abs=1e-12)
    assert pearson_with_time([2.0] * 5) == 0.0


def test_falling_loss_advances_only_once_the_trend_passes_minus_five_standard_errors() -> None:
    # r = -1 exactly; -5 se = -5 / sqrt(n - 2) is below -1 at n = 10 and 20, above it at n = 30.
    schedule = StmSchedule(last_epoch=15, lr_img=1000.0)
    changes = feed(schedule, [100.0 - i for i in range(30)])
    assert [number for number, _ in changes] == [30]
    change = changes[0][1]
    assert change.stage == 2 and schedule.cap == 2
    assert change.reason == f"validation loss still falling (r=-1.00 < -5se={-5 / math.sqrt(28):.2f})"
    assert schedule.history == [] and schedule.stage_iterations == 0


def test_rising_loss_advances_at_plus_three_standard_errors() -> None:
    # 3 se = 3 / sqrt(n - 2): 1.06 at n = 10 (unreachable), 0.71 at n = 20.
    schedule = StmSchedule(last_epoch=15, lr_img=1000.0)
    changes = feed(schedule, [float(i) for i in range(20)])
    assert [number for number, _ in changes] == [20]
    assert changes[0][1].reason.startswith("validation loss rising (r=1.00 > 3se=0.71)")
    assert schedule.cap == 2


def test_a_trendless_loss_holds_the_stage() -> None:
    schedule = StmSchedule(last_epoch=15, lr_img=1000.0)
    noise = list(np.random.default_rng(0).normal(1.0, 0.01, size=200))
    assert feed(schedule, noise) == []
    assert schedule.cap == 1 and len(schedule.history) == 200 and schedule.stage_iterations == 200


def test_the_trend_is_tested_every_window_iterations_only() -> None:
    # After 15 flat values a steady fall first passes -5se at n = 33; the test only looks at 40.
    values = [1.0] * 15 + [1.0 - 0.01 * i for i in range(45)]
    first = next(n for n in range(3, 61) if pearson_with_time(values[:n]) < -5 / math.sqrt(n - 2))
    assert first == 33
    schedule = StmSchedule(last_epoch=15, lr_img=1000.0, window=10)
    assert [number for number, _ in feed(schedule, values)] == [40]


def test_the_cap_stops_at_the_last_epoch_of_the_buffer() -> None:
    schedule = StmSchedule(last_epoch=3, lr_img=1000.0, window=10)
    falling = [100.0 - i for i in range(30)]
    changes = feed(schedule, falling + falling)
    assert [change.stage for _, change in changes] == [2, 3]
    assert "cap reached the buffer's last epoch 3" in changes[1][1].reason
    assert schedule.validation_start is None
    starts = {schedule.next_start_epoch(np.random.default_rng(seed)) for seed in range(200)}
    assert starts == {0, 1, 2}
    assert feed(schedule, [None] * 50) == []
    assert schedule.cap == 3


def test_a_long_stage_starts_fine_tuning_then_lr_img_decays_every_50_until_below_50() -> None:
    schedule = StmSchedule(last_epoch=15, lr_img=1000.0, max_stage=1000)
    noise = list(np.random.default_rng(0).normal(1.0, 0.01, size=1000))
    changes = feed(schedule, noise)
    assert [number for number, _ in changes] == [1000]
    assert changes[0][1].reason == "stage lasted 1000 iterations: fine-tuning"
    assert schedule.phase == PHASE_FINETUNING and schedule.validation_start is None
    assert feed(schedule, [None] * 49) == [] and schedule.lr_img == 1000.0
    assert feed(schedule, [None]) == [] and schedule.lr_img == pytest.approx(800.0)
    # 0.8^13 x 1000 = 55.0 keeps going; the 14th decay (43.98) stops the run.
    assert feed(schedule, [None] * 600) == []
    assert schedule.lr_img == pytest.approx(1000.0 * 0.8**13) and not schedule.done
    changes = feed(schedule, [None] * 50)
    assert [number for number, _ in changes] == [50]
    assert changes[0][1].reason == "lr_img 44 below 50: stop"
    assert schedule.done and schedule.phase == PHASE_STOPPED


def test_an_advance_restarts_the_stage_clock() -> None:
    schedule = StmSchedule(last_epoch=15, lr_img=1000.0, max_stage=40)
    changes = feed(schedule, [100.0 - i for i in range(30)] + [1.0] * 39)
    assert [(number, change.stage) for number, change in changes] == [(30, 2)]
    assert schedule.phase != PHASE_FINETUNING
    assert feed(schedule, [1.0])[0][1].reason == "stage lasted 40 iterations: fine-tuning"


def test_mtt_draws_start_epochs_inside_the_buffer() -> None:
    schedule = MttSchedule(max_start_epoch=25, expert_epochs=3, last_epoch=15, lr_img=1000.0)
    rng = np.random.default_rng(0)
    starts = [schedule.next_start_epoch(rng) for _ in range(2000)]
    assert min(starts) == 0 and max(starts) == 12
    narrow = MttSchedule(max_start_epoch=4, expert_epochs=2, last_epoch=15, lr_img=1000.0)
    assert {narrow.next_start_epoch(rng) for _ in range(500)} == {0, 1, 2, 3}
    assert narrow.observe(0.5) is None and narrow.validation_start is None and not narrow.done
    with pytest.raises(ValueError):
        MttSchedule(max_start_epoch=4, expert_epochs=16, last_epoch=15, lr_img=1.0)


@pytest.mark.parametrize("method", ["stm", "mtt"])
def test_schedule_state_survives_json(method: str) -> None:
    config = DistillConfig(buffer="b", data="d", out_dir="o", method=method, pearson_window=5)
    schedule = new_schedule(config, last_epoch=15)
    for value in [5.0, 4.0, 3.0, 2.5, 2.0, 1.0, 0.5]:
        schedule.observe(value)
    restored = restore_schedule(config, json.loads(json.dumps(schedule.state())))
    assert restored == schedule
    assert restored.state() == schedule.state()
