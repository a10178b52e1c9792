"""CUDA tests (marker `gpu`): skipped, with the reason, where torch sees no CUDA GPU.

`GALAXY_STUDIO_GPU_TESTS_ON=cpu` runs them on the CPU instead, to check the tests themselves
on a machine without a GPU; the comparisons that need both devices then skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ..conftest import DEMO_CLASSES as CLASSES
from ..conftest import write_demo_classes

ON = os.environ.get("GALAXY_STUDIO_GPU_TESTS_ON", "cuda")
HAS_CUDA = torch.cuda.is_available()
# The scale: IPC 10, 64 px, ConvNet-D3 width 128 (on the CPU override: smaller).
IPC = 10
SIZE = 64 if ON == "cuda" else 16
WIDTH = 128 if ON == "cuda" else 8
SYN_STEPS = 20 if ON == "cuda" else 4


# Every module here: `pytestmark = GPU`.
GPU = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        ON == "cuda" and not HAS_CUDA,
        reason="CUDA is not available (torch.cuda.is_available() is False): these tests need an "
        "NVIDIA GPU; GALAXY_STUDIO_GPU_TESTS_ON=cpu runs them on the CPU",
    ),
]
needs_both_devices = pytest.mark.skipif(ON != "cuda", reason="compares CUDA with the CPU; runs on a GPU only")


@pytest.fixture(scope="session")
def device() -> torch.device:
    return torch.device(ON)


@pytest.fixture(scope="session")
def galaxies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 procedural galaxies in three classes, a folder per class, large enough for 64 px."""
    return write_demo_classes(
        tmp_path_factory.mktemp("gpu-galaxies"), CLASSES, per_class=40, size=max(SIZE, 32) + 8, seed=11
    )


@pytest.fixture(scope="session")
def gpu_buffer(galaxies: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two ConvNet-D3 experts of 3 epochs at the test scale, trained on the device."""
    from galaxy_studio.distill.config import BufferConfig
    from galaxy_studio.distill.experts import train_experts

    out = tmp_path_factory.mktemp("gpu-buffers") / "buffer"
    train_experts(
        BufferConfig(
            data=str(galaxies),
            out_dir=str(out),
            experts=2,
            epochs=3,
            width=WIDTH,
            size=SIZE,
            crop_fraction=1.0,
            batch_size=32,
            device=ON,
        )
    )
    return out
