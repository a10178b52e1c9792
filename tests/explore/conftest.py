"""Explore tests: torch on one thread (tiny batches gain nothing from a second on a busy
two-core machine), and the root conftest's demo set of three classes at 40 px."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs with the shared single-thread fixture."""
