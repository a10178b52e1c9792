"""GUI fixtures: a main window per test, and no job thread may outlive its test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from PySide6.QtWidgets import QDialog

from galaxy_studio.gui.app import application
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.widgets.class_mapping_dialog import ClassMappingDialog
from galaxy_studio.gui.worker import live_job_threads


@pytest.fixture(scope="session")
def qapp():  # noqa: ANN201 - overrides pytest-qt's: the app with our style and palette
    return application()


@pytest.fixture(autouse=True)
def no_thread_left_running(qtbot) -> Iterator[None]:  # noqa: ANN001
    yield
    qtbot.waitUntil(lambda: live_job_threads() == 0, timeout=10_000)


@dataclass
class MappingDialogs:
    """Class-mapping dialogs a test caused, and how they are answered: `answer` may change the
    choices and returns whether the user pressed OK (default: OK with the proposal)."""

    shown: list[ClassMappingDialog] = field(default_factory=list)
    answer: Callable[[ClassMappingDialog], bool] = lambda dialog: True


@pytest.fixture(autouse=True)
def mapping_dialogs(monkeypatch: pytest.MonkeyPatch) -> MappingDialogs:
    """A modal dialog would wait for a click that never comes offscreen: each one is recorded
    and answered by the test instead."""
    dialogs = MappingDialogs()

    def answered(dialog: ClassMappingDialog) -> int:
        dialogs.shown.append(dialog)
        accepted = dialogs.answer(dialog)
        return int(QDialog.DialogCode.Accepted if accepted else QDialog.DialogCode.Rejected)

    monkeypatch.setattr(ClassMappingDialog, "exec", answered)
    return dialogs


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # noqa: ANN001
    main = MainWindow()
    qtbot.addWidget(main)
    main.resize(1200, 800)
    main.show()
    qtbot.waitExposed(main)
    yield main
    main.close()
