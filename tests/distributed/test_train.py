"""`train` as two torchrun processes: the run one process makes, written by rank 0 alone,
resumed after a rank dies; ranks that disagree and multi-run options are refused.

convnet-d3 (instance norm, no batch norm) at width 8: with batch norm, the CPU's gloo ranks
would normalise each half-batch by its own statistics and end elsewhere, by design
(model/training_ranks.py). Its last batch of the 66 training images holds 2, one per rank.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from galaxy_studio import distributed
from galaxy_studio.cli import main
from galaxy_studio.distributed import Ranks
from tests.conftest import DEMO_CLASSES, write_demo_classes
from tests.distributed.torchrun import torchrun

FAULTS = Path(__file__).with_name("train_with_faults.py")
RECIPE = [
    "--arch", "convnet-d3", "--width", "8", "--size", "32", "--crop", "1", "--epochs", "3",
    "--batch-size", "16", "--lr", "0.003", "--device", "cpu",
]  # fmt: skip
# Rounding: the ranks split each batch's sums in two and gloo adds the halves, so figures
# agree to float32 rounding (1e-7 relative, measured 2e-7 at most after the temperature fit).
CLOSE = 1e-5
# Conv biases right before convnet-d3's instance norm have no effect on the output (the norm
# subtracts each channel's mean), so their gradient is rounding noise, which Adam scales up
# to steps of the learning rate's size: they differ between any two summation orders. The
# weights that matter agree to 1e-8; 1e-6 leaves room for a machine with other kernels.
WEIGHTS_CLOSE = 1e-6
CANCELLED_BIASES = ("0.bias", "4.bias", "8.bias")


def _train(data: Path, out: Path | None, home: Path, *, processes: int = 2, **options: Any) -> Any:
    where = [] if out is None else ["--out", str(out)]
    return torchrun(["train", str(data), *where, *RECIPE], processes=processes, home=home, **options)


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _assert_close(one: Any, other: Any, where: str = "") -> None:
    """Equal structure and values, numbers within CLOSE (relative, or absolute near 0)."""
    if isinstance(one, dict):
        assert one.keys() == other.keys(), where
        for key in one:
            _assert_close(one[key], other[key], f"{where}.{key}")
    elif isinstance(one, list):
        assert len(one) == len(other), where
        for index, (a, b) in enumerate(zip(one, other)):
            _assert_close(a, b, f"{where}[{index}]")
    elif isinstance(one, float) and not isinstance(other, bool):
        assert math.isclose(one, other, rel_tol=CLOSE, abs_tol=CLOSE), f"{where}: {one} != {other}"
    else:
        assert one == other, where


def _history(run: Path) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key != "seconds"} for row in _json(run / "history.json")]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "model.pt", map_location="cpu", weights_only=True)["state_dict"]
    return {key: value for key, value in state.items() if key not in CANCELLED_BIASES}


@pytest.fixture(scope="module")
def runs(demo_set: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The recipe trained by one process into `single/`, and by two with no --out, so that
    rank 0 names the folder under the app's runs folder."""
    root = tmp_path_factory.mktemp("dist-train")
    single = _train(demo_set, root / "single", root / "home-single", processes=1)
    assert single.returncode == 0, single.stderr
    pair = _train(demo_set, None, root / "home")
    assert pair.returncode == 0, pair.stderr
    (run,) = (root / "home").glob("**/model.pt")
    return {"single": root / "single", "pair": run.parent, "result": pair}


def test_two_ranks_train_the_run_one_process_trains(runs: dict[str, Any]) -> None:
    single, pair = runs["single"], runs["pair"]
    _assert_close(_json(pair / "metrics.json"), _json(single / "metrics.json"))
    _assert_close(_history(pair), _history(single))
    ours, theirs = _weights(pair), _weights(single)
    assert ours.keys() == theirs.keys() and len(ours) == 11
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=WEIGHTS_CLOSE, msg=key)
    config = _json(pair / "config.json")
    assert config["arch"] == "convnet-d3" and config["out_dir"] == str(pair)


def test_rank_0_alone_reports(runs: dict[str, Any]) -> None:
    result = runs["result"]
    lines = result.stdout.splitlines()
    assert len(lines) == 1, "one JSON record, from rank 0"
    record = json.loads(lines[0])
    assert record["run_dir"] == str(runs["pair"])
    assert record["accuracy"] == _json(runs["pair"] / "metrics.json")["accuracy"]
    assert "epoch 3/3" in result.stderr and "rank 1" not in result.stderr
    assert result.stderr.count("test accuracy") == 1
    assert sorted(path.name for path in runs["pair"].iterdir()) == [
        "config.json",
        "history.json",
        "metrics.json",
        "model.pt",
    ]


def test_a_killed_rank_costs_one_epoch_and_resumes_to_the_same_run(
    runs: dict[str, Any], demo_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs" / "resumed"
    killed = _train(demo_set, out, tmp_path / "home", script=FAULTS, extra_env={"GS_TEST_EXIT_AFTER_EPOCH": "1"})
    assert killed.returncode != 0
    assert [row["epoch"] for row in _json(out / "history.json")] == [1]
    assert (out / "last.pt").is_file() and not (out / "model.pt").exists()

    log = tmp_path / "writes"
    watch = {"GS_TEST_WATCHED": str(tmp_path / "runs"), "GS_TEST_WRITES_LOG": str(log)}
    resumed = _train(demo_set, out, tmp_path / "home", script=FAULTS, extra_env=watch)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "after epoch 1" in resumed.stderr
    assert (log.parent / "writes.rank1").read_text() == "", "rank 1 wrote nothing in the run folder"
    assert not (out / "last.pt").exists()
    _assert_close(_json(out / "metrics.json"), _json(runs["pair"] / "metrics.json"))
    _assert_close(_history(out), _history(runs["pair"]))


def test_ranks_that_see_different_data_stop_before_writing(demo_set: Path, tmp_path: Path) -> None:
    other = write_demo_classes(tmp_path / "other", DEMO_CLASSES, per_class=30, size=40, seed=4)
    out = tmp_path / "run"
    result = _train(demo_set, out, tmp_path / "home", script=FAULTS, extra_env={"GS_TEST_RANK1_DATA": str(other)})
    assert result.returncode != 0
    assert "disagree about the training data" in result.stderr
    assert "rank 1 sees it differently from rank 0" in result.stderr
    assert not out.exists()


def test_cross_validation_is_refused_as_several_processes(demo_set: Path, tmp_path: Path) -> None:
    result = torchrun(["train", str(demo_set), "--out", str(tmp_path / "run"), "--cv", "2", *RECIPE], home=tmp_path)
    assert result.returncode != 0
    assert "train --cv runs in one process, not as 2 processes under torchrun" in result.stderr
    assert not (tmp_path / "run").exists()


def test_an_estimate_is_refused_as_several_processes(
    demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process, as rank 0 of two: the refusal comes before the group is used."""
    monkeypatch.setattr(distributed, "current_ranks", lambda: Ranks(0, 2, 0))
    assert main(["train", str(demo_set), "--out", str(tmp_path / "run"), "--estimate", *RECIPE]) == 1
    assert "train --estimate runs in one process, not as 2 processes under torchrun" in capsys.readouterr().err
