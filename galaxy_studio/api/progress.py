"""The event sink of the notebook API: a job's progress as tqdm.auto bars, its warnings as
Python warnings and its notes as lines beside the bars."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm as std_tqdm
from tqdm.auto import tqdm

from galaxy_studio.events import Event, EventSink, Noted, Warned
from galaxy_studio.progress_bars import ProgressBars, is_terminal


class JobWarning(UserWarning):
    """Something a job found wrong but went on with (too few test images, an unreadable file
    left out, ...): the text the app shows in its warning bar and the CLI prints."""


def _in_jupyter() -> bool:
    """A Jupyter kernel redraws a text bar in place though its stderr is not a terminal."""
    return "ipykernel" in sys.modules


class _NotebookEvents:
    def __init__(self, progress: bool) -> None:
        terminal = is_terminal(sys.stderr)
        # tqdm.auto falls back to text bars in a Jupyter kernel without ipywidgets; they redraw
        # one line in place but cannot keep a bar above another.
        nested = terminal or tqdm is not std_tqdm
        bars = ProgressBars(sys.stderr, drawn=_in_jupyter() or terminal, tqdm_class=tqdm, nested=nested)
        self.bars = bars if progress else None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Warned):
            warnings.warn(event.text, JobWarning, stacklevel=2)
        elif self.bars is not None and isinstance(event, Noted):
            self.bars.write(event.text)
        elif self.bars is not None:
            self.bars(event)


@contextmanager
def job_events(progress: bool) -> Iterator[EventSink]:
    """A sink for one job: bars when `progress`, closed when the job ends or fails."""
    sink = _NotebookEvents(progress)
    try:
        yield sink
    finally:
        if sink.bars is not None:
            sink.bars.close()
