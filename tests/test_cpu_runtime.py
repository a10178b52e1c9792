"""The process set-up applied on import: passive OpenMP waiting, glibc keeping freed memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from galaxy_studio.cpu_runtime import SWITCH

PROBE = (
    "import json, os, galaxy_studio, torch; "
    "print(json.dumps({'policy': os.environ.get('OMP_WAIT_POLICY'), 'threads': torch.get_num_threads()}))"
)


def _probe(**env: str) -> dict:
    clean = {key: value for key, value in os.environ.items() if key not in ("OMP_WAIT_POLICY", SWITCH)}
    output = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_importing_the_package_sets_passive_waiting_before_torch_loads() -> None:
    assert _probe()["policy"] == "PASSIVE"


def test_the_users_policy_and_the_off_switch_are_respected() -> None:
    assert _probe(OMP_WAIT_POLICY="ACTIVE")["policy"] == "ACTIVE"
    assert _probe(**{SWITCH: "off"})["policy"] is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt exists on Linux only")
def test_glibc_takes_the_memory_settings() -> None:
    from galaxy_studio.cpu_runtime import keep_freed_memory

    assert keep_freed_memory() is True
