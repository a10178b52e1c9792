"""Training as a job: it learns, reports, cancels, resumes exactly and leaves a complete run folder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.events import Cancelled, CancelToken, EpochEnded, MetricLogged, Progressed
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.datasets import GalaxyDataset
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.runs import list_runs
from galaxy_studio.model.training import (
    TrainResult,
    class_weights,
    train_classifier,
    training_loader,
)

from .conftest import tiny_config


def test_a_tiny_run_learns_well_above_chance(trained_run: TrainResult) -> None:
    metrics = trained_run.metrics
    assert metrics["n"] == 12, "round(30 x 0.15) = 4 test images per class"
    assert metrics["accuracy"] >= 0.8, "three classes: guessing gives 1/3"
    assert metrics["macro_auc"] >= 0.9
    first, last = trained_run.history[0], trained_run.history[-1]
    assert last["train_loss"] < 0.6 * first["train_loss"]
    assert 1 <= trained_run.best_epoch <= trained_run.epochs_run == len(trained_run.history)


def test_the_run_folder_holds_the_checkpoint_and_the_records(trained_run: TrainResult) -> None:
    run = Path(trained_run.run_dir)
    assert sorted(path.name for path in run.iterdir()) == ["config.json", "history.json", "metrics.json", "model.pt"], (
        "last.pt is removed once the run has finished"
    )
    assert json.loads((run / "metrics.json").read_text()) == trained_run.metrics
    assert json.loads((run / "history.json").read_text()) == trained_run.history
    assert json.loads((run / "config.json").read_text())["epochs"] == 12
    _, metadata = load_classifier(run / "model.pt")
    assert metadata["metrics"] == trained_run.metrics
    assert metadata["architecture"]["name"] == "galaxy-cnn" and metadata["architecture"]["width"] == 16
    assert metadata["preprocessing"]["size"] == 32 and len(metadata["preprocessing"]["mean"]) == 3
    assert set(metadata["versions"]) >= {"galaxy_studio", "torch", "torchvision", "numpy"}


def test_the_kept_weights_are_the_moving_average_and_still_learn(demo_set: Path, tmp_path: Path) -> None:
    """With `ema` the checkpoint holds averaged weights, not the trained ones, and they classify
    as well as a plain run's (a first version, with averaged batch-norm statistics, had the
    averaged net guess one class for every gz-spiral image)."""
    averaged = train_classifier(tiny_config(demo_set, tmp_path / "ema", ema=0.9))
    plain = train_classifier(tiny_config(demo_set, tmp_path / "plain", ema=None))
    first = load_classifier(averaged.checkpoint)[0].state_dict()
    second = load_classifier(plain.checkpoint)[0].state_dict()
    assert any(not torch.equal(first[key], second[key]) for key in first if key.endswith("weight"))
    assert averaged.metrics["accuracy"] >= 0.8


def test_events_follow_the_job_protocol(demo_set: Path, tmp_path: Path) -> None:
    events: list[object] = []
    train_classifier(tiny_config(demo_set, tmp_path / "run", epochs=2), emit=events.append)
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [(e.epoch, e.epochs) for e in epochs] == [(1, 2), (2, 2)]
    curves = {(e.name, e.step) for e in events if isinstance(e, MetricLogged)}
    assert curves == {(name, step) for name in ("train_loss", "val_loss", "train_acc", "val_acc") for step in (1, 2)}
    batches = [e for e in events if isinstance(e, Progressed) and e.what == "epoch 1/2"]
    assert [e.done for e in batches] == [1, 2, 3, 4, 5] and batches[-1].total == 5, "66 images, batches of 16"


def _state_of(run_dir: Path) -> dict[str, torch.Tensor]:
    model, _ = load_classifier(run_dir / "model.pt")
    return model.state_dict()


def test_cancel_mid_epoch_then_resume_reaches_the_uninterrupted_result(demo_set: Path, tmp_path: Path) -> None:
    straight = train_classifier(tiny_config(demo_set, tmp_path / "straight", epochs=3))

    token = CancelToken()

    def cancel_in_epoch_two(event: object) -> None:
        if isinstance(event, Progressed) and event.what == "epoch 2/3" and event.done == 2:
            token.set()

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Cancelled):
        train_classifier(tiny_config(demo_set, interrupted, epochs=3), emit=cancel_in_epoch_two, cancel=token)
    assert (interrupted / "last.pt").is_file() and not (interrupted / "model.pt").exists()
    assert [row["epoch"] for row in json.loads((interrupted / "history.json").read_text())] == [1]
    assert [run.status for run in list_runs(tmp_path) if run.name == "interrupted"] == ["unfinished"]
    with pytest.raises(ModelError, match=r"unfinished run of another config \(lr 0.003 there, 0.001 asked\)"):
        train_classifier(tiny_config(demo_set, interrupted, epochs=3, lr=1e-3))

    epochs_seen: list[int] = []
    resumed = train_classifier(
        tiny_config(demo_set, interrupted, epochs=3),
        emit=lambda e: epochs_seen.append(e.epoch) if isinstance(e, EpochEnded) else None,
    )
    assert resumed.resumed_from == 1 and epochs_seen == [2, 3], "numbering continues after the checkpoint"
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in straight.history]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in resumed.history] == strip
    expected, actual = _state_of(Path(straight.run_dir)), _state_of(interrupted)
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[key], actual[key]) for key in expected), "bit-identical weights"
    assert resumed.metrics == straight.metrics


def test_a_finished_run_is_returned_and_another_config_is_refused(trained_run: TrainResult, demo_set: Path) -> None:
    run_dir = Path(trained_run.run_dir)
    again = train_classifier(tiny_config(demo_set, run_dir))
    assert again.metrics == trained_run.metrics and again.history == trained_run.history
    with pytest.raises(ModelError, match=r"another config \(epochs 12 there, 13 asked\)"):
        train_classifier(tiny_config(demo_set, run_dir, epochs=13))


def test_impossible_recipes_are_refused_before_decoding(demo_set: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown architecture"):
        train_classifier(tiny_config(demo_set, tmp_path / "a", arch="lenet"))
    with pytest.raises(ModelError, match="balance"):
        train_classifier(tiny_config(demo_set, tmp_path / "b", balance="oversample"))
    with pytest.raises(ModelError, match="weight-average decay"):
        train_classifier(tiny_config(demo_set, tmp_path / "d", ema=1.5))
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            train_classifier(tiny_config(demo_set, tmp_path / "c", device="cuda"))
    assert not any(tmp_path.iterdir()), "nothing written"


def test_unequal_classes_are_weighted_or_resampled(tmp_path: Path) -> None:
    labels = np.array([0] * 30 + [1] * 10)
    weights = class_weights(labels, 3)
    assert weights.tolist() == pytest.approx([40 / 60, 40 / 20, 0.0])
    assert float(weights[labels].mean()) == pytest.approx(1.0)
    prep = Preprocessing(size=8).with_statistics([0.0] * 3, [1.0] * 3)
    dataset = GalaxyDataset(np.zeros((40, 3, 8, 8), np.uint8), labels, prep, rotations="none")
    config = tiny_config(tmp_path, tmp_path / "run", balance="sampler", batch_size=40)
    drawn = np.concatenate([next(iter(training_loader(dataset, config, epoch)))[1].numpy() for epoch in range(1, 26)])
    assert 0.4 < drawn.mean() < 0.6, "the minority class is drawn as often as the majority"
    shuffled = next(iter(training_loader(dataset, replace(config, balance="loss"), 1)))[1].numpy()
    assert sorted(shuffled.tolist()) == sorted(labels.tolist()), "otherwise each image once per epoch"


def test_past_runs_are_listed_with_their_curves(trained_run: TrainResult) -> None:
    runs = list_runs(Path(trained_run.run_dir).parent)
    (run,) = [run for run in runs if run.path == Path(trained_run.run_dir)]
    assert run.status == "finished" and run.metrics == trained_run.metrics
    assert [row["val_loss"] for row in run.history] == [row["val_loss"] for row in trained_run.history]
    assert run.config["arch"] == "galaxy-cnn"
