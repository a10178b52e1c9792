"""Data too small to split, or labels that are not classes, are refused before training:
the run used to train, then crash scoring an empty validation part, or train on made-up
classes cast from NaN and -1."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from galaxy_studio.cli import main
from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.model.datasets import min_images_per_class, stratified_split
from galaxy_studio.model.errors import ModelError

TINY = ["--epochs", "1", "--size", "16", "--crop", "1", "--width", "8", "--batch-size", "8", "--device", "cpu"]


def _two_classes(root: Path, per_class: int) -> Path:
    write_demo_set(root, per_class=per_class, size=24, seed=0)
    for folder in sorted(p for p in root.iterdir() if p.is_dir())[2:]:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    return root


def _refused_before_training(args: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["train", *args, "--out", str(out), *TINY]) != 0
    err = capsys.readouterr().err
    assert "epoch 1/" not in err and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert not out.exists(), "bad input leaves no run folder behind (it used to leave config.json)"
    return errors[0]


def test_the_minimum_per_class_follows_the_fractions() -> None:
    assert min_images_per_class((0.7, 0.15, 0.15)) == 4
    assert min_images_per_class((0.8, 0.1, 0.1)) == 6, "round(5 x 0.1) is 0: a sixth image is needed"
    assert min_images_per_class((0.5, 0.0, 0.5)) == 2
    assert min_images_per_class((1.0, 0.0, 0.0)) == 1


def test_a_split_that_leaves_a_part_without_a_class_is_refused_naming_it() -> None:
    labels = np.array([0] * 10 + [1] * 3)
    with pytest.raises(ModelError, match=r"4 per class are needed \(galaxy has 3\)"):
        stratified_split(labels, classes=("star", "galaxy"))
    train, val, test = stratified_split(np.array([0] * 10 + [1] * 4))
    assert {int(i) for i in val} & set(range(10, 14)) and {int(i) for i in test} & set(range(10, 14))


def test_one_image_per_class_is_refused_with_the_minimum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _two_classes(tmp_path / "data", per_class=1)
    line = _refused_before_training([str(data)], tmp_path / "run", capsys)
    assert "split 70/15/15" in line and "4 per class are needed" in line and "has 1" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"], "nothing written, not even the run folder"


def test_galaxy10_labels_that_are_not_classes_are_refused_naming_the_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "g10.h5"
    ans = np.tile(np.arange(3, dtype=np.float64), 10)
    ans[[4, 7, 11, 20]] = [np.nan, -1, 99, 1.5]
    with h5py.File(path, "w") as handle:
        handle["images"] = np.random.default_rng(0).integers(0, 255, (30, 64, 64, 3), dtype=np.uint8)
        handle["ans"] = ans
    line = _refused_before_training([str(path)], tmp_path / "run", capsys)
    assert "4 values that are not classes 0-9" in line and "rows 4, 7, 11, 20" in line


def test_a_dataset_just_big_enough_trains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _two_classes(tmp_path / "data", per_class=min_images_per_class((0.7, 0.15, 0.15)))
    assert main(["train", str(data), "--out", str(tmp_path / "run"), *TINY]) == 0
    assert (tmp_path / "run" / "model.pt").is_file()
