"""An unfinished training run's last.pt that is damaged or doctored is refused on resume with one
line naming the file and the field (#21 §2), as the distillation states are; it used to fail
with a KeyError, a load_state_dict size mismatch or an int() of text, or, for a best-epoch
record of other weights, only when the run ended."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from galaxy_studio.events import Cancelled, CancelToken, Progressed
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.runs import STATE_FILE
from galaxy_studio.model.training import train_classifier

from .conftest import tiny_config

Damage = Callable[[dict[str, Any]], None]
HINT = "delete the run's last.pt to start over, or choose another {out_dir} folder"

DAMAGES: dict[str, tuple[Damage, str]] = {
    "no weights": (lambda state: state.pop("model"), "field model: missing"),
    "a weight of another shape": (
        lambda state: state["model"].update({next(iter(state["model"])): torch.zeros(2)}),
        "field model.",
    ),
    "epoch as text": (lambda state: state.update(epoch="1"), "field epoch: should be a whole number, found '1'"),
    "best epoch of other weights": (
        lambda state: state.update(best_state={"x": torch.zeros(1)}),
        "field best_state: does not match the recorded architecture (",
    ),
    "optimiser of another run": (
        lambda state: state.update(optimizer={"state": {}, "param_groups": []}),
        "damaged training state (ValueError: loaded state dict has a different number of parameter groups)",
    ),
}


@pytest.fixture(scope="module")
def unfinished(demo_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run cancelled in its second epoch: last.pt holds the state after the first."""
    out = tmp_path_factory.mktemp("unfinished") / "run"
    token = CancelToken()

    def cancel_in_epoch_two(event: object) -> None:
        if isinstance(event, Progressed) and event.what == "epoch 2/3":
            token.set()

    with pytest.raises(Cancelled):
        train_classifier(tiny_config(demo_set, out, epochs=3), emit=cancel_in_epoch_two, cancel=token)
    assert (out / STATE_FILE).is_file()
    return out


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_doctored_training_state_is_refused_naming_the_field(
    damage: str, unfinished: Path, demo_set: Path, tmp_path: Path
) -> None:
    change, expected = DAMAGES[damage]
    run = tmp_path / "run"
    shutil.copytree(unfinished, run)
    state = torch.load(run / STATE_FILE, weights_only=True)
    change(state)
    torch.save(state, run / STATE_FILE)
    with pytest.raises(ModelError) as refused:
        train_classifier(tiny_config(demo_set, run, epochs=3))
    assert refused.value.message.startswith(f"{run / STATE_FILE}: {expected}") and refused.value.hint == HINT
    assert not (run / "model.pt").exists()
