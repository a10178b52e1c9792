"""A tiny labelled set and a tiny buffer, shared by the distillation tests to keep them fast."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from galaxy_studio.distill.config import BufferConfig, DistillConfig

from ..conftest import DEMO_CLASSES, write_demo_classes


def tiny_buffer_config(data: Path, out: Path, **changes: object) -> BufferConfig:
    settings: dict[str, object] = {
        "experts": 2,
        "epochs": 3,
        "width": 8,
        "size": 16,
        "crop_fraction": 1.0,
        "batch_size": 8,
        "device": "cpu",
        "threads": 2,
    }
    settings.update(changes)
    return BufferConfig(data=str(data), out_dir=str(out), **settings)  # type: ignore[arg-type]


def tiny_distill_config(buffer: Path, data: Path, out: Path, **changes: object) -> DistillConfig:
    settings: dict[str, object] = {
        "ipc": 2,
        "syn_steps": 4,
        "iterations": 6,
        "lr_img": 100.0,
        "device": "cpu",
        "checkpoint_every": 3,
        "snapshot_every": 2,
    }
    settings.update(changes)
    return DistillConfig(buffer=str(buffer), data=str(data), out_dir=str(out), **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """36 procedural galaxies of 24 px in three classes, a folder per class."""
    return write_demo_classes(tmp_path_factory.mktemp("distill-demo"), DEMO_CLASSES, per_class=12, size=24, seed=5)


@pytest.fixture(scope="session")
def tiny_buffer(tiny_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from galaxy_studio.distill.experts import train_experts

    out = tmp_path_factory.mktemp("buffers") / "tiny"
    train_experts(tiny_buffer_config(tiny_set, out))
    return out
