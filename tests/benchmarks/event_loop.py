"""Shared by the GUI benchmarks: waiting the way a real session waits, and the result table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


def wait_until(condition: Callable[[], bool], poll_ms: int = 2) -> None:
    """Run the Qt event loop, idle between polls (no busy spinning that would starve the
    worker threads of the GIL), until `condition()` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start(poll_ms)
    if not condition():
        loop.exec()
    timer.stop()


def print_table(rows: list[tuple[str, str]]) -> None:
    """The one table a benchmark prints: names left-aligned, values beside them."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def add_row(rows: list[tuple[str, str]], name: str, value: str) -> None:
    """Append a row to the table, and show it on stderr at once: these benchmarks run minutes."""
    import sys

    rows.append((name, value))
    print(f"{name}: {value}", file=sys.stderr, flush=True)


def distill_window():  # noqa: ANN201 - (QApplication, MainWindow, DistillPanel); Qt is imported late
    """A main window of the screenshot size, shown, on the Distill tab."""
    from galaxy_studio.gui.app import SCREENSHOT_SIZE, application
    from galaxy_studio.gui.main_window import MainWindow

    app = application()
    window = MainWindow()
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    window.tabs.setCurrentWidget(window.distill)
    return app, window, window.distill


@contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """`count` CPU-bound processes (busy loops) running while the block runs: a busy desktop."""
    import subprocess
    import sys

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


def runtime_env(app_set_up: bool) -> dict[str, str]:
    """The environment of a child process with or without galaxy_studio/cpu_runtime.py's set-up
    (its switch's name is written here: importing the package would apply the set-up). With
    it, the child runs as the galaxy-studio program does after its restart: with tcmalloc
    preloaded where the system has it, which a child started as a script would not get."""
    import os

    env = dict(os.environ)
    if not app_set_up:
        env["GALAXY_STUDIO_CPU_RUNTIME"] = "off"
        env.pop("OMP_WAIT_POLICY", None)
        return env
    return _program_allocator_env(env)


def _program_allocator_env(env: dict[str, str]) -> dict[str, str]:
    """`env` as cpu_runtime.restart_with_fast_allocator would restart the program in, asked of
    a child process so that this one stays unconfigured."""
    import json
    import subprocess
    import sys

    code = (
        "import json, os, sys\n"
        "from galaxy_studio.cpu_runtime import allocator_environment, fast_allocator\n"
        "print(json.dumps(allocator_environment(os.environ, sys.platform, fast_allocator())))"
    )
    answer = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    restarted = json.loads(answer.stdout.strip().splitlines()[-1])
    return restarted if restarted is not None else env
