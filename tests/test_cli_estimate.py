"""`galaxy-studio train --estimate` prints the run's time on this device and trains nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from galaxy_studio.cli import main


@pytest.mark.usefixtures("one_torch_thread")
def test_train_estimate_prints_the_whole_run_and_writes_nothing(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", str(demo_set), "--out", str(out), "--size", "16", "--epochs", "4", "--device", "cpu"]
    assert main([*args, "--batch-size", "16", "--estimate"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("About ") and " per epoch on CPU, 1 thread: " in first
    assert " for 4 epochs, reading the images and testing (" in first
    assert second.startswith("Measured: decoding ") and "training steps of an epoch (16 images each)" in second
    assert not out.exists()
