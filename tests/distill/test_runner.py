"""The distillation loop: events, files, exact resume after a kill, clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.distill.augment import AUGMENT_STRATEGIES
from galaxy_studio.distill.config import AUGMENT_NAMES, MEMORY_MODE_NAMES, PRECISION_NAMES, DistillConfig
from galaxy_studio.distill.export import load_synthetic
from galaxy_studio.distill.matching import MEMORY_MODES
from galaxy_studio.distill.run_state import HISTORY_FILE, STATE_FILE
from galaxy_studio.distill.runner import distill, snapshot_path
from galaxy_studio.events import (
    Cancelled,
    CancelToken,
    IterationFinished,
    MetricLogged,
    Noted,
    Progressed,
    SnapshotTaken,
    StageAdvanced,
    Warned,
)
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.precision import PRECISIONS

from .conftest import tiny_buffer_config, tiny_distill_config


def test_torch_free_copies_of_the_mode_names_match() -> None:
    assert MEMORY_MODE_NAMES == MEMORY_MODES
    assert AUGMENT_NAMES == AUGMENT_STRATEGIES
    assert PRECISION_NAMES == PRECISIONS


def test_a_run_emits_metrics_snapshots_and_writes_its_folder(tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    events: list[object] = []
    config = tiny_distill_config(
        tiny_buffer, tiny_set, tmp_path / "run", method="mtt", expert_epochs=2, max_start_epoch=2, iterations=5
    )
    result = distill(config, emit=events.append)
    assert result.iterations == 5 and result.stopped_by == "iterations" and result.resumed_from == 0
    losses = [e.value for e in events if isinstance(e, MetricLogged) and e.name == "matching_loss"]
    lrs = [e.value for e in events if isinstance(e, MetricLogged) and e.name == "lr"]
    assert len(losses) == 5 and all(np.isfinite(losses)) and all(lr > 0 for lr in lrs)
    assert not [e for e in events if isinstance(e, MetricLogged) and e.name == "validation_loss"]
    snapshots = [e for e in events if isinstance(e, SnapshotTaken)]
    # Before the first iteration, every snapshot_every=2, and the last one.
    assert [s.step for s in snapshots] == [0, 2, 4, 5]
    assert snapshots[0].images_uint8_nhwc.shape == (6, 16, 16, 3) and snapshots[0].images_uint8_nhwc.dtype == np.uint8
    assert list(snapshots[0].labels) == [0, 0, 1, 1, 2, 2]
    assert not np.array_equal(snapshots[0].images_uint8_nhwc, snapshots[-1].images_uint8_nhwc)
    assert [e.done for e in events if isinstance(e, Progressed) and e.what.startswith("stage")] == [1, 2, 3, 4, 5]
    finished = [e for e in events if isinstance(e, IterationFinished)]
    assert [(e.iteration, e.iterations) for e in finished] == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert [e.matching_loss for e in finished] == losses and [e.lr for e in finished] == lrs
    assert all(e.validation_loss is None for e in finished)
    for step in (0, 2, 4, 5):
        with np.load(snapshot_path(tmp_path / "run", step)) as stored:
            np.testing.assert_array_equal(stored["images"], snapshots[[0, 2, 4, 5].index(step)].images_uint8_nhwc)
    history = json.loads((tmp_path / "run" / HISTORY_FILE).read_text())
    assert [row["matching_loss"] for row in history] == losses
    assert [e.stage for e in finished] == [row["stage"] for row in history]
    assert finished[0].summary == f"stage {history[0]['stage']} loss {losses[0]:.4f} lr {lrs[0]:.2e}"
    assert all(row["start_epoch"] + 2 <= 3 for row in history)
    synthetic = load_synthetic(result.synthetic)
    assert synthetic.images.shape == (6, 3, 16, 16) and synthetic.lr == pytest.approx(lrs[-1])
    assert synthetic.config["method"] == "mtt"
    # The run itself leaves the pictures and the FITS cube, whichever interface started it.
    run = tmp_path / "run"
    assert result.prototypes == str(run / "prototypes")
    pictures = sorted(path.name for path in (run / "prototypes").iterdir())
    assert "all.png" in pictures and len(pictures) == len(synthetic.classes) + 1
    assert (run / "synthetic.fits").stat().st_size > 0


def test_stm_measures_validation_loss_and_reports_stage_changes(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    events: list[object] = []
    # With 3 values a trend test needs |r| > 3 standard errors = 3: impossible, so the stage
    # simply lasts max_stage=4 iterations; fine-tuning then decays lr_img 100 -> 80 -> 64 -> 51.2
    # < 60 at iterations 5, 6, 7, and the schedule stops the run before iterations=10.
    config = tiny_distill_config(
        tiny_buffer,
        tiny_set,
        tmp_path / "stm",
        method="stm",
        iterations=10,
        pearson_window=3,
        max_stage=4,
        finetune_every=1,
        min_lr_img=60.0,
    )
    result = distill(config, emit=events.append)
    validation = [e for e in events if isinstance(e, MetricLogged) and e.name == "validation_loss"]
    stages = [e for e in events if isinstance(e, StageAdvanced)]
    assert validation and all(np.isfinite(e.value) for e in validation)
    assert [e.reason for e in stages] == ["stage lasted 4 iterations: fine-tuning", "lr_img 51.2 below 60: stop"]
    assert len(validation) == 4, "no validation loss while fine-tuning"
    assert result.stopped_by == "schedule" and result.iterations == 7
    history = json.loads((tmp_path / "stm" / HISTORY_FILE).read_text())
    assert history[-1]["lr_img"] == pytest.approx(51.2)


@pytest.mark.parametrize("method", ["stm", "mtt"])
def test_a_killed_run_resumes_exactly(method: str, tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    changes = {"method": method, "expert_epochs": 1, "pearson_window": 3, "iterations": 6, "checkpoint_every": 3}
    whole = distill(tiny_distill_config(tiny_buffer, tiny_set, tmp_path / "whole", **changes))
    cancel = CancelToken()

    def kill_during_fifth(event: object) -> None:
        # Iteration 4 finishes but is never checkpointed: the resume must redo it identically.
        if isinstance(event, MetricLogged) and event.name == "lr" and event.step == 4:
            cancel.set()

    split_dir = tmp_path / "split"
    with pytest.raises(Cancelled):
        distill(tiny_distill_config(tiny_buffer, tiny_set, split_dir, **changes), emit=kill_during_fifth, cancel=cancel)
    assert (split_dir / STATE_FILE).is_file() and not (split_dir / "synthetic.npz").exists()
    resumed = distill(tiny_distill_config(tiny_buffer, tiny_set, split_dir, **changes))
    assert resumed.resumed_from == 3 and resumed.iterations == 6
    first, second = load_synthetic(whole.synthetic), load_synthetic(resumed.synthetic)
    np.testing.assert_allclose(second.images, first.images, rtol=1e-6, atol=1e-6)
    assert second.lr == pytest.approx(first.lr, rel=1e-6)
    history = [json.loads((folder / HISTORY_FILE).read_text()) for folder in (tmp_path / "whole", split_dir)]
    assert [row["expert"] for row in history[0]] == [row["expert"] for row in history[1]]
    np.testing.assert_allclose(
        [row["matching_loss"] for row in history[1]], [row["matching_loss"] for row in history[0]], rtol=1e-5
    )


def test_a_checkpoint_from_before_the_precision_clamp_and_smooth_settings_resumes(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    import torch

    out = tmp_path / "older"
    distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, iterations=3, clamp=False))
    state = torch.load(out / STATE_FILE, weights_only=True)
    del state["recipe"]["precision"], state["recipe"]["clamp"], state["recipe"]["smooth"]
    torch.save(state, out / STATE_FILE)
    saved = json.loads((out / "config.json").read_text())
    del saved["clamp"], saved["smooth"]
    resumed = distill(DistillConfig.from_dict({**saved, "iterations": 4}))
    assert resumed.resumed_from == 3 and resumed.iterations == 4


def test_a_checkpoint_that_recorded_relative_paths_resumes_from_the_same_folder(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions before paths were recorded in full wrote `distill buf data` as given."""
    import os

    import torch

    out = tmp_path / "relative"
    distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, iterations=2))
    monkeypatch.chdir(tiny_buffer.parent)
    state = torch.load(out / STATE_FILE, weights_only=True)
    for key, path in (("buffer", tiny_buffer), ("data", tiny_set)):
        state["recipe"][key] = os.path.relpath(path)
    torch.save(state, out / STATE_FILE)
    given = tiny_distill_config(
        Path(os.path.relpath(tiny_buffer)),
        Path(os.path.relpath(tiny_set)),
        out,
        method="mtt",
        expert_epochs=1,
        iterations=3,
    )
    assert distill(given).resumed_from == 2


