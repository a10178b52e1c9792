"""A run folder's saved state (state.pt) that is damaged or doctored is refused on resume with
one line naming the file and the field, like a classifier or an autoencoder file (#21 §2). It
used to fail deep in the run with a KeyError, a shape error in a matrix product, an int() of
text, a resumed run in a phase that does not exist, or torch's advice to load without
`weights_only` (which would let the file run code)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from galaxy_studio.cli import main
from galaxy_studio.distill.runner import distill
from galaxy_studio.distill.runs import STATE_FILE
from galaxy_studio.distill.unsupervised import distill_unsupervised
from galaxy_studio.model.errors import ModelError

from .conftest import tiny_distill_config
from .test_unsupervised import tiny_config, tiny_idx

__all__ = ["tiny_idx"]

Damage = Callable[[dict[str, Any]], None]
HINT = "delete the run's state.pt to start over, or choose another {out_dir} folder"


def _set(key: str, value: object) -> Damage:
    return lambda state: state.update({key: value})


UNSUPERVISED: dict[str, tuple[Damage, str]] = {
    "no head": (lambda state: state.pop("head"), "field head: missing"),
    "samples of another shape": (
        _set("synthetic", torch.zeros(3)),
        "field synthetic: (3,), but this run needs a tensor of shape (12, 100)",
    ),
    "a weight of another shape": (
        lambda state: state["autoencoder"].update({"encoder.weight": torch.zeros(2, 2)}),
        "field autoencoder.encoder.weight: shape (2, 2), but the recorded architecture needs (8, 100)",
    ),
    "epoch as text": (_set("epoch", "x"), "field epoch: should be a whole number, found 'x'"),
    "unknown phase": (_set("phase", "nonsense"), "field phase: 'nonsense' is not a phase of this method"),
    "history not JSON": (_set("history", "[{"), "damaged checkpoint (JSONDecodeError: "),
}

DISTILL: dict[str, tuple[Damage, str]] = {
    "no images": (lambda state: state.pop("images"), "field images: missing"),
    "images of another shape": (
        _set("images", torch.zeros(5, 3, 16, 16)),
        "field images: (5, 3, 16, 16), but this run needs a tensor of shape (6, 3, 16, 16)",
    ),
    "negative iteration": (_set("iteration", -3), "field iteration: -3 is out of range (it should be at least 0)"),
    "schedule not JSON": (_set("schedule", "{not json"), "damaged checkpoint (JSONDecodeError: "),
    "optimiser of another run": (
        _set("image_optimizer", {"state": {}, "param_groups": []}),
        "damaged checkpoint (ValueError: loaded state dict has a different number of parameter groups)",
    ),
}


def _doctored(run: Path, copy: Path, damage: Damage) -> Path:
    shutil.copytree(run, copy)
    state = torch.load(copy / STATE_FILE, weights_only=True)
    damage(state)
    torch.save(state, copy / STATE_FILE)
    return copy / STATE_FILE


@pytest.fixture(scope="module")
def unsupervised_run(tiny_idx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("unsupervised") / "run"
    distill_unsupervised(tiny_config(tiny_idx, out, pretrain_epochs=1, epochs=1, fresh_nets=1, fresh_epochs=1))
    return out


@pytest.fixture(scope="module")
def distill_run(tiny_buffer: Path, tiny_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("distill") / "run"
    distill(tiny_distill_config(tiny_buffer, tiny_set, out, iterations=2, checkpoint_every=1))
    return out


@pytest.mark.parametrize("damage", list(UNSUPERVISED))
def test_a_doctored_unsupervised_state_is_refused_naming_the_field(
    damage: str, unsupervised_run: Path, tiny_idx: Path, tmp_path: Path
) -> None:
    change, expected = UNSUPERVISED[damage]
    state = _doctored(unsupervised_run, tmp_path / "run", change)
    config = tiny_config(tiny_idx, tmp_path / "run", pretrain_epochs=1, epochs=1, fresh_nets=1, fresh_epochs=1)
    with pytest.raises(ModelError) as refused:
        distill_unsupervised(config)
    assert refused.value.message.startswith(f"{state}: {expected}") and refused.value.hint == HINT


@pytest.mark.parametrize("damage", list(DISTILL))
def test_a_doctored_distillation_state_is_refused_naming_the_field(
    damage: str, distill_run: Path, tiny_buffer: Path, tiny_set: Path, tmp_path: Path
) -> None:
    change, expected = DISTILL[damage]
    state = _doctored(distill_run, tmp_path / "run", change)
    config = tiny_distill_config(tiny_buffer, tiny_set, tmp_path / "run", iterations=3, checkpoint_every=1)
    with pytest.raises(ModelError) as refused:
        distill(config)
    assert refused.value.message.startswith(f"{state}: {expected}") and refused.value.hint == HINT


def test_the_intact_state_resumes(distill_run: Path, tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    shutil.copytree(distill_run, tmp_path / "run")
    config = tiny_distill_config(tiny_buffer, tiny_set, tmp_path / "run", iterations=3, checkpoint_every=1)
    assert distill(config).resumed_from == 2


def test_a_state_that_is_not_a_checkpoint_is_one_short_line(
    unsupervised_run: Path, tiny_idx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(unsupervised_run, tmp_path / "run")
    (tmp_path / "run" / STATE_FILE).write_bytes(bytes(range(256)) * 4)
    config = tiny_config(tiny_idx, tmp_path / "run")
    args = ["distill-unsupervised", str(tiny_idx), "--out", config.out_dir, "--device", "cpu", "--samples", "12"]
    args += ["--hidden", "8", "--batch-size", "8", "--lr", "0.01", "--lr-syn", "0.02", "--patience", "2"]
    assert main([*args, "--pretrain-epochs", "1", "--epochs", "1", "--fresh-nets", "1", "--fresh-epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"galaxy-studio: error: {tmp_path / 'run' / STATE_FILE}: damaged checkpoint (not a file Galaxy Studio "
        "wrote, or one that asks to run code); delete the run's state.pt to start over, or choose another --out folder"
    )
