"""Whole-file replacement, so a crash or a cancel never leaves a half-written checkpoint or record."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO, Callable


def write_atomically(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through `write` into a temporary file beside `path`, flush it to disk, then
    rename it over `path`: readers see the old file or the new one, never a mix."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_json_atomically(path: str | Path, value: Any) -> None:
    text = json.dumps(value, indent=1, allow_nan=False) + "\n"
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))
