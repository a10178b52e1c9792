"""A job that fails with a user error reaches the panel as the message and the hint in the
GUI's words (controls, not flags), never as a Python exception with its type name."""

from __future__ import annotations

import pytest

from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.distill.config import DistillConfig
from galaxy_studio.errors import UserError
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.worker import JobRunner
from galaxy_studio.labels.errors import ProjectBusy, ProjectError
from galaxy_studio.model.errors import CheckpointError, ModelError
from galaxy_studio.settings import control_label, option_flag

ERRORS = [
    (
        ProjectError("labels.gsproj", "not an image of this project", "choose another {images} folder"),
        "labels.gsproj: not an image of this project; choose another Images folder",
    ),
    (ProjectBusy("labels.gsproj", "another process keeps it locked"), "labels.gsproj: another process keeps it locked"),
    (CutoutError("m31.fits", "no image in any HDU"), "m31.fits: no image in any HDU"),
    (
        ModelError("runs/a holds a buffer of another recipe", "choose another {out_dir} folder or delete it"),
        "runs/a holds a buffer of another recipe; choose another run folder or delete it",
    ),
    (
        CheckpointError("model.pt: damaged", "distil again with a lower {lr_img}"),
        "model.pt: damaged; distil again with a lower Image lr",
    ),
]


@pytest.mark.parametrize(("error", "shown"), ERRORS, ids=lambda value: type(value).__name__)
def test_a_user_error_fails_the_job_with_its_message_and_gui_worded_hint(
    qtbot,
    error: UserError,
    shown: str,  # noqa: ANN001
) -> None:
    runner = JobRunner()
    failures: list[str] = []

    def job(emit: EventSink, cancel: CancelToken) -> None:
        raise error

    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(job, on_success=lambda result: None, on_failure=failures.append)
    assert failures == [shown]
    assert type(error).__name__ not in failures[0] and "--" not in failures[0]


def test_the_gui_names_a_setting_by_its_form_label_and_the_cli_by_its_flag() -> None:
    error = ModelError(f"{DistillConfig.__name__} refused", "lower {lr_img} or choose another {out_dir} folder")
    assert error.text(control_label) == "DistillConfig refused; lower Image lr or choose another run folder"
    assert error.text(option_flag) == "DistillConfig refused; lower --lr-img or choose another --out folder"


def test_every_user_error_of_the_core_derives_from_the_one_base() -> None:
    for error_type in (ProjectError, ProjectBusy, CutoutError, ModelError, CheckpointError):
        assert issubclass(error_type, UserError)


def test_the_cli_wording_names_flags() -> None:
    error = ModelError("runs/a holds a finished run of another config", "choose another {out_dir} folder or delete it")
    assert str(error) == "runs/a holds a finished run of another config; choose another --out folder or delete it"
