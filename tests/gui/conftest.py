"""GUI fixtures: a main window per test, no job thread may outlive its test, and no modal
dialog may wait for a click that never comes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox

from galaxy_studio.gui.app import application
from galaxy_studio.gui.collector import collect_on_gui_thread
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.widgets.class_mapping_dialog import ClassMappingDialog
from galaxy_studio.gui.worker import live_job_threads


@pytest.fixture(scope="session")
def qapp():  # noqa: ANN201 - overrides pytest-qt's: the app with our style and palette
    return application()


@pytest.fixture(autouse=True)
def garbage_collected_on_the_gui_thread(qapp) -> Iterator[None]:  # noqa: ANN001
    """As in the application (gui/collector.py). Automatic collection comes back after each
    test, once its jobs have ended, so that the tests after the GUI ones still have it."""
    collector = collect_on_gui_thread(qapp)
    yield
    collector.stop()


@pytest.fixture(autouse=True)
def no_thread_left_running(qtbot, garbage_collected_on_the_gui_thread) -> Iterator[None]:  # noqa: ANN001
    yield
    qtbot.waitUntil(lambda: live_job_threads() == 0, timeout=10_000)


class UnexpectedDialog(AssertionError):
    """A modal dialog opened that the test did not answer."""


_MODAL_FUNCTIONS = {
    QMessageBox: ("about", "critical", "information", "question", "warning"),
    QFileDialog: ("getExistingDirectory", "getOpenFileName", "getOpenFileNames", "getSaveFileName"),
    QInputDialog: ("getDouble", "getInt", "getItem", "getText"),
}


@pytest.fixture(autouse=True)
def no_unanswered_dialogs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offscreen, a modal dialog waits forever for a click: a job that failed and said so in a
    message box would hang the whole test run with nothing printed. Each one fails the test
    instead, with its title and text; a test that expects a dialog answers it with its own
    monkeypatch."""

    def refusing(name: str) -> Callable[..., object]:
        def opened(*args: object, **kwargs: object) -> object:
            said = " | ".join(str(arg) for arg in (*args, *kwargs.values()) if isinstance(arg, str))
            raise UnexpectedDialog(f"{name} opened and no test answered it: {said}")

        return opened

    def refused_exec(dialog: QDialog) -> int:
        text = dialog.text() if isinstance(dialog, QMessageBox) else ""
        raise UnexpectedDialog(
            f"{type(dialog).__name__} {dialog.windowTitle()!r} opened and no test answered it: {text}"
        )

    for owner, names in _MODAL_FUNCTIONS.items():
        for name in names:
            monkeypatch.setattr(owner, name, refusing(f"{owner.__name__}.{name}"))
    monkeypatch.setattr(QDialog, "exec", refused_exec)


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