def test_a_config_saved_before_clamp_and_the_relative_stop_keeps_its_meaning() -> None:
    saved = DistillConfig(buffer="b", data="d", out_dir="o", lr_img=100.0, min_lr_img=50.0).to_dict()
    del saved["clamp"]
    config = DistillConfig.from_dict(saved)
    assert config.clamp is False and config.stop_lr_img == 50.0
    assert DistillConfig(buffer="b", data="d", out_dir="o", lr_img=1000.0).stop_lr_img == 50.0, "the paper's stop"
    assert DistillConfig(buffer="b", data="d", out_dir="o", lr_img=100.0).recipe()["min_lr_img"] == 5.0


def test_more_iterations_continue_a_finished_run(tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "longer"
    distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, iterations=2))
    result = distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, iterations=3))
    assert result.resumed_from == 2 and result.iterations == 3


def test_another_recipe_in_a_run_folder_is_refused(tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "recipe"
    distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, iterations=1))
    with pytest.raises(ModelError, match=r"another recipe \(ipc \d+ there, 3 asked\)"):
        distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, iterations=1, ipc=3))


def test_divergence_is_one_clear_error_and_keeps_the_checkpoint(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "diverged"
    with pytest.raises(ModelError, match=r"iteration 1: .*the last checkpoint in .* is kept"):
        distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, lr_teacher=1e30))


