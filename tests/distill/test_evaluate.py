"""The evaluation protocol: four training sets, mean and std over nets, cached full baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.distill import evaluate
from galaxy_studio.distill.evaluate import (
    FULL_CACHE_FILE,
    SET_NAMES,
    EvaluationProtocol,
    evaluate_synthetic,
    format_table,
)
from galaxy_studio.distill.experts import load_buffer_data, open_buffer
from galaxy_studio.distill.runner import distill
from galaxy_studio.events import Progressed
from galaxy_studio.model.errors import ModelError

from .conftest import tiny_distill_config


@pytest.fixture(scope="module")
def tiny_run(tiny_buffer: Path, tiny_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    distill(tiny_distill_config(tiny_buffer, tiny_set, out, method="mtt", expert_epochs=1, iterations=2))
    return out


def test_report_has_every_set_with_mean_and_std(tiny_run: Path, tiny_buffer: Path) -> None:
    events: list[object] = []
    protocol = EvaluationProtocol(nets=2, epochs=4, full_epochs=1, device="cpu")
    report = evaluate_synthetic(tiny_run, protocol=protocol, emit=events.append)
    assert set(SET_NAMES) <= set(report) and report["ipc"] == 2
    assert report["test_images"] == len(load_buffer_data(open_buffer(tiny_buffer)).test_labels)
    for name in SET_NAMES:
        row = report[name]
        assert len(row["accuracies"]) == 2 and all(0.0 <= a <= 1.0 for a in row["accuracies"])
        assert row["mean"] == pytest.approx(np.mean(row["accuracies"]))
        assert row["std"] == pytest.approx(np.std(row["accuracies"]))
    assert [report[name]["images"] for name in ("distilled", "random_real", "class_mean")] == [6, 6, 3]
    assert report["distilled"]["lr"] != report["random_real"]["lr"] == 0.01
    assert report["full"]["epochs"] == 1 and report["distilled"]["epochs"] == 4
    progress = [e for e in events if isinstance(e, Progressed) and e.what == "training evaluation nets"]
    # The small sets: one step per batch for both nets together (one vmapped model); the full
    # split (more images than stacking pays for) trains its 2 nets one after the other.
    assert progress[-1].done == progress[-1].total == 4 + 4 + 4 + 2 * 1
    table = format_table(report)
    assert table.count("\n") == 5 and "random real" in table and "+-" in table
    assert table.splitlines()[-1].startswith("Prototypes ")
    readability = report["readability"]
    assert 0.0 <= readability["outside_fraction"] <= 1.0 and readability["std_ratio"] > 0.0
    assert readability["nearest_ratio"] > 0.0 and isinstance(readability["readable"], bool)
    cached = json.loads((tiny_buffer / FULL_CACHE_FILE).read_text())
    assert cached["result"] == report["full"]
    again = evaluate_synthetic(tiny_run, protocol=protocol)
    assert again["full"] == report["full"] and again["distilled"] == report["distilled"]


def test_by_default_the_full_row_is_the_buffers_experts_at_no_cost(tiny_run: Path, tiny_buffer: Path) -> None:
    events: list[object] = []
    report = evaluate_synthetic(
        tiny_run, protocol=EvaluationProtocol(nets=2, epochs=4, device="cpu"), emit=events.append
    )
    metadata = json.loads((tiny_buffer / "buffer.json").read_text())
    experts = [expert["test_accuracy"] for expert in metadata["experts"]]
    assert report["full"]["source"] == "experts" and report["full"]["accuracies"] == experts
    assert report["full"]["mean"] == pytest.approx(np.mean(experts))
    assert report["full"]["epochs"] == metadata["epochs"]
    progress = [e for e in events if isinstance(e, Progressed) and e.what == "training evaluation nets"]
    assert progress[-1].total == 4 + 4 + 4, "no net trains on the full split"
    assert "full (experts)" in format_table(report) and f"({len(experts)} experts)" in format_table(report)


def test_bad_protocol_and_missing_run_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="0 or more full-data epochs"):
        evaluate_synthetic(tmp_path, protocol=EvaluationProtocol(nets=1, full_epochs=-1))
    with pytest.raises(ModelError, match="at least 1 net"):
        evaluate_synthetic(tmp_path, protocol=EvaluationProtocol(nets=0))
    with pytest.raises(ModelError, match="no synthetic set"):
        evaluate_synthetic(tmp_path, protocol=EvaluationProtocol(nets=1, device="cpu"))


def test_the_command_writes_the_accuracies_as_a_votable(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from astropy import units as u
    from astropy.table import Table

    from galaxy_studio.cli import main

    out = tmp_path / "evaluation.vot"
    args = ["evaluate-synthetic", str(tiny_run), "--nets", "2", "--epochs", "4", "--device", "cpu"]
    assert main([*args, "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    table = Table.read(out, format="votable")
    assert table["training_set"].tolist() == list(SET_NAMES)
    assert table["accuracy_mean"].tolist() == pytest.approx([report[name]["mean"] for name in SET_NAMES])
    assert table["nets"].tolist() == [2, 2, 2, len(report["full"]["accuracies"])]
    assert table["nets_from"].tolist() == ["fresh", "fresh", "fresh", "experts"]
    assert table["accuracy_mean"].unit == u.dimensionless_unscaled
    assert table["accuracy_std"].description == "standard deviation of the test accuracy over the nets"


def test_nets_trained_together_or_one_by_one_score_alike(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = EvaluationProtocol(nets=2, epochs=4, full_epochs=1, device="cpu")
    together = evaluate_synthetic(tiny_run, protocol=protocol)
    monkeypatch.setattr(evaluate, "_TOGETHER_MAX_IMAGES", 0)
    one_by_one = evaluate_synthetic(tiny_run, protocol=protocol)
    for name in SET_NAMES:
        assert one_by_one[name]["accuracies"] == pytest.approx(together[name]["accuracies"], abs=1e-9), name
