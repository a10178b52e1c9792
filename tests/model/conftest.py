"""The model tests share the root conftest's demo set and trained run; torch uses two threads.
Explanation tests also get a network trained at 64 px (the app's default), whose last
convolution is an 8 x 8 grid rather than the 4 x 4 of the 32 px run, and held-out galaxies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.model.training import TrainResult, train_classifier

from ..conftest import DEMO_CLASSES, DEMO_PER_CLASS, DEMO_SIZE, tiny_config

__all__ = ["DEMO_CLASSES", "DEMO_PER_CLASS", "DEMO_SIZE", "tiny_config"]


@pytest.fixture(scope="session", autouse=True)
def two_threads() -> None:
    torch.set_num_threads(2)


# Survey-like stamps: 128 px, of which the network sees the central half at 64 px.
STAMP_SIZE = 128


def _demo_stamps(root: Path, per_class: int, seed: int) -> Path:
    write_demo_set(root, per_class=per_class, size=STAMP_SIZE, seed=seed)
    for folder in root.iterdir():
        if folder.name not in DEMO_CLASSES:
            shutil.rmtree(folder)
    return root


@pytest.fixture(scope="session")
def run_64px(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """galaxy-cnn (width 16) trained at 64 px with the default centre crop of one half. One torch
    thread: on a busy two-core machine a second one mostly waits (52 s with two in a full run,
    15 s with one)."""
    data = _demo_stamps(tmp_path_factory.mktemp("demo128"), DEMO_PER_CLASS, seed=3)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_classifier(
            tiny_config(data, tmp_path_factory.mktemp("runs64") / "tiny64", size=64, crop_fraction=0.5, threads=1)
        )
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def held_out_stamps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four more galaxies per class from another seed: images the 64 px network never saw."""
    return _demo_stamps(tmp_path_factory.mktemp("held-out"), 4, seed=4)
