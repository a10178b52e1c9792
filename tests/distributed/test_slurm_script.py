"""The SLURM script of docs/cluster.md: valid bash, and its own torchrun line, run on this
machine as one node of two processes, classifies as one process does.

SLURM's `scontrol` and `srun` and the `torchrun` entry point stand in as tiny programs on
PATH (the node's name, "run this", `python -m torch.distributed.run`), so the script's
lines run unchanged: the arithmetic of threads, the rendezvous on the head node, the
arguments passed through to galaxy-studio.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from galaxy_studio.cli import main
from galaxy_studio.model.training import TrainResult

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "slurm" / "galaxy-studio.sbatch"
REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _stand_ins(folder: Path) -> Path:
    """scontrol, srun and torchrun as a one-node SLURM job on this machine would run them."""
    folder.mkdir()
    programs = {
        "scontrol": 'echo "127.0.0.1"\n',
        "srun": 'exec "$@"\n',
        "torchrun": f'exec "{sys.executable}" -m torch.distributed.run "$@"\n',
    }
    for name, body in programs.items():
        program = folder / name
        program.write_text("#!/bin/bash\n" + body)
        program.chmod(0o755)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_its_torchrun_line_classifies_as_one_process_does(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    command = ["classify", trained_run.checkpoint, str(demo_set), "--chunk-size", "16", "--device", "cpu"]
    assert main([*command, "--out", str(tmp_path / "one.csv"), "--quiet"]) == 0
    stand_ins = _stand_ins(tmp_path / "bin")
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(stand_ins), os.environ["PATH"]]),
        "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")]),
        "GALAXY_STUDIO_HOME": str(tmp_path / "home"),
        "SLURM_JOB_NODELIST": "node001",
        "SLURM_NNODES": "1",
        "SLURM_CPUS_PER_TASK": "2",
        "SLURM_JOB_ID": "4242",
        "GPUS_PER_NODE": "2",
        "RDZV_PORT": str(_free_port()),
    }
    out = tmp_path / "slurm.csv"
    result = subprocess.run(
        ["bash", str(SCRIPT), *command, "--out", str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (tmp_path / "one.csv").read_bytes()
