"""The labelling project: one SQLite file (*.gsproj) holding images, classes and labels.

A label the screen showed as saved must survive a crash, a kill or a power cut, so every
label is its own transaction, committed in WAL mode with synchronous=FULL before the call
returns, and the undo history is in the same file. Labels given together (`label_many`,
`add_and_label`) are one transaction and one batch, which `undo_batch` takes back as one.
Opening checks the file and takes a
rotating backup; a write that cannot complete (disk full, read-only file, another process
holding the lock) is rolled back whole and raised as a ProjectError naming the file.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from galaxy_studio import __version__
from galaxy_studio.atomic_files import replacing
from galaxy_studio.count_text import counted
from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, ignore
from galaxy_studio.labels.backups import back_up, backup_due, list_backups
from galaxy_studio.labels.checks import header_problem, integrity_problem, version_problem
from galaxy_studio.labels.class_mapping import SKIP, ClassMapping, LabelCounts, map_class_names
from galaxy_studio.labels.class_names import checked_class_name, duplicate_names
from galaxy_studio.labels.connection import connect, remove_database, translated, writable
from galaxy_studio.labels.consensus import consensus_label, counted_label, human_classes, human_labellers
from galaxy_studio.labels.errors import ProjectBusy, ProjectDamaged, ProjectError
from galaxy_studio.labels.image_files import find_moved, measure_files, same_content
from galaxy_studio.labels.records import (
    SOURCES,
    BatchUndone,
    ImageRecord,
    ImportedLabel,
    LabelRecord,
    ProjectStats,
    Suggestion,
)
from galaxy_studio.labels.schema import TABLE_VERSIONS, file_version, migrate, schema_problem, schema_version
from galaxy_studio.path_text import from_sql, to_sql

if TYPE_CHECKING:
    from galaxy_studio.data.catalog import Catalog, CatalogItem
    from galaxy_studio.labels.schemes import ClassScheme

__all__ = [
    "AddedImages",
    "BatchUndone",
    "ImageRecord",
    "ImportedLabel",
    "LabelRecord",
    "Project",
    "ProjectBusy",
    "ProjectDamaged",
    "ProjectError",
    "ProjectStats",
    "Suggestion",
]

DEFAULT_BUSY_TIMEOUT_S = 5.0
IMPORT_LABELLER = "import"
# Opening a project searches its folder tree for moved images; this bounds the search so a
# project saved in a home folder does not walk the whole disk.
OPEN_RELINK_FILE_LIMIT = 100_000

_LABEL_COLUMNS = "class_id, timestamp, source, confidence"
# (class_id, timestamp, source, confidence) of one labeller's label on one image.
_State = tuple[int, float, str, "float | None"]
# An image's identity: its absolute path and row index (None for a file).
_Key = tuple[str, "int | None"]


@dataclass(frozen=True)
class AddedImages:
    """What adding files did: images added, files skipped with reasons, and what became of
    the labels the files brought (class folders, CSV lists, Galaxy10 rows)."""

    added: int
    skipped: list[tuple[str, str]]
    counts: LabelCounts

    def summary(self) -> str:
        text = f"added {counted(self.added, 'image')}"
        if self.skipped:
            text += f", {counted(len(self.skipped), 'file')} skipped"
        if self.counts.taken or self.counts.unmapped or self.counts.skipped:
            text += "; labels: " + self.counts.describe()
        return text


@dataclass(frozen=True)
class _Incoming:
    """Images and labels checked and hashed, ready to be written in one transaction:
    (size, hash) per new image, the latest label per image and labeller, the files that
    could not be read, and how many new images were asked for."""

    measured: dict[_Key, tuple[int, str]]
    latest: dict[tuple[_Key, str], ImportedLabel]
    skipped: list[tuple[str, str]]
    wanted: int


class Project:
    """An open project. Safe to share between threads: calls are serialised by a lock."""

    def __init__(self, path: Path, db: sqlite3.Connection, *, busy_timeout: float, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self.warnings: list[str] = []
        self._db = db
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._missing: set[int] = set()
        row = db.execute("SELECT value FROM meta WHERE key = 'scheme'").fetchone()
        self.scheme_name: str = row[0] if row else "custom"
        self._has_suggestions = file_version(db) >= TABLE_VERSIONS["suggestions"]
        self._has_aliases = file_version(db) >= TABLE_VERSIONS["class_aliases"]

    # -- opening and closing -------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, scheme: ClassScheme, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> Project:
        """A new project with `scheme`'s classes. Built under a temporary name and renamed, so
        a crash never leaves a half-made project under the real name."""
        path = Path(os.path.abspath(path))
        if path.exists() or path.is_symlink():
            raise ProjectError(path, "already exists; open it, or choose another name")
        if not path.parent.is_dir():
            raise ProjectError(path, f"the folder {path.parent} does not exist")
        names = [checked_class_name(name, path) for name in scheme.classes]
        if not names:
            raise ProjectError(path, f"the scheme {scheme.name!r} has no classes")
        if duplicate_names(names):
            raise ProjectError(path, f"the scheme lists a class twice: {', '.join(duplicate_names(names))}")
        try:
            with replacing(path) as partial:
                db = connect(partial, busy_timeout, read_only=False)
                try:
                    migrate(db)
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [
                            ("scheme", scheme.name),
                            ("created", datetime.now(UTC).isoformat()),
                            ("created_by", f"galaxy-studio {__version__}"),
                        ],
                    )
                    db.executemany(
                        "INSERT INTO classes (name, position) VALUES (?, ?)",
                        [(name, position) for position, name in enumerate(names)],
                    )
                    db.execute("COMMIT")
                finally:
                    db.close()
                if path.exists():
                    raise ProjectError(path, "already exists; open it, or choose another name")
        except sqlite3.Error as exc:
            remove_database(partial)
            raise translated(path, exc, busy_timeout) from None
        except BaseException:
            remove_database(partial)
            raise
        return cls._open(path, busy_timeout=busy_timeout, read_only=False, make_backup=False)

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S, read_only: bool = False) -> Project:
        """Open after checking the file, upgrading an older format and taking a backup when
        the last one is older than BACKUP_INTERVAL_S. A file marked read-only (even for the
        superuser) opens read-only. Images that moved are looked for by content in the
        project's folder tree; the rest are marked missing."""
        path = Path(os.path.abspath(path))
        return cls._open(path, busy_timeout=busy_timeout, read_only=read_only, make_backup=True)

    @classmethod
    def _open(cls, path: Path, *, busy_timeout: float, read_only: bool, make_backup: bool) -> Project:
        if not path.exists():
            raise ProjectError(path, "no such project file")
        if path.is_dir():
            raise ProjectError(path, "is a folder, not a project file")
        problem = header_problem(path)
        if problem is not None:
            raise ProjectDamaged(path, problem, list_backups(path))
        read_only = read_only or not writable(path)
        try:
            db = connect(path, busy_timeout, read_only)
        except sqlite3.Error as exc:
            raise translated(path, exc, busy_timeout) from None
        try:
            warnings = _check_and_upgrade(db, path, read_only=read_only, make_backup=make_backup)
            project = cls(path, db, busy_timeout=busy_timeout, read_only=read_only)
        except sqlite3.Error as exc:
            db.close()
            raise translated(path, exc, busy_timeout) from None
        except BaseException:
            db.close()
            raise
        project.warnings += warnings
        project._find_moved_images()
        return project

    def back_up(self) -> Path:
        """Take a backup now (the GUI does so from time to time during a long session, since
        opening backs up the state before the session)."""
        with self._lock:
            try:
                return back_up(self._db, self.path)
            except sqlite3.Error as exc:
                raise translated(self.path, exc, self._busy_timeout) from None
            except OSError as exc:
                raise ProjectError(self.path, f"cannot write a backup: {exc.strerror or exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- classes ---------------------------------------------------------------------------

    @property
    def classes(self) -> list[str]:
        with self._lock:
            return list(self._class_ids(self._db))

    def add_class(self, name: str) -> None:
        name = checked_class_name(name, self.path)
        with self._transaction() as db:
            ids = self._class_ids(db)
            self._refuse_clash(name, ids)
            db.execute("INSERT INTO classes (name, position) VALUES (?, ?)", (name, len(ids)))

    def rename_class(self, old: str, new: str) -> None:
        new = checked_class_name(new, self.path)
        with self._transaction() as db:
            ids = self._class_ids(db)
            if old not in ids:
                raise self._unknown_classes([old], ids)
            self._refuse_clash(new, {name: i for name, i in ids.items() if name != old})
            db.execute("UPDATE classes SET name = ? WHERE id = ?", (new, ids[old]))
            db.execute("UPDATE class_aliases SET class_name = ? WHERE class_name = ?", (new, old))

    def merge_classes(self, sources: list[str], into: str) -> int:
        """Relabel every label of `sources` as `into` and remove the sources; returns the number
        of labels changed. `into` may be a new name: it then takes the first source's place."""
        into = checked_class_name(into, self.path)
        with self._transaction() as db:
            ids = self._class_ids(db)
            unknown = [name for name in sources if name not in ids]
            if unknown:
                raise self._unknown_classes(unknown, ids)
            merged = [name for name in dict.fromkeys(sources) if name != into]
            if not merged:
                return 0
            order = list(ids)
            if into not in ids:
                self._refuse_clash(into, {n: i for n, i in ids.items() if n not in merged})
                into_id = db.execute(
                    "INSERT INTO classes (name, position) VALUES (?, ?) RETURNING id", (into, len(order))
                ).fetchone()[0]
                order.insert(order.index(merged[0]), into)
            else:
                into_id = ids[into]
            merged_ids = [ids[name] for name in merged]
            marks = ", ".join("?" * len(merged_ids))
            changed = db.execute(
                f"UPDATE labels SET class_id = ? WHERE class_id IN ({marks})", (into_id, *merged_ids)
            ).rowcount
            db.execute(f"UPDATE suggestions SET class_id = ? WHERE class_id IN ({marks})", (into_id, *merged_ids))
            for column in ("before_class_id", "after_class_id"):
                db.execute(f"UPDATE history SET {column} = ? WHERE {column} IN ({marks})", (into_id, *merged_ids))
            db.execute(f"DELETE FROM classes WHERE id IN ({marks})", merged_ids)
            db.execute(f"UPDATE class_aliases SET class_name = ? WHERE class_name IN ({marks})", (into, *merged))
            _number_classes(db, [name for name in order if name not in merged])
            return changed

    def reorder_classes(self, names: list[str]) -> None:
        with self._transaction() as db:
            current = list(self._class_ids(db))
            if sorted(names) != sorted(current):
                raise ProjectError(
                    self.path,
                    f"a new order must list every class once; the classes are: {', '.join(current)}",
                )
            _number_classes(db, names)

    # -- class aliases ---------------------------------------------------------------------

    def class_aliases(self) -> dict[str, str]:
        """The confirmed class mapping: outside name -> project class ("" = skip that name)."""
        if not self._has_aliases:
            return {}
        with self._lock:
            rows = self._db.execute("SELECT outside_name, class_name FROM class_aliases ORDER BY outside_name")
            return {str(outside): str(inside) for outside, inside in rows}

    def set_class_aliases(self, aliases: dict[str, str]) -> None:
        """Remember each outside name as a project class (or SKIP); a class the project does
        not have refuses them all. A name that is a class itself needs no alias and is refused."""
        with self._transaction() as db:
            ids = self._class_ids(db)
            unknown = [inside for inside in aliases.values() if inside != SKIP and inside not in ids]
            if unknown:
                raise self._unknown_classes(unknown, ids)
            own = [outside for outside in aliases if outside in ids or not outside.strip()]
            if own:
                raise ProjectError(
                    self.path, f"{', '.join(repr(name) for name in own)}: a class name or empty name needs no alias"
                )
            db.executemany(
                "INSERT INTO class_aliases (outside_name, class_name) VALUES (?, ?)"
                " ON CONFLICT (outside_name) DO UPDATE SET class_name = excluded.class_name",
                list(aliases.items()),
            )

    def forget_class_aliases(self, names: Iterable[str]) -> int:
        """Forget stored aliases (they are proposed afresh next time); returns how many went."""
        with self._transaction() as db:
            return sum(
                db.execute("DELETE FROM class_aliases WHERE outside_name = ?", (name,)).rowcount for name in names
            )

    # -- images ----------------------------------------------------------------------------

    def add_items(
        self,
        items: Iterable[CatalogItem],
        *,
        emit: EventSink = ignore,
        cancel: CancelToken = NEVER,
        labeller: str = IMPORT_LABELLER,
    ) -> int:
        """Add the items not yet in the project; returns how many were added. An item that comes
        with a label of one of the project's classes (class folders, CSV, Galaxy10) also gets
        that label, with source "import", under `labeller`."""
        return self._add_items(list(items), labeller, emit, cancel, None).added

    def add_paths(
        self,
        paths: Sequence[str | Path],
        *,
        renames: dict[str, str] | None = None,
        emit: EventSink = ignore,
        cancel: CancelToken = NEVER,
    ) -> AddedImages:
        """Files, folders, Galaxy10 HDF5 files and CSV lists; see `add_catalog`."""
        from galaxy_studio.data.catalog import catalog_from_paths

        return self.add_catalog(catalog_from_paths(paths), renames=renames, emit=emit, cancel=cancel)

    def add_catalog(
        self,
        catalog: Catalog,
        *,
        renames: dict[str, str] | None = None,
        emit: EventSink = ignore,
        cancel: CancelToken = NEVER,
    ) -> AddedImages:
        """Add a scanned catalogue's new items with the labels they bring, read as the project's
        classes (`renames` first, then the stored aliases, then names that match). The project's
        own files (and its backups) are not reported when its folder is added."""
        result = self._add_items(catalog.items, IMPORT_LABELLER, emit, cancel, renames)
        own = str(self.path)
        ours = (own + "-", f"{own}.backups{os.sep}")
        skipped = [e for e in catalog.skipped + result.skipped if e[0] != own and not e[0].startswith(ours)]
        return AddedImages(result.added, skipped, result.counts)

    def import_labels(
        self, labels: Sequence[ImportedLabel], *, emit: EventSink = ignore, cancel: CancelToken = NEVER
    ) -> tuple[int, int, list[tuple[str, str]]]:
        """Store labels from outside, adding their images when needed, in one transaction.

        Returns (images added, labels written, skipped). An unknown class or source refuses
        the whole import. A later label for the same image and labeller replaces an earlier
        one, and it replaces that labeller's undo history for the image.
        """
        return self._store([label.item for label in labels], labels, emit=emit, cancel=cancel, what="Importing labels")

    def images(self) -> list[ImageRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, path, rel_path, size, content_hash, row_index, hdu FROM images ORDER BY id"
            ).fetchall()
            missing = self._missing
            return [_image_record(row, row[0] in missing) for row in rows]

    def image(self, image_id: int) -> ImageRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, path, rel_path, size, content_hash, row_index, hdu FROM images WHERE id = ?",
                (image_id,),
            ).fetchone()
            return None if row is None else _image_record(row, image_id in self._missing)

    def image_id(self, path: str | Path, index: int | None = None) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM images WHERE path = ? AND ifnull(row_index, -1) = ?",
                (to_sql(os.path.abspath(path)), -1 if index is None else index),
            ).fetchone()
            return None if row is None else int(row[0])

    def set_hdu(self, image_id: int, hdu: str | None) -> None:
        """Remember which HDU or band of a FITS file to show for this image."""
        with self._transaction() as db:
            self._require_image(db, image_id)
            db.execute("UPDATE images SET hdu = ? WHERE id = ?", (hdu, image_id))

    def refresh_missing(self) -> int:
        """Look at the disk again; returns the number of images whose file is not there."""
        with self._lock:
            by_path: dict[str, list[int]] = defaultdict(list)
            for image_id, path in self._db.execute("SELECT id, path FROM images"):
                by_path[from_sql(path)].append(image_id)
            self._missing = {i for path, ids in by_path.items() if not os.path.isfile(path) for i in ids}
            return len(self._missing)

    def relink(self, search_dirs: Sequence[Path] | None = None) -> int:
        """Find missing files again by size and content hash: first at their path relative to
        the project, then anywhere under `search_dirs` (default: the project's folder).
        Returns the number of images relinked."""
        return self._relink(search_dirs, file_limit=None)

    # -- labels ----------------------------------------------------------------------------

    def label(
        self,
        image_id: int,
        class_name: str,
        *,
        labeller: str,
        source: str = "human",
        confidence: float | None = None,
    ) -> None:
        """Set `labeller`'s label of the image; committed and on disk when this returns."""
        labeller = self._checked_labeller(labeller)
        self._check_source(source)
        if confidence is not None and not math.isfinite(confidence):
            raise ProjectError(self.path, f"a confidence must be a finite number, got {confidence}")
        with self._transaction() as db:
            ids = self._class_ids(db)
            if class_name not in ids:
                raise self._unknown_classes([class_name], ids)
            self._require_image(db, image_id)
            after: _State = (ids[class_name], _now(), source, confidence)
            self._change(db, labeller, image_id, after)

    def clear_label(self, image_id: int, *, labeller: str) -> None:
        labeller = self._checked_labeller(labeller)
        with self._transaction() as db:
            self._require_image(db, image_id)
            self._change(db, labeller, image_id, None)

    def undo(self, labeller: str) -> int | None:
        """Undo `labeller`'s last label change; returns the image it concerned, or None."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, image_id, before_class_id, before_timestamp, before_source, before_confidence"
                " FROM history WHERE labeller = ? AND undone = 0 ORDER BY id DESC LIMIT 1",
                (labeller,),
            ).fetchone()
            if row is None:
                return None
            _set_state(db, row[1], labeller, _state(row[2:]))
            db.execute("UPDATE history SET undone = ? WHERE id = ?", (_next_undo(db, labeller), row[0]))
            return int(row[1])

    def redo(self, labeller: str) -> int | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, image_id, after_class_id, after_timestamp, after_source, after_confidence"
                " FROM history WHERE labeller = ? AND undone > 0 ORDER BY undone DESC, id ASC LIMIT 1",
                (labeller,),
            ).fetchone()
            if row is None:
                return None
            _set_state(db, row[1], labeller, _state(row[2:]))
            db.execute("UPDATE history SET undone = 0 WHERE id = ?", (row[0],))
            return int(row[1])

    def label_many(self, image_ids: Sequence[int], class_name: str, *, labeller: str) -> int:
        """Give every image `labeller`'s label `class_name` in one transaction, as one batch;
        returns the batch id that `undo_batch` takes. All are saved, or none."""
        labeller = self._checked_labeller(labeller)
        with self._transaction() as db:
            return self._label_batch(db, list(image_ids), class_name, labeller)

    def add_and_label(
        self,
        items: Sequence[CatalogItem],
        class_name: str,
        *,
        labeller: str,
        emit: EventSink = ignore,
        cancel: CancelToken = NEVER,
    ) -> int:
        """Add the items the project lacks (with their own labels under "import", as `add_items`
        does) and give every item `labeller`'s label, in one transaction and one batch; returns
        the batch id. An item that cannot be added (unreadable, gone) refuses the whole call."""
        labeller = self._checked_labeller(labeller)
        with self._lock:
            classes = self._class_ids(self._db)
        if class_name not in classes:
            raise self._unknown_classes([class_name], classes)
        new, imported, _ = self._new_items(items, IMPORT_LABELLER, None)
        incoming = self._prepare(new, imported, emit=emit, cancel=cancel, what="Adding images")
        if incoming.skipped:
            path, reason = incoming.skipped[0]
            more = f" and {len(incoming.skipped) - 1} more" if len(incoming.skipped) > 1 else ""
            raise ProjectError(self.path, f"cannot add {path}: {reason}{more}; nothing was labelled")
        with self._transaction() as db:
            self._write(db, incoming)
            keys = self._image_keys(db)
            batch = self._label_batch(
                db, [keys[(os.path.abspath(item.path), item.index)] for item in items], class_name, labeller
            )
        emit(Progressed(incoming.wanted, incoming.wanted, "Adding images"))
        return batch

    def undo_batch(self, batch_id: int) -> BatchUndone:
        """Take back the labels of one batch, and only those, whoever labels what meanwhile.

        An image whose label its labeller changed again after the batch keeps that later
        label (it is reported in `kept`): the later change was deliberate and the batch no
        longer decides that image. A label already undone one by one stays undone. The
        labels taken back join the redo stack, as one undo."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM batches WHERE id = ?", (batch_id,)).fetchone() is None:
                raise ProjectError(self.path, f"no labelling batch {batch_id} in this project")
            rows = db.execute(
                "SELECT h.id, h.image_id, h.labeller, h.before_class_id, h.before_timestamp, h.before_source,"
                " h.before_confidence, EXISTS (SELECT 1 FROM history later WHERE later.labeller = h.labeller"
                " AND later.image_id = h.image_id AND later.id > h.id AND later.undone = 0)"
                " FROM history h WHERE h.batch_id = ? AND h.undone = 0 ORDER BY h.id",
                (batch_id,),
            ).fetchall()
            taken: list[int] = []
            kept: list[int] = []
            undo_mark: dict[str, int] = {}
            for history_id, image_id, labeller, *before, changed_since in rows:
                if changed_since:
                    kept.append(int(image_id))
                    continue
                if labeller not in undo_mark:
                    undo_mark[labeller] = _next_undo(db, labeller)
                _set_state(db, image_id, labeller, _state(before))
                db.execute("UPDATE history SET undone = ? WHERE id = ?", (undo_mark[labeller], history_id))
                taken.append(int(image_id))
            return BatchUndone(batch_id, tuple(taken), tuple(kept))

    def batch_images(self, batch_id: int) -> list[int]:
        """The images a batch labelled (those whose change is still in the history)."""
        with self._lock:
            rows = self._db.execute("SELECT image_id FROM history WHERE batch_id = ? ORDER BY id", (batch_id,))
            return [int(row[0]) for row in rows]

    def labels(self, labeller: str | None = None) -> dict[int, LabelRecord]:
        """The current label per image: `labeller`'s, or with None the consensus (see consensus.py)."""
        records = self._label_records(labeller)
        if labeller is not None:
            return {record.image_id: record for record in records}
        consensus: dict[int, LabelRecord] = {}
        for image_id, group in _grouped(records).items():
            chosen = consensus_label(group)
            if chosen is not None:
                consensus[image_id] = chosen
        return consensus

    def counted_labels(
        self, labeller: str | None = None, *, model_labels_count: bool = False
    ) -> dict[int, LabelRecord]:
        """The label that counts for each labelled image (see `consensus.counted_label`)."""
        counted: dict[int, LabelRecord] = {}
        for image_id, group in _grouped(self._label_records(None)).items():
            chosen = counted_label(group, labeller=labeller, model_labels_count=model_labels_count)
            if chosen is not None:
                counted[image_id] = chosen
        return counted

    def all_labels(self) -> list[LabelRecord]:
        """Every labeller's current label of every image, by image id."""
        return self._label_records(None)

    def labels_for_image(self, image_id: int) -> list[LabelRecord]:
        """The current label of each labeller, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT l.image_id, c.name, l.labeller, l.timestamp, l.source, l.confidence"
                " FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = ?"
                " ORDER BY l.timestamp",
                (image_id,),
            ).fetchall()
        return [LabelRecord(*row) for row in rows]

    def labellers(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT labeller FROM labels ORDER BY labeller")
            return [row[0] for row in rows]

    def disagreements(self) -> set[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT image_id FROM labels WHERE source = 'human'"
                " GROUP BY image_id HAVING COUNT(DISTINCT class_id) > 1"
            )
            return {int(row[0]) for row in rows}

    # -- suggestions -----------------------------------------------------------------------

    def store_suggestions(self, suggestions: Sequence[Suggestion]) -> int:
        """Keep a model's suggestions, one per image (a newer one replaces the older), in one
        transaction; returns how many were stored. They never count as labels: a person
        accepts one by labelling, which goes through `label` and its undo history."""
        rows = []
        with self._transaction() as db:
            ids = self._class_ids(db)
            unknown = [s.class_name for s in suggestions if s.class_name not in ids]
            if unknown:
                raise self._unknown_classes(unknown, ids)
            now = _now()
            for suggestion in suggestions:
                if not (math.isfinite(suggestion.confidence) and math.isfinite(suggestion.entropy)):
                    raise ProjectError(
                        self.path, f"a suggestion for image {suggestion.image_id} is not a finite number"
                    )
                self._require_image(db, suggestion.image_id)
                timestamp = now if suggestion.timestamp is None else round(suggestion.timestamp, 6)
                rows.append(
                    (
                        suggestion.image_id,
                        ids[suggestion.class_name],
                        suggestion.source,
                        float(suggestion.confidence),
                        float(suggestion.entropy),
                        timestamp,
                    )
                )
            db.executemany(
                "INSERT INTO suggestions (image_id, class_id, source, confidence, entropy, timestamp)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET class_id = excluded.class_id,"
                " source = excluded.source, confidence = excluded.confidence, entropy = excluded.entropy,"
                " timestamp = excluded.timestamp",
                rows,
            )
        return len(rows)

    def suggestions(self) -> dict[int, Suggestion]:
        """The stored suggestion of each image that has one, by image id."""
        if not self._has_suggestions:
            return {}
        with self._lock:
            rows = self._db.execute(
                "SELECT s.image_id, c.name, s.source, s.confidence, s.entropy, s.timestamp"
                " FROM suggestions s JOIN classes c ON c.id = s.class_id ORDER BY s.image_id"
            ).fetchall()
        return {int(row[0]): Suggestion(*row) for row in rows}

    def most_uncertain_first(self) -> list[int]:
        """Every image id, those with the most uncertain suggestion (highest entropy) first,
        then images without a suggestion in project order: labelling what the model is least
        sure of teaches it the most per label."""
        if not self._has_suggestions:
            return [record.id for record in self.images()]
        with self._lock:
            rows = self._db.execute(
                "SELECT i.id FROM images i LEFT JOIN suggestions s ON s.image_id = i.id"
                " ORDER BY s.entropy IS NULL, s.entropy DESC, i.id"
            ).fetchall()
        return [int(row[0]) for row in rows]

    def image_count(self) -> int:
        """How many images the project holds, without reading them (a panel shows it live)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def stats(self) -> ProjectStats:
        with self._lock:
            images = self.image_count()
            classes = list(self._class_ids(self._db))
        records = self._label_records(None)
        groups = _grouped(records)
        per_class = dict.fromkeys(classes, 0)
        sources: Counter[str] = Counter()
        for group in groups.values():
            chosen = consensus_label(group)
            if chosen is not None:
                per_class[chosen.class_name] = per_class.get(chosen.class_name, 0) + 1
                sources[chosen.source] += 1
        shared = [group for group in groups.values() if human_labellers(group) >= 2]
        agreeing = sum(1 for group in shared if len(human_classes(group)) == 1)
        return ProjectStats(
            images=images,
            labelled=len(groups),
            per_class=per_class,
            labellers=dict(sorted(Counter(record.labeller for record in records).items())),
            disagreements=sum(1 for group in groups.values() if len(human_classes(group)) > 1),
            agreement=agreeing / len(shared) if shared else None,
            missing=len(self._missing),
            multiply_labelled=len(shared),
            sources=dict(sorted(sources.items())),
        )

    # -- internals -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed whole, or rolled back and raised as ProjectError.

        BEGIN IMMEDIATE takes the write lock up front, so waiting for another process happens
        here (up to the busy timeout) and never half-way through a change.
        """
        with self._lock:
            if self.read_only:
                raise ProjectError(self.path, "the project is open read-only; nothing was saved")
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translated(self.path, exc, self._busy_timeout) from None
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise translated(self.path, exc, self._busy_timeout) from None
                raise

    def _class_ids(self, db: sqlite3.Connection) -> dict[str, int]:
        return {name: int(i) for i, name in db.execute("SELECT id, name FROM classes ORDER BY position, id")}

    def _unknown_classes(self, names: Iterable[str], ids: dict[str, int]) -> ProjectError:
        quoted = ", ".join(repr(name) for name in dict.fromkeys(names))
        plural = "es" if len(dict.fromkeys(names)) > 1 else ""
        return ProjectError(self.path, f"unknown class{plural} {quoted}; the classes are: {', '.join(ids)}")

    def _refuse_clash(self, name: str, others: dict[str, int]) -> None:
        for other in others:
            if other.casefold() == name.casefold():
                raise ProjectError(self.path, f"there is already a class {other!r}")

    def _checked_labeller(self, labeller: str) -> str:
        stripped = labeller.strip()
        if not stripped:
            raise ProjectError(self.path, "a labeller name cannot be empty")
        return stripped

    def _check_source(self, source: str) -> None:
        if source not in SOURCES:
            raise ProjectError(self.path, f"unknown label source {source!r}; use one of {', '.join(SOURCES)}")

    def _require_image(self, db: sqlite3.Connection, image_id: int) -> None:
        if db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
            raise ProjectError(self.path, f"no image with id {image_id} in this project")

    def _change(
        self, db: sqlite3.Connection, labeller: str, image_id: int, after: _State | None, batch_id: int | None = None
    ) -> None:
        """Set a label and record the change for undo; a new change empties the redo stack."""
        row = db.execute(
            f"SELECT {_LABEL_COLUMNS} FROM labels WHERE image_id = ? AND labeller = ?", (image_id, labeller)
        ).fetchone()
        if row is None and after is None:
            return
        _set_state(db, image_id, labeller, after)
        db.execute("DELETE FROM history WHERE labeller = ? AND undone > 0", (labeller,))
        db.execute(
            "INSERT INTO history (labeller, image_id, before_class_id, before_timestamp, before_source,"
            " before_confidence, after_class_id, after_timestamp, after_source, after_confidence, batch_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (labeller, image_id, *(row or (None,) * 4), *(after or (None,) * 4), batch_id),
        )

    def _label_batch(self, db: sqlite3.Connection, image_ids: list[int], class_name: str, labeller: str) -> int:
        """Label the images (each once) as one new batch inside the caller's transaction."""
        ids = self._class_ids(db)
        if class_name not in ids:
            raise self._unknown_classes([class_name], ids)
        now = _now()
        batch_id = int(
            db.execute(
                "INSERT INTO batches (labeller, timestamp) VALUES (?, ?) RETURNING id", (labeller, now)
            ).fetchone()[0]
        )
        for image_id in dict.fromkeys(image_ids):
            self._require_image(db, image_id)
            self._change(db, labeller, image_id, (ids[class_name], now, "human", None), batch_id)
        return batch_id

    def _label_records(self, labeller: str | None) -> list[LabelRecord]:
        query = (
            "SELECT l.image_id, c.name, l.labeller, l.timestamp, l.source, l.confidence"
            " FROM labels l JOIN classes c ON c.id = l.class_id"
        )
        with self._lock:
            if labeller is None:
                rows = self._db.execute(query + " ORDER BY l.image_id, l.labeller").fetchall()
            else:
                query += " WHERE l.labeller = ? ORDER BY l.image_id"
                rows = self._db.execute(query, (labeller,)).fetchall()
        return [LabelRecord(*row) for row in rows]

    def _image_keys(self, db: sqlite3.Connection) -> dict[tuple[str, int | None], int]:
        rows = db.execute("SELECT id, path, row_index FROM images")
        return {(from_sql(path), index): int(image_id) for image_id, path, index in rows}

    def _add_items(
        self,
        items: list[CatalogItem],
        labeller: str,
        emit: EventSink,
        cancel: CancelToken,
        renames: dict[str, str] | None,
    ) -> AddedImages:
        """Add the new items; their labels are read as the project's classes and counted, and
        each outside name whose labels are not taken gets a note, so that no label is dropped
        without a word."""
        new, labelled, mapping = self._new_items(items, labeller, renames)
        added, _, skipped = self._store(new, labelled, emit=emit, cancel=cancel, what="Adding images")
        gone = {os.path.abspath(path) for path, _ in skipped}
        counts = LabelCounts.tally(
            (item.label for item in new if item.label is not None and os.path.abspath(item.path) not in gone),
            mapping,
            self.classes,
        )
        notes = [
            (name, f"{counted(count, 'image')} added without their label {name!r}: it matches no class of the project")
            for name, count in counts.unmapped_names.items()
        ] + [
            (name, f"{counted(count, 'image')} added without their label {name!r}: mapped to skip")
            for name, count in counts.skipped_names.items()
        ]
        return AddedImages(added, skipped + notes, counts)

    def _new_items(
        self, items: Sequence[CatalogItem], labeller: str, renames: dict[str, str] | None
    ) -> tuple[list[CatalogItem], list[ImportedLabel], ClassMapping]:
        """The items not yet in the project and the labels they bring, read as the project's
        classes (a folder `spirals/` as the class `spiral`): `renames` first, then the stored
        aliases, then names that match. Names mapped to skip or to nothing bring no label."""
        with self._lock:
            classes = list(self._class_ids(self._db))
            present = set(self._image_keys(self._db))
        new = [item for item in items if (os.path.abspath(item.path), item.index) not in present]
        mapping = map_class_names(
            (item.label for item in new if item.label is not None), classes, renames, self.class_aliases()
        )
        labelled = [
            ImportedLabel(item, mapping.class_of(item.label), labeller)
            for item in new
            if item.label is not None and item.label not in mapping.skipped and mapping.class_of(item.label) in classes
        ]
        return new, labelled, mapping

    def _store(
        self,
        items: Sequence[CatalogItem],
        labels: Sequence[ImportedLabel],
        *,
        emit: EventSink,
        cancel: CancelToken,
        what: str,
    ) -> tuple[int, int, list[tuple[str, str]]]:
        """Add images and labels in one transaction."""
        incoming = self._prepare(items, labels, emit=emit, cancel=cancel, what=what)
        with self._transaction() as db:
            added, written = self._write(db, incoming)
        emit(Progressed(incoming.wanted, incoming.wanted, what))
        return added, written, incoming.skipped

    def _prepare(
        self,
        items: Sequence[CatalogItem],
        labels: Sequence[ImportedLabel],
        *,
        emit: EventSink,
        cancel: CancelToken,
        what: str,
    ) -> _Incoming:
        """Check the labels and hash the new files. The files are hashed outside any
        transaction, so other processes are not locked out while thousands of files are read."""
        with self._lock:
            ids = self._class_ids(self._db)
            present = set(self._image_keys(self._db))
        unknown = Counter(label.class_name for label in labels if label.class_name not in ids)
        if unknown:
            counted = ", ".join(f"{name!r} ({count} label{'s' * (count > 1)})" for name, count in unknown.items())
            raise ProjectError(
                self.path,
                f"unknown class{'es' * (len(unknown) > 1)} {counted}; "
                f"the classes are: {', '.join(ids)}; nothing was imported",
            )
        for label in labels:
            self._check_source(label.source)
            self._checked_labeller(label.labeller)
        wanted: dict[_Key, None] = {}
        for item in items:
            key = (os.path.abspath(item.path), item.index)
            if key not in present:
                wanted[key] = None
        measured, skipped = measure_files(list(wanted), emit, cancel, what)
        cancel.raise_if_set()
        latest: dict[tuple[_Key, str], ImportedLabel] = {}
        for label in labels:
            latest[((os.path.abspath(label.item.path), label.item.index), label.labeller.strip())] = label
        return _Incoming(measured, latest, skipped, len(wanted))

    def _write(self, db: sqlite3.Connection, incoming: _Incoming) -> tuple[int, int]:
        """Insert the measured images and the labels inside the caller's transaction; returns
        (images added, labels written)."""
        now = _now()
        added = 0
        for (path, index), (size, digest) in incoming.measured.items():
            cursor = db.execute(
                "INSERT OR IGNORE INTO images (path, rel_path, size, content_hash, row_index) VALUES (?, ?, ?, ?, ?)",
                (to_sql(path), _sql_or_none(self._relative(path)), size, digest, index),
            )
            added += cursor.rowcount
        keys = self._image_keys(db)
        ids = self._class_ids(db)
        rows = []
        for (key, labeller), label in incoming.latest.items():
            if key in keys and label.class_name in ids:
                timestamp = now if label.timestamp is None else round(label.timestamp, 6)
                class_id = ids[label.class_name]
                rows.append((keys[key], labeller, class_id, timestamp, label.source, label.confidence))
        db.executemany(
            f"INSERT INTO labels (image_id, labeller, {_LABEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (image_id, labeller) DO UPDATE SET class_id = excluded.class_id,"
            " timestamp = excluded.timestamp, source = excluded.source, confidence = excluded.confidence",
            rows,
        )
        db.executemany("DELETE FROM history WHERE image_id = ? AND labeller = ?", [row[:2] for row in rows])
        return added, len(rows)

    def _relative(self, path: str) -> str | None:
        try:
            return Path(os.path.relpath(path, self.path.parent)).as_posix()
        except ValueError:
            return None

    def _find_moved_images(self) -> None:
        """On open: relink what moved (when the file can be written), report what is still lost."""
        if self.refresh_missing() and not self.read_only:
            try:
                self._relink(None, file_limit=OPEN_RELINK_FILE_LIMIT)
            except ProjectError as exc:
                self.warnings.append(f"could not relink moved images: {exc.problem}")
        if self._missing:
            them, they = ("it", "it") if len(self._missing) == 1 else ("them", "they")
            self.warnings.append(
                f"{counted(len(self._missing), 'image')} not found on disk; "
                f"relink {them} from the folder {they} moved to"
            )

    def _relink(self, search_dirs: Sequence[Path] | None, file_limit: int | None) -> int:
        self.refresh_missing()
        with self._lock:
            if not self._missing:
                return 0
            marks = ", ".join("?" * len(self._missing))
            wanted: dict[str, tuple[int, str, str | None]] = {
                from_sql(path): (size, digest, None if rel is None else from_sql(rel))
                for path, size, digest, rel in self._db.execute(
                    f"SELECT path, size, content_hash, rel_path FROM images WHERE id IN ({marks})",
                    list(self._missing),
                )
            }
            taken = {from_sql(row[0]) for row in self._db.execute("SELECT DISTINCT path FROM images")}
        found: dict[str, str] = {}
        for old, (size, digest, rel) in wanted.items():
            if rel is not None:
                beside = os.path.normpath(os.path.join(self.path.parent, rel))
                if beside not in taken and same_content(beside, size, digest):
                    found[old] = beside
        remaining = {old: (size, digest) for old, (size, digest, _) in wanted.items() if old not in found}
        if remaining:
            dirs = [self.path.parent] if search_dirs is None else [Path(d) for d in search_dirs]
            found.update(find_moved(remaining, dirs, taken | set(found.values()), file_limit))
        if not found:
            return 0
        with self._transaction() as db:
            relinked = 0
            for old, new in found.items():
                relinked += db.execute(
                    "UPDATE OR IGNORE images SET path = ?, rel_path = ? WHERE path = ?",
                    (to_sql(new), _sql_or_none(self._relative(new)), to_sql(old)),
                ).rowcount
        self.refresh_missing()
        return relinked


