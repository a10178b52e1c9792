"""The model tests share the root conftest's demo set and trained run; torch uses two threads."""

from __future__ import annotations

import pytest
import torch

from ..conftest import DEMO_CLASSES, DEMO_PER_CLASS, DEMO_SIZE, tiny_config

__all__ = ["DEMO_CLASSES", "DEMO_PER_CLASS", "DEMO_SIZE", "tiny_config"]


@pytest.fixture(scope="session", autouse=True)
def two_threads() -> None:
    torch.set_num_threads(2)
