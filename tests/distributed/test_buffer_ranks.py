"""A buffer trained by two torchrun ranks into one folder: the same files, byte for byte, as
one process makes; a rank that dies leaves its finished experts, and a rerun trains only the
others; ranks that see different data stop before training."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from galaxy_studio.distill.experts import BUFFER_FILE, expert_file
from tests.conftest import DEMO_CLASSES, write_demo_classes
from tests.distributed.torchrun import one_process, torchrun

FAULTY_RANK = Path(__file__).with_name("faulty_rank.py")
EXPERTS = 4
OUT = "buffer"


def buffer_args(data: Path) -> list[str]:
    return [
        "buffer",
        str(data),
        "--experts",
        str(EXPERTS),
        "--epochs",
        "2",
        "--width",
        "8",
        "--size",
        "16",
        "--crop",
        "1",
        "--batch-size",
        "8",
        "--zca",
        "--device",
        "cpu",
        "--out",
        OUT,
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 procedural galaxies of 16 px in three classes."""
    return write_demo_classes(tmp_path_factory.mktemp("ranks-data"), DEMO_CLASSES, per_class=8, size=16, seed=5)


def alone(args: list[str], folder: Path) -> dict[str, Any]:
    """The command as one process, in `folder`; its result line."""
    result = one_process(args, home=folder / "home", cwd=folder)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The buffer one process trains without interruption."""
    folder = tmp_path_factory.mktemp("one-process")
    alone(buffer_args(data), folder)
    return folder / OUT


def contents(folder: Path) -> dict[str, bytes]:
    """Every file's bytes; the buffer's record without its own folder, which a buffer made
    elsewhere names differently."""
    files = {path.name: path.read_bytes() for path in sorted(folder.iterdir())}
    if BUFFER_FILE in files:
        record = json.loads(files[BUFFER_FILE])
        assert record["config"].pop("out_dir") == str(folder)
        files[BUFFER_FILE] = json.dumps(record, sort_keys=True).encode()
    return files


def assert_same_buffer(made: Path, reference: Path) -> None:
    files, expected = contents(made), contents(reference)
    assert sorted(files) == sorted(expected)
    assert [name for name in files if files[name] != expected[name]] == []


def test_two_ranks_write_the_bytes_one_process_writes(data: Path, reference: Path, tmp_path: Path) -> None:
    result = torchrun(buffer_args(data), home=tmp_path / "home", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(contents(reference)) == [
        BUFFER_FILE,
        *sorted(f"expert_{index:03d}.{suffix}" for index in range(EXPERTS) for suffix in ("json", "npy")),
        "zca.npz",
    ]
    assert_same_buffer(tmp_path / OUT, reference)
    summary = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(summary) == 1, "rank 0 alone prints the result"
    assert summary[0]["experts"] == EXPERTS and summary[0]["trained_now"] == EXPERTS
    assert "2 processes share the 4 experts to train" in result.stderr


def test_a_rerun_trains_only_what_a_dead_rank_left_undone(data: Path, reference: Path, tmp_path: Path) -> None:
    killed = torchrun(
        buffer_args(data),
        home=tmp_path / "home",
        cwd=tmp_path,
        script=FAULTY_RANK,
        extra_env={"GALAXY_STUDIO_TEST_FAULT": "die-after-one-expert"},
    )
    out = tmp_path / OUT
    assert killed.returncode != 0
    # Rank 1 trains experts 1 and 3 and dies writing 3; rank 0 is stopped wherever it was.
    kept = {path.stem for path in out.glob("expert_*.json")}
    assert "expert_001" in kept and "expert_003" not in kept
    assert [path.name for path in out.glob(".expert_003.npy.*.partial")], "the dead write's temporary file"
    stamps = {name: (out / f"{name}.npy").stat().st_mtime_ns for name in kept}

    rerun = alone(buffer_args(data), tmp_path)
    assert rerun["trained_now"] == EXPERTS - len(kept) and rerun["experts"] == EXPERTS
    assert not list(out.glob(".*.partial"))
    assert {name: (out / f"{name}.npy").stat().st_mtime_ns for name in kept} == stamps, "finished experts kept"
    assert_same_buffer(out, reference)


def test_ranks_that_see_different_data_stop_before_training(data: Path, tmp_path: Path) -> None:
    result = torchrun(
        buffer_args(data),
        home=tmp_path / "home",
        cwd=tmp_path,
        script=FAULTY_RANK,
        extra_env={"GALAXY_STUDIO_TEST_FAULT": "other-data"},
    )
    assert result.returncode != 0
    # torchrun may stop one rank before it prints, so either rank's message will do.
    assert re.search(
        rf"rank [01]: error: the 2 processes disagree about the training data prepared from {re.escape(str(data))} "
        r"\(its images, labels or preprocessing\): rank 1 sees it differently from rank 0",
        result.stderr,
    ), result.stderr
    assert not (tmp_path / OUT / BUFFER_FILE).exists() and not (tmp_path / OUT / expert_file(0)).exists()
