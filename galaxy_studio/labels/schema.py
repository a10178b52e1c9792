"""The tables of a project file and the migrations that bring an older file up to date.

`PRAGMA user_version` holds the schema version: MIGRATIONS[n] takes a file from version n
to n + 1, so version 0 is a new, empty file. A file newer than this program knows is
refused rather than half-understood.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from galaxy_studio.count_text import noun_for

FORMAT_NAME = "galaxy-studio-project"

_VERSION_1: tuple[str, ...] = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE classes ( id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, position INTEGER NOT NULL)",
    "CREATE TABLE images ("
    " id INTEGER PRIMARY KEY, path TEXT NOT NULL, rel_path TEXT, size INTEGER NOT NULL,"
    " content_hash TEXT NOT NULL, row_index INTEGER, hdu TEXT)",
    # A file has row_index NULL; ifnull makes two rows for one file count as duplicates.
    "CREATE UNIQUE INDEX images_by_path ON images (path, ifnull(row_index, -1))",
    "CREATE INDEX images_by_content ON images (size, content_hash)",
    "CREATE TABLE labels ("
    " image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
    " labeller TEXT NOT NULL,"
    " class_id INTEGER NOT NULL REFERENCES classes (id),"
    " timestamp REAL NOT NULL,"
    " source TEXT NOT NULL CHECK (source IN ('human', 'import', 'model')),"
    " confidence REAL,"
    " PRIMARY KEY (image_id, labeller)) WITHOUT ROWID",
    "CREATE INDEX labels_by_class ON labels (class_id)",
    # One row per label change, per labeller: undo restores `before_*`, redo `after_*`.
    # A NULL class means "no label". Rows with undone > 0 form the redo stack: `undone`
    # counts up with each undo, so redo takes back the most recently undone change first.
    "CREATE TABLE history ("
    " id INTEGER PRIMARY KEY, labeller TEXT NOT NULL,"
    " image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
    " before_class_id INTEGER REFERENCES classes (id), before_timestamp REAL,"
    " before_source TEXT, before_confidence REAL,"
    " after_class_id INTEGER REFERENCES classes (id), after_timestamp REAL,"
    " after_source TEXT, after_confidence REAL,"
    " undone INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX history_by_labeller ON history (labeller, undone, id)",
)


def _create_version_1(db: sqlite3.Connection) -> None:
    for statement in _VERSION_1:
        db.execute(statement)
    db.execute("INSERT INTO meta (key, value) VALUES ('format', ?)", (FORMAT_NAME,))


# Version 2: a model's suggested class per image, kept apart from labels so that a suggestion
# never counts as a label (consensus, training, export) until a person accepts it.
_VERSION_2: tuple[str, ...] = (
    "CREATE TABLE suggestions ("
    " image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,"
    " class_id INTEGER NOT NULL REFERENCES classes (id),"
    " source TEXT NOT NULL,"
    " confidence REAL NOT NULL,"
    " entropy REAL NOT NULL,"
    " timestamp REAL NOT NULL)",
    "CREATE INDEX suggestions_by_entropy ON suggestions (entropy DESC)",
)


def _add_suggestions(db: sqlite3.Connection) -> None:
    for statement in _VERSION_2:
        db.execute(statement)


# Version 3: labels given together (a lasso or cluster in Explore, an image added with its
# label) share a batch, so that the batch can be taken back as one whatever the labeller did
# since. Batches are never deleted, so an id is never given twice.
_VERSION_3: tuple[str, ...] = (
    "CREATE TABLE batches (id INTEGER PRIMARY KEY, labeller TEXT NOT NULL, timestamp REAL NOT NULL)",
    "ALTER TABLE history ADD COLUMN batch_id INTEGER REFERENCES batches (id)",
    "CREATE INDEX history_by_batch ON history (batch_id)",
)


def _add_batches(db: sqlite3.Connection) -> None:
    for statement in _VERSION_3:
        db.execute(statement)


# Version 4: the class mapping the user confirmed, so the next folder, label file or model
# with the same outside names is read the same way without asking. An empty class_name means
# "skip this name" (its labels are counted as skipped, not taken).
_VERSION_4: tuple[str, ...] = (
    "CREATE TABLE class_aliases (outside_name TEXT PRIMARY KEY, class_name TEXT NOT NULL) WITHOUT ROWID",
)


def _add_class_aliases(db: sqlite3.Connection) -> None:
    for statement in _VERSION_4:
        db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_version_1,
    _add_suggestions,
    _add_batches,
    _add_class_aliases,
]

# What a file of the current version must have: table -> columns.
EXPECTED_COLUMNS: dict[str, set[str]] = {
    "meta": {"key", "value"},
    "classes": {"id", "name", "position"},
    "images": {"id", "path", "rel_path", "size", "content_hash", "row_index", "hdu"},
    "labels": {"image_id", "labeller", "class_id", "timestamp", "source", "confidence"},
    "history": {
        "id",
        "labeller",
        "image_id",
        "before_class_id",
        "before_timestamp",
        "before_source",
        "before_confidence",
        "after_class_id",
        "after_timestamp",
        "after_source",
        "after_confidence",
        "undone",
        "batch_id",
    },
    "suggestions": {"image_id", "class_id", "source", "confidence", "entropy", "timestamp"},
    "batches": {"id", "labeller", "timestamp"},
    "class_aliases": {"outside_name", "class_name"},
}


# Tables and columns added after version 1, by the version that added them: a read-only file
# of an older version (which cannot be upgraded) is read without them.
TABLE_VERSIONS: dict[str, int] = {"suggestions": 2, "batches": 3, "class_aliases": 4}
COLUMN_VERSIONS: dict[tuple[str, str], int] = {("history", "batch_id"): 3}


def schema_version() -> int:
    return len(MIGRATIONS)


def file_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Apply the missing migrations, each in its own transaction; returns how many ran.

    The connection must be in autocommit mode (isolation_level=None). A failing migration
    rolls back and leaves the file at the last version that completed.
    """
    applied = 0
    for version in range(file_version(db), schema_version()):
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied += 1
    return applied


def schema_problem(db: sqlite3.Connection) -> str | None:
    """Why this database is not a usable project of the current version, or None."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        return "not a Galaxy Studio project (no project tables)" if tables else "the file holds no tables"
    row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if row is None or row[0] != FORMAT_NAME:
        return "not a Galaxy Studio project (the format mark is missing)"
    version = file_version(db)
    for table, columns in EXPECTED_COLUMNS.items():
        if TABLE_VERSIONS.get(table, 1) > version:
            continue
        if table not in tables:
            return f"the table '{table}' is missing"
        found = {info[1] for info in db.execute(f"PRAGMA table_info({table})")}
        columns = {column for column in columns if COLUMN_VERSIONS.get((table, column), 1) <= version}
        if not columns <= found:
            lacking = sorted(columns - found)
            return f"the table '{table}' lacks the {noun_for(len(lacking), 'column')} {', '.join(lacking)}"
    return None
