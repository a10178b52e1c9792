"""`galaxy-studio train` and `evaluate`: the contract scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from galaxy_studio.cli import main
from galaxy_studio.model.training import TrainResult

TINY = ["--size", "32", "--crop", "1", "--width", "16", "--batch-size", "16", "--lr", "0.003", "--device", "cpu"]


def test_train_prints_progress_on_stderr_and_metrics_json_last(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train", str(demo_set), "--out", str(out), "--epochs", "2", "--amp", *TINY]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out.strip().splitlines()[-1])
    assert record["checkpoint"] == str(out / "model.pt") and (out / "model.pt").is_file()
    assert record["n"] == 12 and 0.0 <= record["accuracy"] <= 1.0 and record["epochs_run"] == 2
    assert record["classes"] == json.loads((out / "metrics.json").read_text())["classes"]
    low, high = record["accuracy_ci95"]
    assert 0.0 <= low <= record["accuracy"] <= high <= 1.0
    assert record["warnings"] and record["warnings"][0].startswith("only 12 test images (fewer than 20)")
    assert record["warnings"] == json.loads((out / "metrics.json").read_text())["warnings"]
    assert f"warning: {record['warnings'][0]}" in captured.err, "the warning is printed, not only stored"
    assert "(n=12, 95% CI " in captured.err
    assert "epoch 1/2" in captured.err and "epoch 2/2" in captured.err and "decoding training images" in captured.err
    config = json.loads((out / "config.json").read_text())
    assert (config["epochs"], config["size"], config["arch"], config["augment"]) == (2, 32, "galaxy-cnn", True)
    assert config["amp"] is True, "--amp is recorded (the CPU trains in float32 all the same)"


def test_evaluate_prints_a_table_or_json(
    trained_run: TrainResult, demo_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["evaluate", trained_run.checkpoint, str(demo_set), "--split", "test", "--json", "--device", "cpu"]) == 0
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["accuracy"] == trained_run.metrics["accuracy"] and report["split"] == "test"
    assert report["accuracy_ci95"] == trained_run.metrics["accuracy_ci95"] and report["n"] == trained_run.metrics["n"]
    assert report["warnings"] == trained_run.metrics["warnings"]
    assert main(["evaluate", trained_run.checkpoint, str(demo_set), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("90 images: accuracy ") and "confusion matrix" in text
    assert "(n=90, 95% CI " in text and "recall 95% CI" in text and "warning:" not in text
    assert "Unbarred Loose Spiral" in text and "precision" in text


def test_problems_are_one_line_without_a_traceback(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.jpg").write_bytes(next(demo_set.rglob("*.jpg")).read_bytes())
    assert main(["train", str(flat), "--out", str(tmp_path / "run"), *TINY]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("galaxy-studio: error: ") and "no labelled images" in err[0]
    assert main(["evaluate", str(tmp_path / "nope.pt"), str(demo_set)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such checkpoint" in err[0]
