"""A job that fails with a user error reaches the panel as the message and the hint in the
GUI's words (controls, not flags), never as a Python exception with its type name."""

from __future__ import annotations

import pytest

from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.errors import UserError
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.worker import JobRunner
from galaxy_studio.labels.errors import ProjectBusy, ProjectError
from galaxy_studio.model.errors import CheckpointError, ModelError

ERRORS = [
    (ProjectError("labels.gsproj", "not an image of this project", "choose another {images} folder"),
     'labels.gsproj: not an image of this project; choose another "Images" box folder'),
    (ProjectBusy("labels.gsproj", "another process keeps it locked"),
     "labels.gsproj: another process keeps it locked"),
    (CutoutError("m31.fits", "no image in any HDU"), "m31.fits: no image in any HDU"),
    (ModelError("runs/a holds a buffer of another recipe", "choose another {out} folder or delete it"),
     'runs/a holds a buffer of another recipe; choose another "Out" box folder or delete it'),
    (CheckpointError("model.pt: damaged", "train again with {min_lr_img} lower"),
     'model.pt: damaged; train again with "Min lr img" box lower'),
]


@pytest.mark.parametrize(("error", "shown"), ERRORS, ids=lambda value: type(value).__name__)
def test_a_user_error_fails_the_job_with_its_message_and_gui_worded_hint(
    qtbot, error: UserError, shown: str  # noqa: ANN001
) -> None:
    runner = JobRunner()
    failures: list[str] = []
    runner.failed.connect(failures.append)

    def job(emit: EventSink, cancel: CancelToken) -> None:
        raise error

    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(job)
    assert failures == [shown]
    assert type(error).__name__ not in failures[0] and "--" not in failures[0]


def test_every_user_error_of_the_core_derives_from_the_one_base() -> None:
    for error_type in (ProjectError, ProjectBusy, CutoutError, ModelError, CheckpointError):
        assert issubclass(error_type, UserError)


def test_the_cli_wording_names_flags() -> None:
    error = ModelError("runs/a holds a finished run of another config", "choose another {out} folder or delete it")
    assert str(error) == "runs/a holds a finished run of another config; choose another --out folder or delete it"
