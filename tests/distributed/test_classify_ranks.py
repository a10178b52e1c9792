"""classify under torchrun: two processes write the very file one process writes, a run
whose process was killed resumes to it, and processes that disagree stop before any work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from galaxy_studio.cli import main
from galaxy_studio.model import survey_classification
from galaxy_studio.model.survey_parts import PROGRESS_FILE, parts_folder
from galaxy_studio.model.training import TrainResult
from tests.distributed.torchrun import torchrun

FAULTS = Path(__file__).with_name("classify_faults.py")


def _args(trained_run: TrainResult, data: Path, out: Path) -> list[str]:
    """90 demo galaxies in 6 chunks of 16: ranks 0 and 1 take 3 chunks each."""
    return ["classify", trained_run.checkpoint, str(data), "--out", str(out), "--chunk-size", "16", "--device", "cpu"]


def _one_process(trained_run: TrainResult, data: Path, out: Path) -> bytes:
    assert main([*_args(trained_run, data, out), "--quiet"]) == 0
    return out.read_bytes()


def test_two_processes_write_the_file_one_process_writes(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    expected = _one_process(trained_run, demo_set, tmp_path / "one.csv")
    out = tmp_path / "two.csv"
    result = torchrun(_args(trained_run, demo_set, out), home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected
    assert not parts_folder(out).exists()
    assert result.stdout.count("90 cutouts classified") == 1, "process 0 alone reports the table"


def test_a_run_whose_process_was_killed_resumes_to_the_same_file(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.csv"
    killed = torchrun(
        _args(trained_run, demo_set, out),
        home=tmp_path / "home",
        script=FAULTS,
        extra_env={"GS_TEST_FAULT": "die-after-first-chunk"},
    )
    assert killed.returncode != 0
    parts = parts_folder(out)
    assert (parts / "chunk-1.rank-1-of-2.jsonl").is_file() and not out.exists()
    assert not list(parts.glob("chunk-3.*")), "process 1 died after its first chunk"
    # Another number of processes would shard the chunks differently: refused.
    assert main(_args(trained_run, demo_set, out)) == 1
    assert "it ran as 2 process(es), this command as 1" in capsys.readouterr().err
    resumed = torchrun(_args(trained_run, demo_set, out), home=tmp_path / "home")
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == _one_process(trained_run, demo_set, tmp_path / "one.csv")
    assert not parts.exists()


def test_processes_that_disagree_about_the_inputs_stop_before_any_work(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.csv"
    result = torchrun(
        _args(trained_run, demo_set, out),
        home=tmp_path / "home",
        script=FAULTS,
        extra_env={"GS_TEST_FAULT": "other-inputs"},
    )
    assert result.returncode != 0
    # torchrun stops the other process as soon as one fails, so only one may get to print.
    assert re.search(
        r"rank [01]: error: the 2 processes disagree about the command \(model, inputs and options\): "
        r"rank 1 sees it differently from rank 0",
        result.stderr,
    ), result.stderr
    assert not out.exists() and not parts_folder(out).exists()


def test_a_partial_run_of_one_process_is_not_finished_by_two(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "p.csv"

    def die(path: Path, rows: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C before the one process wrote its first chunk

    monkeypatch.setattr(survey_classification, "write_chunk", die)
    assert main([*_args(trained_run, demo_set, out), "--quiet"]) == 130
    assert (parts_folder(out) / PROGRESS_FILE).is_file()
    result = torchrun(_args(trained_run, demo_set, out), home=tmp_path / "home")
    assert result.returncode != 0
    assert re.search(
        rf"rank [01]: error: {re.escape(str(parts_folder(out)))} holds a partial run of another command "
        r"\(it ran as 1 process\(es\), this command as 2\)",
        result.stderr,
    ), result.stderr
