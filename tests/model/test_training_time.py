"""The training-time estimate times the run's own work: decoding, resampling, steps, validation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from galaxy_studio.model import datasets
from galaxy_studio.model.datasets import GalaxyDataset
from galaxy_studio.model.prediction import describe_device
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.training import estimate_training_time, steps_per_epoch, training_loader
from galaxy_studio.model.training_time import TrainingTimeEstimate, seconds_left

from .conftest import tiny_config

DEMO_IMAGES = 90  # tests/conftest.py: three classes of 30


def test_the_estimate_reads_as_time_per_epoch_total_and_device() -> None:
    estimate = TrainingTimeEstimate(31.4, 22.0, 30, "CPU, 2 threads", "3 steps")
    assert estimate.total_seconds == pytest.approx(22.0 + 30 * 31.4)
    assert estimate.text() == (
        "About 31 s per epoch on CPU, 2 threads: 16 min 04 s for 30 epochs, reading the images and testing (22 s) "
        "included."
    )
    stopping = TrainingTimeEstimate(2.0, 3.0, 100, "CPU, 2 threads", "3 steps", patience=20)
    assert stopping.text().endswith(
        "3 min 23 s for 100 epochs, reading the images and testing (3 s) included; less if 20 epochs in a row "
        "bring no better validation loss."
    )


def test_the_time_left_is_the_mean_measured_epoch_times_the_epochs_left() -> None:
    assert seconds_left([30.0, 50.0, 40.0], 7) == pytest.approx(280.0)
    assert seconds_left([30.0], 0) == 0.0
    with pytest.raises(ValueError):
        seconds_left([], 3)


def test_the_device_is_named_with_its_threads() -> None:
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert describe_device(torch.device("cpu")) == "CPU, 2 threads"
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")) == "CPU, 1 thread"
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("images", [1, 2, 15, 16, 17, 33, 64])
def test_steps_per_epoch_are_the_batches_the_loader_yields(images: int) -> None:
    config = tiny_config(Path("d"), Path("o"), batch_size=16)
    prep = Preprocessing(size=8, channels="display")
    dataset = GalaxyDataset(np.zeros((images, 3, 8, 8), np.uint8), np.zeros(images, np.int64), prep, rotations="none")
    assert steps_per_epoch(images, config) == len(training_loader(dataset, config, 1))


@pytest.mark.usefixtures("one_torch_thread")
def test_the_estimate_grows_with_the_work(demo_set: Path, tmp_path: Path) -> None:
    small = estimate_training_time(tiny_config(demo_set, tmp_path / "e", arch="convnet-d3", size=16, width=32))
    large = estimate_training_time(tiny_config(demo_set, tmp_path / "e", arch="convnet-d3", size=128, width=32))
    assert 0 < small.epoch_seconds < large.epoch_seconds, "64x the pixels: a margin no stall on a busy machine closes"
    assert small.device == "CPU, 1 thread" and small.epochs == 12
    assert not (tmp_path / "e").exists(), "an estimate writes nothing"


@pytest.mark.usefixtures("one_torch_thread")
def test_the_estimate_counts_decoding_every_image(
    demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails on the old estimator, which timed random pixels and never read an image. Only the
    one-off part is compared: the per-epoch timing of two estimates differs by a third on a busy
    machine, and twelve epochs of that drown the decoding in the totals."""
    config = tiny_config(demo_set, tmp_path / "e", size=16, threads=2)
    before = estimate_training_time(config)
    read_item, delay = datasets.read_item, 0.03

    def slow_read_item(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return read_item(*args, **kwargs)

    monkeypatch.setattr(datasets, "read_item", slow_read_item)
    after = estimate_training_time(config)
    expected = delay * DEMO_IMAGES / config.threads  # every image once, on two decoding threads
    assert 0.7 * expected < after.once_seconds - before.once_seconds < 1.6 * expected


@pytest.mark.usefixtures("one_torch_thread")
def test_the_estimate_counts_resampling_every_batch(
    demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails on the old estimator, which fed the network ready-made random batches."""
    config = tiny_config(demo_set, tmp_path / "e", size=16, augment=True, rotations="any")
    before = estimate_training_time(config)
    rotate_and_crop, delay = datasets.rotate_and_crop, 0.05

    def slow_rotate_and_crop(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return rotate_and_crop(*args, **kwargs)

    monkeypatch.setattr(datasets, "rotate_and_crop", slow_rotate_and_crop)
    after = estimate_training_time(config)
    steps = steps_per_epoch(round(DEMO_IMAGES * 0.7), config)
    passes = 1 if config.ema is None else 2  # the weight average's batch-norm pass resamples too
    expected = delay * steps * passes
    assert 0.7 * expected < after.epoch_seconds - before.epoch_seconds < 1.8 * expected
