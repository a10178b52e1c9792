"""Unsupervised distillation (seed 002): loss terms against explicit computations, the warm-up,
the anti-collapse counter-measure, cancel + exact resume, and the CLI on a tiny IDX set."""

from __future__ import annotations

import errno
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.cli import main
from galaxy_studio.data.idx import write_idx
from galaxy_studio.distill.autoencoder import (
    ShallowAutoencoder,
    diversity,
    mean_pairwise_distance,
    nearest_neighbour_repulsion,
    synthetic_reconstruction_terms,
    warmup_factor,
)
from galaxy_studio.distill.flat_data import load_flat_data
from galaxy_studio.distill.unsupervised import distill_unsupervised, joint_loss_terms
from galaxy_studio.distill.unsupervised_config import UnsupervisedConfig
from galaxy_studio.events import Cancelled, CancelToken, Progressed

SIDE = 10
CLASSES = 3


def _digits(rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Bright 4x4 squares at a class-specific place on faint noise: separable by a linear head."""
    labels = np.repeat(np.arange(CLASSES), per_class).astype(np.uint8)
    images = rng.integers(0, 40, size=(len(labels), SIDE, SIDE)).astype(np.uint8)
    for index, label in enumerate(labels):
        top = 1 + 3 * int(label)
        images[index, top : top + 4, top : top + 4] = 230
    return images, labels


@pytest.fixture(scope="module")
def tiny_idx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-idx")
    rng = np.random.default_rng(0)
    for stem, per_class in (("train", 30), ("t10k", 8)):
        images, labels = _digits(rng, per_class)
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return folder


def tiny_config(data: Path, out: Path, **changes: object) -> UnsupervisedConfig:
    settings: dict[str, object] = {
        "samples": 12,
        "hidden": 8,
        "batch_size": 8,
        "lr": 0.01,
        "lr_syn": 0.02,
        "pretrain_epochs": 4,
        "patience": 2,
        "epochs": 3,
        "warmup_epochs": 2,
        "fresh_nets": 2,
        "fresh_epochs": 60,
        "device": "cpu",
    }
    settings.update(changes)
    return UnsupervisedConfig(data=str(data), out_dir=str(out), **settings)  # type: ignore[arg-type]


def _reconstruction(autoencoder: ShallowAutoencoder, s: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((autoencoder(s) - s) ** 2).mean())


@pytest.mark.parametrize("tied", [False, True])
def test_gradient_penalty_is_the_norm_of_the_finite_difference_gradient(tied: bool) -> None:
    torch.manual_seed(0)
    autoencoder = ShallowAutoencoder(6, 3, tied=tied).double()
    s = torch.rand(4, 6, dtype=torch.float64, requires_grad=True)
    rec, penalty = synthetic_reconstruction_terms(autoencoder, s)
    step = 1e-6
    numeric = torch.zeros_like(s)
    with torch.no_grad():
        for index in np.ndindex(*s.shape):
            up, down = s.detach().clone(), s.detach().clone()
            up[index] += step
            down[index] -= step
            numeric[index] = (_reconstruction(autoencoder, up) - _reconstruction(autoencoder, down)) / (2 * step)
    assert float(rec.detach()) == pytest.approx(_reconstruction(autoencoder, s.detach()), rel=1e-12)
    assert float(penalty.detach()) == pytest.approx(float(numeric.norm()), rel=1e-6)
    # create_graph: the penalty itself has a gradient with respect to the samples (a second derivative).
    (through,) = torch.autograd.grad(penalty, s)
    with torch.no_grad():
        bumped = s.detach().clone()
        bumped[0, 0] += 1e-5
    bumped.requires_grad_(True)
    _, bumped_penalty = synthetic_reconstruction_terms(autoencoder, bumped)
    assert float(through[0, 0]) == pytest.approx(float((bumped_penalty - penalty).detach()) / 1e-5, rel=1e-3)


def test_diversity_is_half_the_mean_squared_pairwise_distance_per_value() -> None:
    s = torch.rand(5, 7, dtype=torch.float64)
    pairwise = torch.cdist(s, s).pow(2).sum() / (5 * 5 * 7)
    assert float(diversity(s)) == pytest.approx(float(pairwise) / 2, rel=1e-12)
    assert mean_pairwise_distance(torch.ones(4, 3)) == 0.0
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


def test_repulsion_is_the_mean_negative_log_nearest_neighbour_distance() -> None:
    s = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 2.0, 1.0, 0.0], [4.0, 4.0, 4.0, 4.0]])
    nearest = torch.tensor([4.0, 1.0, 1.0, 16.0 + 4.0 + 9.0 + 16.0])
    assert float(nearest_neighbour_repulsion(s)) == pytest.approx(
        float(-torch.log(nearest / 4 + 1e-4).mean()), rel=1e-5
    )
    (push,) = torch.autograd.grad(nearest_neighbour_repulsion(s.requires_grad_(True)), s)
    assert push[1, 2] > 0 > push[2, 2]  # lowering the loss moves the two closest samples apart


def test_warmup_ramps_linearly_then_holds() -> None:
    assert [warmup_factor(step, 10) for step in (0, 5, 10, 25)] == [0.0, 0.5, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_warmup_silences_reconstruction_and_diversity_but_not_the_rest() -> None:
    config = UnsupervisedConfig(data="", out_dir="", l_rec=3.0, l_div=5.0, l_grad=2.0, l_real_rec=7.0, l_repel=0.5)
    torch.manual_seed(1)
    autoencoder, head = ShallowAutoencoder(6, 3), torch.nn.Linear(3, 2)
    s = torch.rand(4, 6, requires_grad=True)
    x, y = torch.rand(5, 6), torch.tensor([0, 1, 0, 1, 1])
    cold = {name: term.detach() for name, term in joint_loss_terms(config, autoencoder, head, s, x, y, 0.0).items()}
    assert float(cold["total"]) == pytest.approx(float(cold["cls"] + 2.0 * cold["grad"]), rel=1e-6)
    warm = {name: term.detach() for name, term in joint_loss_terms(config, autoencoder, head, s, x, y, 0.5).items()}
    expected = (
        warm["cls"]
        + 0.5 * 3.0 * warm["rec"]
        + 2.0 * warm["grad"]
        - 0.5 * 5.0 * warm["div"]
        + 0.5 * 7.0 * warm["real_rec"]
        + 0.5 * 0.5 * warm["repel"]
    )
    assert float(warm["total"]) == pytest.approx(float(expected), rel=1e-6)


def test_run_reports_both_accuracies_and_records_the_warmup(tiny_idx: Path, tmp_path: Path) -> None:
    result = distill_unsupervised(tiny_config(tiny_idx, tmp_path / "run"))
    assert result.joint_val_accuracy > 0.9  # the squares are linearly separable
    assert 0.0 <= result.fresh_test_accuracy <= 1.0 and 0.0 <= result.random_real_test_accuracy <= 1.0
    assert sum(result.predicted_counts) == 12 and result.test_source.endswith("t10k-images-idx3-ubyte.gz")
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    joint = [record for record in history if record["phase"] == "joint"]
    assert [record["warmup"] for record in joint] == [0.5, 1.0, 1.0]
    with np.load(tmp_path / "run" / "synthetic.npz") as saved:
        assert saved["samples"].shape == (12, 1, SIDE, SIDE)
        assert saved["samples"].min() >= 0.0 and saved["samples"].max() <= 1.0
        assert result.homogeneity == pytest.approx(mean_pairwise_distance(torch.from_numpy(saved["samples"])))
    assert result.initial_homogeneity != result.homogeneity


def test_anti_collapse_keeps_the_samples_further_apart(tiny_idx: Path, tmp_path: Path) -> None:
    plain = tiny_config(tiny_idx, tmp_path / "plain", l_div=0.0, epochs=4, fresh_nets=1, fresh_epochs=1)
    countered = replace(plain, out_dir=str(tmp_path / "countered"), l_real_rec=1.0, l_repel=0.01)
    without = distill_unsupervised(plain).homogeneity
    with_counter = distill_unsupervised(countered).homogeneity
    assert with_counter > 2 * without


def test_cancelled_run_resumes_to_the_same_samples(tiny_idx: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_idx, tmp_path / "whole", fresh_epochs=1)
    distill_unsupervised(config)
    token, seen = CancelToken(), []

    def cancel_in_second_joint_epoch(event: object) -> None:
        if isinstance(event, Progressed) and event.what.startswith("joint epoch 2"):
            seen.append(event)
            if len(seen) == 2:
                token.set()

    stopped = replace(config, out_dir=str(tmp_path / "stopped"))
    with pytest.raises(Cancelled):
        distill_unsupervised(stopped, emit=cancel_in_second_joint_epoch, cancel=token)
    assert not (tmp_path / "stopped" / "synthetic.npz").exists()
    resumed = distill_unsupervised(stopped)
    assert resumed.resumed_from == "joint epoch 1"
    with np.load(tmp_path / "whole" / "synthetic.npz") as a, np.load(tmp_path / "stopped" / "synthetic.npz") as b:
        np.testing.assert_array_equal(a["samples"], b["samples"])
    with pytest.raises(Exception, match=r"another recipe \(l_div [\d.]+ there, 0.5 asked\)"):
        distill_unsupervised(replace(stopped, l_div=0.5))


def test_galaxy_cutouts_flatten_in_grey_or_colour(tiny_set: Path) -> None:
    grey = load_flat_data(
        tiny_set, size=12, crop_fraction=1.0, colour=False, val_fraction=0.2, test_fraction=0.2, seed=0
    )
    colour = load_flat_data(
        tiny_set, size=12, crop_fraction=1.0, colour=True, val_fraction=0.2, test_fraction=0.2, seed=0
    )
    assert grey.shape == (1, 12, 12) and colour.shape == (3, 12, 12)
    assert colour.train_x.shape[1] == 3 * 144 and len(grey.classes) == 3
    assert 0.0 <= colour.train_x.min() and colour.train_x.max() <= 1.0 and colour.train_x.std() > 0.01
    assert len(grey.train_x) + len(grey.val_x) + len(grey.test_x) == 36


def test_cli_end_to_end_prints_a_json_summary(
    tiny_idx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli-run"
    code = main(
        [
            "distill-unsupervised",
            str(tiny_idx),
            "--samples",
            "9",
            "--out",
            str(out),
            "--json",
            "--hidden",
            "8",
            "--batch-size",
            "8",
            "--lr",
            "0.01",
            "--pretrain-epochs",
            "3",
            "--epochs",
            "2",
            "--warmup-epochs",
            "1",
            "--fresh-nets",
            "1",
            "--fresh-epochs",
            "40",
            "--anti-collapse",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["joint_val_accuracy"] > 0.9 and sum(summary["predicted_counts"]) == 9
    for key in ("fresh_test_accuracy", "random_real_test_accuracy", "homogeneity", "random_real_homogeneity"):
        assert isinstance(summary[key], float)
    assert Path(summary["samples_png"]).is_file() and (out / "reconstructions.png").is_file()
    assert json.loads((out / "config.json").read_text())["l_repel"] > 0


def test_cli_reports_a_truncated_idx_file_in_one_line(
    tiny_idx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in tiny_idx.iterdir():
        (broken / file.name).write_bytes(file.read_bytes())
    labels = broken / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:15])
    assert main(["distill-unsupervised", str(broken), "--out", str(tmp_path / "x"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train-labels-idx1-ubyte.gz: damaged or truncated gzip stream" in err[0]


def test_disk_full_is_one_line_and_the_last_checkpoint_resumes(
    tiny_idx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import galaxy_studio.distill.run_state as module

    write, calls = module.write_bytes_atomically, []

    def full_after_first_checkpoint(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(path, data)

    monkeypatch.setattr(module, "write_bytes_atomically", full_after_first_checkpoint)
    out = tmp_path / "full"
    args = [
        "distill-unsupervised",
        str(tiny_idx),
        "--samples",
        "6",
        "--out",
        str(out),
        "--hidden",
        "8",
        "--pretrain-epochs",
        "3",
        "--epochs",
        "1",
        "--fresh-nets",
        "1",
        "--fresh-epochs",
        "5",
        "--device",
        "cpu",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("galaxy-studio: error: ") and "No space left on device" in err[-1]
    assert str(out) in err[-1] and not any("Traceback" in line for line in err)
    monkeypatch.setattr(module, "write_bytes_atomically", write)
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["resumed_from"] == "pretrain epoch 1"
