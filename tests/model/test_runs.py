"""The runs folder as the Train panel lists it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from galaxy_studio.model.runs import list_runs, new_run_dir, rank_runs, read_run, runs_dir


def _write_run(path: Path, *, epochs: int, finished: bool, mtime: float, metrics: dict | None = None) -> None:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"arch": "galaxy-cnn", "epochs": epochs}))
    (path / "history.json").write_text(json.dumps([{"epoch": e + 1, "val_loss": 1.0 / (e + 1)} for e in range(epochs)]))
    if finished:
        (path / "metrics.json").write_text(json.dumps(metrics or {"accuracy": 0.9}))
        (path / "model.pt").write_bytes(b"weights")
    else:
        (path / "last.pt").write_bytes(b"state")
    for file in path.iterdir():
        os.utime(file, (mtime, mtime))


def test_runs_are_listed_newest_first_with_their_status(tmp_path: Path) -> None:
    _write_run(tmp_path / "old", epochs=3, finished=True, mtime=1_000_000)
    _write_run(tmp_path / "new", epochs=2, finished=False, mtime=2_000_000)
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    runs = list_runs(tmp_path)
    assert [(run.name, run.status, len(run.history)) for run in runs] == [
        ("new", "unfinished", 2),
        ("old", "finished", 3),
    ]
    assert runs[1].metrics == {"accuracy": 0.9} and runs[0].metrics is None
    assert read_run(tmp_path / "not-a-run") is None


def test_the_default_runs_folder_is_in_the_apps_data_folder(isolated_home: Path) -> None:
    assert runs_dir().is_relative_to(isolated_home)
    assert list_runs() == []
    first = new_run_dir("vgg11")
    first.mkdir(parents=True)
    second = new_run_dir("vgg11")
    assert first.parent == second.parent == runs_dir()
    assert first != second and first.name.endswith("-vgg11") and second.name.startswith(first.name)


def test_runs_rank_by_the_lower_bound_of_their_interval_not_by_accuracy(tmp_path: Path) -> None:
    # The seen case: 100% on 2 test images was listed above 75% on 1,400.
    _write_run(tmp_path / "lucky", epochs=1, finished=True, mtime=3_000_000, metrics={"accuracy": 1.0, "n": 2})
    _write_run(
        tmp_path / "large",
        epochs=1,
        finished=True,
        mtime=1_000_000,
        metrics={"accuracy": 0.75, "n": 1400, "accuracy_ci95": [0.727, 0.772]},
    )
    _write_run(tmp_path / "medium", epochs=1, finished=True, mtime=2_000_000, metrics={"accuracy": 0.8, "n": 50})
    _write_run(tmp_path / "unknown-n", epochs=1, finished=True, mtime=5_000_000, metrics={"accuracy": 0.99})
    _write_run(tmp_path / "unfinished", epochs=1, finished=False, mtime=4_000_000)
    assert [run.name for run in list_runs(tmp_path)][:2] == ["unknown-n", "unfinished"]
    assert [run.name for run in rank_runs(list_runs(tmp_path))] == [
        "large",  # 72.7%
        "medium",  # 66.9%
        "lucky",  # 34.2%
        "unknown-n",  # no interval: after the ranked runs, newest first
        "unfinished",
    ]
