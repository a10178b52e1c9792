"""Automatic backups of a project, and putting one back.

Backups are taken with SQLite's online backup API, so they are consistent copies even
while the project is open in WAL mode, and written under a temporary name first so a
backup that was cut short never looks like a good one. They live in `<name>.backups/`
beside the project; the newest BACKUPS_KEPT are kept.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from galaxy_studio.atomic_files import flush_to_disk, replacing
from galaxy_studio.labels.checks import project_file_problem
from galaxy_studio.labels.errors import ProjectError

BACKUPS_KEPT = 5
BACKUP_INTERVAL_S = 10 * 60
_SIDE_FILES = ("-wal", "-shm")


def backup_folder(project_path: Path) -> Path:
    return project_path.parent / f"{project_path.name}.backups"


def list_backups(project_path: str | Path) -> list[Path]:
    """The project's automatic backups, newest first (names sort by their UTC time stamp)."""
    project_path = Path(project_path)
    prefix = f"{project_path.stem}-"
    try:
        names = [entry.name for entry in os.scandir(backup_folder(project_path)) if entry.is_file()]
    except OSError:
        return []
    chosen = [name for name in names if name.startswith(prefix) and name.endswith(".gsproj")]
    return [backup_folder(project_path) / name for name in sorted(chosen, reverse=True)]


def back_up(db: sqlite3.Connection, project_path: Path, *, keep: int = BACKUPS_KEPT) -> Path:
    """Copy the open project to a new time-stamped backup and delete all but the `keep` newest."""
    folder = backup_folder(project_path)
    folder.mkdir(exist_ok=True)
    final = folder / f"{project_path.stem}-{_utc_stamp()}.gsproj"
    with replacing(final) as partial:
        target = sqlite3.connect(partial)
        try:
            db.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    for old in list_backups(project_path)[keep:]:
        old.unlink(missing_ok=True)
    return final


def backup_due(project_path: Path, interval_s: float | None = None) -> bool:
    """True when the newest backup is older than `interval_s` (default BACKUP_INTERVAL_S),
    or there is none."""
    backups = list_backups(project_path)
    if not backups:
        return True
    try:
        age = time.time() - backups[0].stat().st_mtime
        return age >= (BACKUP_INTERVAL_S if interval_s is None else interval_s)
    except OSError:
        return True


def restore_backup(project_path: str | Path, backup_path: str | Path) -> Path | None:
    """Put `backup_path` in place of the project; returns where the old file was moved.

    The backup is checked first, so a bad backup never replaces anything. The old file and
    its WAL are renamed `<name>.damaged-<time>` (never deleted: they may still hold labels
    worth rescuing), and the copy is written under a temporary name, then renamed into place.
    Close the project everywhere before restoring.
    """
    project_path = Path(project_path)
    backup_path = Path(backup_path)
    if not backup_path.is_file():
        raise ProjectError(backup_path, "backup file not found")
    problem = project_file_problem(backup_path)
    if problem is not None:
        raise ProjectError(backup_path, f"cannot restore this backup: {problem}")
    aside = Path(f"{project_path}.damaged-{_utc_stamp()}")
    try:
        with replacing(project_path, durable=False) as partial:
            source = sqlite3.connect(f"{backup_path.resolve().as_uri()}?mode=ro", uri=True)
            target = sqlite3.connect(partial)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode = WAL")
            finally:
                target.close()
                source.close()
            flush_to_disk(partial)
            moved = project_path.exists()
            if moved:
                os.replace(project_path, aside)
            for suffix in _SIDE_FILES:
                side = Path(f"{project_path}{suffix}")
                if side.exists():
                    os.replace(side, Path(f"{aside}{suffix}"))
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProjectError(project_path, f"cannot restore {backup_path.name}: {reason}") from None
    return aside if moved else None


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