def _check_and_upgrade(db: sqlite3.Connection, path: Path, *, read_only: bool, make_backup: bool) -> list[str]:
    """Refuse damaged and too-new files, migrate old ones (after a backup), back up when due."""
    version = file_version(db)
    if version > schema_version():
        raise ProjectError(path, version_problem(db) or "unknown project format")
    problem = integrity_problem(db, path) or version_problem(db)
    if problem is not None:
        raise ProjectDamaged(path, problem, list_backups(path))
    warnings: list[str] = []
    if version < schema_version():
        if read_only:
            warnings.append(
                "is in an older project format and read-only, so it is read as it is "
                "(model suggestions need the upgrade that opening it writable makes)"
            )
        else:
            back_up(db, path)
            migrate(db)
    problem = schema_problem(db)
    if problem is not None:
        raise ProjectDamaged(path, problem, list_backups(path))
    if make_backup and not read_only and backup_due(path):
        try:
            back_up(db, path)
        except (OSError, sqlite3.Error) as exc:
            warnings.append(f"could not write an automatic backup: {exc}")
    return warnings


def _image_record(row: Sequence[Any], missing: bool) -> ImageRecord:
    """An image row (id, path, rel_path, size, content_hash, row_index, hdu) as a record."""
    image_id, path, rel_path, size, content_hash, row_index, hdu = row
    rel_path = None if rel_path is None else from_sql(rel_path)
    return ImageRecord(image_id, from_sql(path), rel_path, size, content_hash, row_index, hdu, missing=missing)


