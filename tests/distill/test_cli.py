"""The buffer, distill and evaluate-synthetic commands end to end on a tiny set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from galaxy_studio.cli import main


def test_buffer_distill_evaluate_from_the_command_line(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    buffer, run = tmp_path / "buffer", tmp_path / "run"
    assert (
        main(
            [
                "buffer",
                str(tiny_set),
                "--experts",
                "1",
                "--epochs",
                "2",
                "--width",
                "8",
                "--size",
                "16",
                "--crop",
                "1.0",
                "--batch-size",
                "8",
                "--device",
                "cpu",
                "--out",
                str(buffer),
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    record = json.loads(out.strip().splitlines()[-1])
    assert record["experts"] == 1 and record["trained_now"] == 1
    assert "buffer: 1 expert x 3 snapshots x" in err and "MB on disk" in err
    assert (
        main(
            [
                "distill",
                str(buffer),
                str(tiny_set),
                "--method",
                "mtt",
                "--expert-epochs",
                "1",
                "--ipc",
                "1",
                "--syn-steps",
                "3",
                "--iterations",
                "2",
                "--lr-img",
                "100",
                "--device",
                "cpu",
                "--precision",
                "bf16",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    record = json.loads(out.strip().splitlines()[-1])
    assert record["iterations"] == 2 and record["stopped_by"] == "iterations"
    assert 0.0 <= record["readability"]["outside_fraction"] <= 1.0 and record["readability"]["std_ratio"] > 0
    assert "Prototypes " in err
    assert "stage 2 loss" in err
    assert (run / "synthetic.fits").is_file() and (run / "prototypes" / "all.png").is_file()
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"
    assert (
        main(
            [
                "evaluate-synthetic",
                str(run),
                str(tiny_set),
                "--nets",
                "1",
                "--epochs",
                "2",
                "--full-epochs",
                "1",
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    out, _ = capsys.readouterr()
    lines = out.strip().splitlines()
    report = json.loads(lines[-1])
    assert {"distilled", "random_real", "class_mean", "full"} <= set(report)
    assert all(set(report[key]) >= {"mean", "std"} for key in ("distilled", "random_real", "class_mean", "full"))
    assert lines[0].startswith("training set") and len(lines) == 7
    assert lines[5].startswith("Prototypes ") and "percentile range" in lines[5]
    assert set(report["readability"]) == {
        "outside_fraction",
        "std_ratio",
        "nearest_ratio",
        "colour_outside_fraction",
        "readable",
    }


def test_errors_are_one_line(tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["distill", str(tmp_path), str(tiny_set), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("galaxy-studio: error:") and "not a buffer" in err
    assert main(["buffer", str(tiny_set), "--experts", "0", "--out", str(tmp_path / "b")]) == 1
    assert "at least 1 expert" in capsys.readouterr().err


def test_help_of_the_distill_commands_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom galaxy_studio.cli import build_parser\n"
        "for name in ('buffer', 'distill', 'evaluate-synthetic'):\n"
        "    try:\n        build_parser().parse_args([name, '--help'])\n    except SystemExit:\n        pass\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