def test_running_out_of_gpu_memory_is_advice_that_holds_no_unroll_and_keeps_the_checkpoint(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import galaxy_studio.distill.matcher as matcher

    real_match = matcher.match_trajectory

    def out_of_memory_at_the_fourth(*args: object, **kwargs: object) -> object:
        if len(calls) == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        calls.append(1)
        return real_match(*args, **kwargs)

    calls: list[int] = []
    monkeypatch.setattr(matcher, "match_trajectory", out_of_memory_at_the_fourth)
    out = tmp_path / "oom"
    config = tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, syn_steps=8)
    with pytest.raises(ModelError) as caught:
        distill(config)
    message = str(caught.value)
    assert message.startswith("The GPU ran out of memory (memory mode full, 8 syn steps, 2 images per class)")
    assert "checkpointed or constant" in message and "fewer syn steps (e.g. 4)" in message and str(out) in message
    # No chained error: its traceback would keep the unroll's graph (GPU memory) alive.
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert json.loads((out / HISTORY_FILE).read_text())[-1]["iteration"] == 3
    monkeypatch.setattr(matcher, "match_trajectory", real_match)
    assert distill(config).resumed_from == 3


def test_readability_is_measured_at_every_snapshot_and_noise_is_warned_once(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    events: list[object] = []
    config = tiny_distill_config(
        tiny_buffer, tiny_set, tmp_path / "loud", method="mtt", expert_epochs=1, lr_img=1e5, clamp=False
    )
    result = distill(config, emit=events.append)
    outside = [event for event in events if isinstance(event, MetricLogged) and event.name == "outside_fraction"]
    assert [event.step for event in outside] == [0, 2, 4, 6]
    colours = [e for e in events if isinstance(e, MetricLogged) and e.name == "colour_outside_fraction"]
    assert [event.step for event in colours] == [0, 2, 4, 6] and all(0.0 <= e.value <= 1.0 for e in colours)
    assert outside[0].value < 0.02, "the real starting images are within the real range"
    warnings = [event.text for event in events if isinstance(event, Warned) and "turning to noise" in event.text]
    assert len(warnings) == 1 and "a lower image lr" in warnings[0]
    assert not result.readability["readable"] and result.readability["std_ratio"] > 2.0


def test_clamping_keeps_every_pixel_within_the_real_range_even_at_a_huge_image_lr(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    from galaxy_studio.distill.experts import load_buffer_data, open_buffer
    from galaxy_studio.distill.readability import as_pictures, measure_readability, percentile_range

    config = tiny_distill_config(
        tiny_buffer, tiny_set, tmp_path / "clamped", method="mtt", expert_epochs=1, lr_img=1e5, clamp=True
    )
    result = distill(config)
    synthetic = load_synthetic(result.synthetic)
    real = load_buffer_data(open_buffer(tiny_buffer))
    low, high = percentile_range(real.train_images)
    assert np.all(synthetic.images >= low - 1e-6) and np.all(synthetic.images <= high + 1e-6)
    assert np.any(np.isclose(synthetic.images, low, atol=1e-6) | np.isclose(synthetic.images, high, atol=1e-6))
    assert real.zca is not None, "16 px colour is whitened: the clamp holds in whitened space, the measures not"
    on_pictures = measure_readability(
        as_pictures(synthetic.images, real.zca, real.prep), as_pictures(real.train_images, real.zca, real.prep)
    )
    assert result.readability == pytest.approx(on_pictures)


def test_pictures_of_a_set_clipped_at_white_stay_no_brighter_than_white(tiny_set: Path, tmp_path: Path) -> None:
    from PIL import Image

    from galaxy_studio.distill.experts import load_buffer_data, open_buffer, train_experts
    from galaxy_studio.distill.readability import as_pictures

    bright = tmp_path / "bright"
    for path in tiny_set.rglob("*.jpg"):
        target = (bright / path.relative_to(tiny_set)).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        Image.fromarray(np.clip(pixels * 3.0, 0, 255).astype(np.uint8)).save(target)
    buffer = tmp_path / "buffer"
    train_experts(tiny_buffer_config(bright, buffer))
    real = load_buffer_data(open_buffer(buffer))
    assert real.zca is not None
    white = as_pictures(real.train_images, real.zca, real.prep).max(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
    config = tiny_distill_config(buffer, bright, tmp_path / "run", method="mtt", expert_epochs=1, lr_img=1e5)
    pictures = as_pictures(load_synthetic(distill(config).synthetic).images, real.zca, real.prep)
    assert np.all(pictures <= white + 1e-4)
    assert np.any(np.isclose(pictures, white, atol=1e-4)), "the step drove some pixels to white"


def test_bad_settings_are_refused_before_any_work(tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="method must be one of"):
        DistillConfig(buffer="b", data="d", out_dir="o", method="dc")
    with pytest.raises(ModelError, match="syn_steps 0"):
        DistillConfig(buffer="b", data="d", out_dir="o", syn_steps=0)
    with pytest.raises(ModelError, match="expert_epochs 9 is more than the buffer's 3 epochs"):
        distill(tiny_distill_config(tiny_buffer, tiny_set, tmp_path / "x", method="mtt", expert_epochs=9))
    with pytest.raises(ModelError, match="not a buffer"):
        distill(tiny_distill_config(tmp_path, tiny_set, tmp_path / "y"))


def test_smoothing_keeps_the_changes_to_the_images_broad(tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    from galaxy_studio.distill.experts import load_buffer_data, open_buffer
    from galaxy_studio.distill.init import initial_images

    real = load_buffer_data(open_buffer(tiny_buffer))
    rng = np.random.default_rng([0, 2**31])
    start, _ = initial_images(real.train_images, real.train_labels, 3, 2, "real", rng)

    def fine_share(smooth: float) -> float:
        """Energy of the change's pixel-to-pixel differences against its own energy: 2 for
        independent pixels, near 0 for a change that varies slowly across the image."""
        config = tiny_distill_config(
            tiny_buffer, tiny_set, tmp_path / str(smooth), method="mtt", expert_epochs=1, clamp=False, smooth=smooth
        )
        change = load_synthetic(distill(config).synthetic).images - start
        assert np.abs(change).max() > 1e-4, "the images moved"
        return float((np.diff(change, axis=-1) ** 2).mean() / (change**2).mean())

    assert fine_share(1.5) < 0.2 * fine_share(0.0)


def test_smoothing_wider_than_the_images_is_refused_before_anything_runs(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "wide"
    with pytest.raises(ModelError, match=r"smoothing of 6 px reaches across the buffer.s 16 px images: use at most 5"):
        distill(tiny_distill_config(tiny_buffer, tiny_set, out, smooth=6.0))
    assert not out.exists()


def test_cuda_graphs_off_the_gpu_are_noted_and_a_run_resumes_with_or_without_them(
    tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    events: list[object] = []
    run = tmp_path / "run"
    first = distill(
        tiny_distill_config(tiny_buffer, tiny_set, run, iterations=2, checkpoint_every=1, cuda_graphs=True),
        emit=events.append,
    )
    notes = [event.text for event in events if isinstance(event, Noted)]
    assert "CUDA graphs need full memory mode on a CUDA GPU: this run (full, cpu) has none" in notes
    resumed = distill(tiny_distill_config(tiny_buffer, tiny_set, run, iterations=3, checkpoint_every=1))
    assert first.iterations == 2 and resumed.resumed_from == 2 and resumed.iterations == 3