def _sql_or_none(path: str | None) -> str | bytes | None:
    return None if path is None else to_sql(path)


def _now() -> float:
    """The time in whole microseconds: the resolution of the ISO times in exported files, so
    that exporting and importing gives back exactly the same timestamp."""
    return round(time.time(), 6)


def _state(values: Sequence[Any]) -> _State | None:
    return None if values[0] is None else (int(values[0]), float(values[1]), str(values[2]), values[3])


def _next_undo(db: sqlite3.Connection, labeller: str) -> int:
    """The mark of the next undo: higher than any before, so redo can go newest first."""
    return int(
        db.execute("SELECT ifnull(max(undone), 0) + 1 FROM history WHERE labeller = ?", (labeller,)).fetchone()[0]
    )


def _set_state(db: sqlite3.Connection, image_id: int, labeller: str, state: _State | None) -> None:
    if state is None:
        db.execute("DELETE FROM labels WHERE image_id = ? AND labeller = ?", (image_id, labeller))
        return
    db.execute(
        f"INSERT INTO labels (image_id, labeller, {_LABEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (image_id, labeller) DO UPDATE SET class_id = excluded.class_id,"
        " timestamp = excluded.timestamp, source = excluded.source, confidence = excluded.confidence",
        (image_id, labeller, *state),
    )


def _number_classes(db: sqlite3.Connection, names: list[str]) -> None:
    db.executemany("UPDATE classes SET position = ? WHERE name = ?", list(enumerate(names)))


def _grouped(records: list[LabelRecord]) -> dict[int, list[LabelRecord]]:
    """Labels per image; `records` come sorted by image id."""
    return {image_id: list(group) for image_id, group in groupby(records, key=attrgetter("image_id"))}
