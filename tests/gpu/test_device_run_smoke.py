"""The prepared GPU run works before any GPU time is spent: `device_run.sh --smoke` runs the CUDA
tests on the CPU and every benchmark section tiny, and writes the results tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("device_run.sh")
SECTIONS = (
    "### Constant mode's memory",
    "### Distillation:",
    "### Unroll precision",
    "### Training images / s",
    "### Classification cutouts / s",
    "### End to end on",
    "### CUDA tests of this run",
)


def test_the_smoke_run_passes_and_writes_every_table(tmp_path: Path) -> None:
    # The inner pytest gets its own temporary root: pytest prunes old roots, this test's among them.
    env = {
        **os.environ,
        "GPU_RUN_LOGS": str(tmp_path),
        "CIFAR10_DIR": str(tmp_path / "no-cifar"),
        "PYTEST_ADDOPTS": f"--basetemp={tmp_path / 'inner'}",
        "PYTHON": sys.executable,
    }
    done = subprocess.run(["bash", str(SCRIPT), "--smoke"], env=env, capture_output=True, text=True, timeout=900)
    tests_log = tmp_path / "tests.log"
    inner = tests_log.read_text(encoding="utf-8")[-3000:] if tests_log.is_file() else ""
    assert done.returncode == 0, inner + done.stdout[-3000:] + done.stderr[-3000:]
    results = (tmp_path / "gpu-results-smoke.md").read_text(encoding="utf-8")
    for heading in SECTIONS:
        assert heading in results, heading
    assert "FAILED" not in results
    assert "demo galaxies (no --cifar)" in results
    tests_line = next(line for line in results.splitlines() if line.startswith("`pytest -m gpu tests/gpu`"))
    assert " passed" in tests_line and "failed" not in tests_line
