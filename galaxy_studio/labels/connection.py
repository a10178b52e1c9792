"""How a project file is opened, and how SQLite's failures become messages.

Connections run in autocommit mode so that every transaction is explicit, with WAL and
synchronous=FULL: a commit has reached the disk (WAL fsynced) when it returns. One
connection is shared by the threads of a Project (it serialises them with a lock).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from galaxy_studio.labels.backups import list_backups
from galaxy_studio.labels.errors import ProjectBusy, ProjectDamaged, ProjectError

# SQLite primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def connect(path: Path, busy_timeout: float, read_only: bool) -> sqlite3.Connection:
    target = f"{path.as_uri()}?mode={'ro' if read_only else 'rwc'}"
    db = sqlite3.connect(target, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
    except BaseException:
        db.close()
        raise
    return db


def writable(path: Path) -> bool:
    """Whether to open for writing: the file is not marked read-only (honoured even for root,
    whom the OS would let write) and both it and its folder (for the WAL) are writable."""
    try:
        marked_writable = bool(path.stat().st_mode & 0o222)
    except OSError:
        return False
    return marked_writable and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def translated(path: Path, exc: sqlite3.Error, busy_timeout: float) -> ProjectError:
    """The ProjectError a user can act on for an SQLite failure on the project at `path`."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary in (_BUSY, _LOCKED) or "database is locked" in text:
        return ProjectBusy(
            path,
            f"another program is writing to this project and kept it locked for more than "
            f"{busy_timeout:g} s; nothing was saved; try again when it has finished",
        )
    if primary == _FULL or "disk is full" in text:
        return ProjectError(path, "the disk is full; nothing was saved (free some space and try again)")
    if primary == _READONLY or "readonly" in text:
        return ProjectError(path, "the project file is read-only; nothing was saved")
    if primary in (_CORRUPT, _NOTADB):
        return ProjectDamaged(path, f"the database is damaged ({text})", list_backups(path))
    if primary == _IOERR:
        return ProjectError(path, f"the disk reported an input/output error ({text}); nothing was saved")
    if primary == _CANTOPEN:
        return ProjectError(path, f"cannot open the database file ({text})")
    return ProjectError(path, text)


def remove_database(path: Path) -> None:
    """Delete a database file and its WAL, shared-memory and journal side files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
