"""Whole-file replacement, so a crash, a cancel or a full disk never leaves a half-written
checkpoint, record, export or project under its real name: readers see the old file or the
new one, never a mix.

A file is written under a temporary name beside its target (same folder, so the rename
cannot cross file systems), flushed to disk, then renamed over the target. The temporary
name is made from the process and thread, not by mkstemp, so the file gets the user's usual
permissions, and starts with a dot so that folder scans skip it. `durable=False` skips the
flush to disk, for files that are cheap to make again (caches, demo images).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """The temporary name `path` is written under before it replaces `path`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{PARTIAL_SUFFIX}")


_PARTIAL_NAME = re.compile(rf"\..+\.\d+-\d+{re.escape(PARTIAL_SUFFIX)}")


def leftover_partial_files(folder: str | Path) -> list[Path]:
    """The temporary files in `folder` that `partial_path` names: left by writes that a killed
    process never finished (a write that fails or is cancelled removes its own). Only a job
    that knows no other process writes there may delete them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if _PARTIAL_NAME.fullmatch(path.name) and path.is_file())


def output_problem(path: str | Path) -> str | None:
    """Why a file could not be written at `path` (its folder missing or read-only, or a folder
    in its place), or None. A job asks before its work, so that a mistyped output name is
    refused at once instead of after minutes of computing what it could not keep."""
    path = Path(path)
    if path.is_dir():
        return "is a folder; give a file name"
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} cannot be written to"
    return None


def output_folder_problem(path: str | Path) -> str | None:
    """Why a run folder could not be made or written at `path` (a file in its place, or the
    nearest existing folder above it read-only), or None; asked before a job's work, like
    `output_problem`."""
    path = Path(os.path.abspath(path))
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"the folder {existing} cannot be written to"
    return None


def flush_to_disk(path: str | Path) -> None:
    """Wait until the file's content is on the disk, not just in the system's cache."""
    with open(path, "r+b") as written:
        os.fsync(written.fileno())


@contextmanager
def replacing(path: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield the temporary path to write `path`'s new content to (for writers that want a
    path: sqlite backups, HDF5, FITS); when the block ends normally the file there replaces
    `path`, when it raises the file is removed and `path` is left as it was."""
    path = Path(path)
    partial = partial_path(path)
    try:
        yield partial
        if durable:
            flush_to_disk(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_atomically(path: str | Path, write: Callable[[BinaryIO], object], *, durable: bool = True) -> None:
    """Replace `path` with what `write` puts into the binary stream it is given."""
    with replacing(path, durable=durable) as partial, open(partial, "wb") as stream:
        write(stream)


def write_bytes_atomically(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    write_atomically(path, lambda stream: stream.write(data), durable=durable)


def write_text_atomically(path: str | Path, text: str, *, durable: bool = True) -> None:
    """Replace `path` with `text` in UTF-8, line ends exactly as given."""
    write_bytes_atomically(path, text.encode("utf-8"), durable=durable)


def write_json_atomically(path: str | Path, value: Any) -> None:
    """Replace `path` with `value` as indented JSON; NaN and infinities are refused, since
    other JSON readers cannot read them back."""
    write_text_atomically(path, json.dumps(value, indent=1, allow_nan=False) + "\n")
