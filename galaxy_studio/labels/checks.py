"""Is a file an intact project this program can read? Asked on every open and before a
backup is restored, so that a damaged file is named as such instead of failing later in
the middle of someone's labelling session."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from galaxy_studio.labels.schema import file_version, schema_problem, schema_version

SQLITE_HEADER = b"SQLite format 3\x00"
# integrity_check reads every page; above this size the quick variant keeps opening fast.
QUICK_CHECK_BYTES = 64 * 1024 * 1024


def header_problem(path: Path) -> str | None:
    """Why `path` cannot be an SQLite file, judged from its first bytes, or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not head:
        return "the file is empty (0 bytes)"
    if head != SQLITE_HEADER:
        return "not a project file (it is not an SQLite database)"
    return None


def integrity_problem(db: sqlite3.Connection, path: Path) -> str | None:
    """SQLite's own page-level check plus the foreign keys, or None when both pass."""
    pragma = "quick_check" if path.stat().st_size > QUICK_CHECK_BYTES else "integrity_check"
    rows = [row[0] for row in db.execute(f"PRAGMA {pragma}(5)")]
    if rows != ["ok"]:
        return f"the database is damaged ({'; '.join(rows)})"
    if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
        return "the database is damaged (labels refer to images or classes that do not exist)"
    return None


def version_problem(db: sqlite3.Connection) -> str | None:
    """Refuse a file written by a newer Galaxy Studio, or one that never became a project."""
    version = file_version(db)
    if version > schema_version():
        return (
            f"written by a newer Galaxy Studio (project format {version}; this version reads "
            f"up to {schema_version()}); update Galaxy Studio to open it"
        )
    if version == 0:
        return "not a Galaxy Studio project (no project format version)"
    return None


def project_file_problem(path: Path) -> str | None:
    """Everything above for a file that is not open, read without changing it."""
    problem = header_problem(path)
    if problem is not None:
        return problem
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return (
            integrity_problem(db, path)
            or version_problem(db)
            or (schema_problem(db) if file_version(db) == schema_version() else None)
        )
    except sqlite3.DatabaseError as exc:
        return f"not a readable SQLite database ({exc})"
    finally:
        db.close()
