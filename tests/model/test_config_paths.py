"""A run's recorded paths name the same files whatever folder opens it later."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from galaxy_studio.distill.config import BufferConfig, DistillConfig
from galaxy_studio.distill.unsupervised_config import UnsupervisedConfig
from galaxy_studio.model.config import TrainConfig


def test_relative_paths_are_recorded_from_the_folder_they_were_given_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    configs = [
        TrainConfig(data="cutouts", out_dir="runs/a", arch="resnet18", pretrained="weights.pt"),
        BufferConfig(data="cutouts", out_dir="buf"),
        DistillConfig(buffer="buf", data="cutouts", out_dir="run"),
        UnsupervisedConfig(data="cutouts", out_dir="run"),
    ]
    given = {"data": "cutouts", "buffer": "buf", "pretrained": "weights.pt"}
    for config in configs:
        recorded = config.to_dict()
        for name, relative in given.items():
            if name in recorded:
                assert recorded[name] == str(tmp_path / relative)
        assert recorded["out_dir"].startswith(str(tmp_path) + os.sep)
        monkeypatch.chdir("/")
        assert type(config).from_dict(recorded) == config, "read back elsewhere, the paths still name the same files"
        monkeypatch.chdir(tmp_path)


def test_a_blank_field_stays_blank() -> None:
    assert TrainConfig(data="", out_dir="").data == "" and TrainConfig(data="", out_dir="").pretrained is None


def test_a_recorded_recipe_reads_its_relative_paths_from_the_folder_it_is_read_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from galaxy_studio.model.config import with_absolute_paths

    monkeypatch.chdir(tmp_path)
    recorded = {"buffer": "buf", "data": "", "ipc": 1, "out_dir": "run"}
    assert with_absolute_paths(recorded, ("buffer", "data")) == {
        "buffer": str(tmp_path / "buf"),
        "data": "",
        "ipc": 1,
        "out_dir": "run",
    }
