"""GUI fixtures: a main window per test, and no job thread may outlive its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from galaxy_studio.gui.app import application
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.worker import live_job_threads


@pytest.fixture(scope="session")
def qapp():  # noqa: ANN201 - overrides pytest-qt's: the app with our style and palette
    return application()


@pytest.fixture(autouse=True)
def no_thread_left_running(qtbot) -> Iterator[None]:  # noqa: ANN001
    yield
    qtbot.waitUntil(lambda: live_job_threads() == 0, timeout=10_000)


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:  # noqa: ANN001
    main = MainWindow()
    qtbot.addWidget(main)
    main.resize(1200, 800)
    main.show()
    qtbot.waitExposed(main)
    yield main
    main.close()
