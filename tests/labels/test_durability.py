"""A label that was reported saved is never lost: kills, full disks, locks, read-only and
damaged files, backups and format upgrades."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.labels import backups, schema
from galaxy_studio.labels.backups import list_backups, restore_backup
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project, ProjectBusy, ProjectDamaged, ProjectError

from .conftest import write_pngs

KILL_ROUNDS = 20

# Labels every image under a fresh labeller name per pass, so no label is ever overwritten:
# each printed line is a label that must be in the file after the kill.
LABELLING_LOOP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from galaxy_studio.labels.store import Project

    project = Project.open(Path(sys.argv[1]))
    images = [image.id for image in project.images()]
    classes = project.classes
    print("ready", flush=True)
    done = 0
    while True:
        image_id = images[done % len(images)]
        labeller = f"{sys.argv[2]}-{done // len(images)}"
        class_name = classes[done % len(classes)]
        project.label(image_id, class_name, labeller=labeller)
        print(image_id, labeller, class_name, flush=True)
        done += 1
    """
)

HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO meta (key, value) VALUES ('held', 'yes')")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("ROLLBACK")
    """
)


def integrity(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("PRAGMA integrity_check")]
    finally:
        db.close()


def make_project(folder: Path, images: int = 6) -> Path:
    write_pngs(folder / "images", images)
    path = folder / "p.gsproj"
    with Project.create(path, BUILTIN_SCHEMES["spiral"]) as project:
        project.add_paths([folder / "images"])
    return path


def test_every_label_printed_before_sigkill_is_in_the_file(tmp_path: Path) -> None:
    path = make_project(tmp_path, images=40)
    rng = random.Random(20240501)
    for round_number in range(KILL_ROUNDS):
        child = subprocess.Popen(
            [sys.executable, "-c", LABELLING_LOOP, str(path), f"k{round_number}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n", child.stderr.read() if child.stderr else ""
        # Kill after a random number of reported labels, not a random time: on a loaded
        # machine a timed kill may land before the first label and test nothing.
        seen = [child.stdout.readline() for _ in range(rng.randint(1, 25))]
        child.send_signal(signal.SIGKILL)
        child.wait()
        lines = seen + child.stdout.read().splitlines(keepends=True)
        printed = [line.split() for line in lines if line.endswith("\n")]
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
        assert integrity(path) == ["ok"]
        with Project.open(path) as project:
            stored = {
                (label.image_id, label.labeller, label.class_name)
                for label in project.all_labels()
                if label.labeller.startswith(f"k{round_number}-")
            }
            history = project._db.execute(
                "SELECT COUNT(*) FROM history WHERE labeller LIKE ?", (f"k{round_number}-%",)
            ).fetchone()[0]
        assert {(int(i), name, cls) for i, name, cls in printed} <= stored
        assert len(stored) - len(printed) in (0, 1), "at most the label being printed when killed"
        assert history == len(stored), "each label and its undo record are one transaction"


def test_a_second_writer_gets_project_busy_then_succeeds(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), "1.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    with Project.open(path, busy_timeout=0.3) as project:
        first = project.images()[0].id
        started = time.perf_counter()
        with pytest.raises(ProjectBusy) as caught:
            project.label(first, "spiral", labeller="ada")
        assert time.perf_counter() - started >= 0.25, "it waited for the busy timeout first"
        assert str(path) in str(caught.value) and "another program" in str(caught.value)
        assert project.labels() == {}
        holder.wait(timeout=10)
        holder.stdout.close()
        project.label(first, "spiral", labeller="ada")
        assert project.labels("ada")[first].class_name == "spiral"


def test_a_short_lock_is_waited_out(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), "0.3"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    with Project.open(path, busy_timeout=10) as project:
        project.label(project.images()[0].id, "non-spiral", labeller="ada")
        assert len(project.labels()) == 1
    holder.wait(timeout=10)
    holder.stdout.close()


def test_a_full_disk_saves_nothing_partial_and_the_project_still_opens(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    more = write_pngs(tmp_path / "more", 300, seed=9)
    with Project.open(path) as project:
        image_ids = [image.id for image in project.images()]
        pages = project._db.execute("PRAGMA page_count").fetchone()[0]
        project._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(ProjectError, match="disk is full; nothing was saved") as caught:
            project.add_items([CatalogItem(str(p)) for p in more])
        assert str(path) in str(caught.value)
        assert len(project.images()) == 6, "no image of the failed batch was added"
        saved = []
        with pytest.raises(ProjectError, match="disk is full"):
            for number in range(100_000):
                image_id = image_ids[number % 6]
                project.label(image_id, "spiral", labeller=f"ada{number // 6}")
                saved.append((image_id, f"ada{number // 6}"))
        stored = {(label.image_id, label.labeller) for label in project.all_labels()}
        assert stored == set(saved), "every returned label is there and the failed one is not"
        history = project._db.execute("SELECT COUNT(*) FROM history").fetchone()[0]
        assert history == len(saved)
    assert integrity(path) == ["ok"]
    with Project.open(path) as project:
        assert len(project.all_labels()) == len(saved)
        assert project.add_items([CatalogItem(str(p)) for p in more[:5]]) == 5


def test_a_read_only_file_opens_for_reading_and_refuses_writes(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    with Project.open(path) as project:
        first = project.images()[0].id
        project.label(first, "spiral", labeller="ada")
    os.chmod(path, 0o444)
    try:
        with Project.open(path) as project:
            assert project.read_only
            assert project.labels("ada")[first].class_name == "spiral"
            with pytest.raises(ProjectError, match="read-only; nothing was saved") as caught:
                project.label(first, "non-spiral", labeller="ada")
            assert str(path) in str(caught.value)
            assert project.labels("ada")[first].class_name == "spiral"
    finally:
        os.chmod(path, 0o644)
    with Project.open(path) as project:
        assert not project.read_only
        project.label(first, "non-spiral", labeller="ada")


def test_a_sqlite_readonly_error_is_reported_as_read_only(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    with Project.open(path, read_only=True) as project:
        project.read_only = False  # let the write reach SQLite, which refuses it itself
        with pytest.raises(ProjectError, match="read-only; nothing was saved"):
            project.label(project.images()[0].id, "spiral", labeller="ada")
    with Project.open(path) as project:
        assert project.labels() == {}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"path,class\nimage.png,spiral\n" * 10, "not an SQLite database"),
    ],
)
def test_a_non_project_file_is_reported_damaged(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "p.gsproj"
    path.write_bytes(content)
    with pytest.raises(ProjectDamaged, match=problem) as caught:
        Project.open(path)
    assert str(caught.value).startswith(f"{path}: ") and caught.value.backups == []
    assert "no automatic backup exists" in str(caught.value)


def test_another_sqlite_database_is_not_a_project(tmp_path: Path) -> None:
    path = tmp_path / "other.gsproj"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(ProjectDamaged, match="not a Galaxy Studio project"):
        Project.open(path)


def test_a_corrupted_project_lists_its_backups_and_a_backup_restores_it(tmp_path: Path) -> None:
    path = make_project(tmp_path, images=30)
    with Project.open(path) as project:
        image_ids = [image.id for image in project.images()]
        for image_id in image_ids:
            project.label(image_id, "spiral", labeller="ada")
    (newest,) = list_backups(path)
    with Project.open(path) as project:
        project.label(image_ids[0], "non-spiral", labeller="bob")
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(4096 * 2)
        handle.write(bytes(random.Random(3).randrange(256) for _ in range(size - 4096 * 2)))
    with pytest.raises(ProjectDamaged) as caught:
        Project.open(path)
    assert caught.value.backups == [newest]
    assert str(path) in str(caught.value) and "damaged" in str(caught.value) and str(newest) in str(caught.value)
    aside = restore_backup(path, newest)
    assert aside is not None and aside.exists() and aside.name.startswith("p.gsproj.damaged-")
    with Project.open(path) as project:
        assert len(project.images()) == 30
        assert {label.labeller for label in project.all_labels()} == set(), "the backup predates the labels"


def test_restoring_a_bad_backup_changes_nothing(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    bad = tmp_path / "bad.gsproj"
    bad.write_bytes(b"not a database at all")
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="cannot restore this backup"):
        restore_backup(path, bad)
    assert path.read_bytes() == before


def test_backups_rotate_and_are_taken_at_most_once_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_project(tmp_path)
    assert list_backups(path) == [], "a new project has nothing to back up"
    with Project.open(path):
        pass
    with Project.open(path):
        pass
    assert len(list_backups(path)) == 1, "the second open was within the interval"
    monkeypatch.setattr(backups, "BACKUP_INTERVAL_S", 0.0)
    with Project.open(path) as project:
        made = [project.back_up() for _ in range(7)]
    kept = list_backups(path)
    assert len(kept) == backups.BACKUPS_KEPT
    assert kept == sorted(kept, reverse=True) == made[:-6:-1]
    assert all(backup.parent == tmp_path / "p.gsproj.backups" for backup in kept)
    copy = sqlite3.connect(kept[0])
    assert copy.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 6
    copy.close()


def test_an_older_format_is_backed_up_then_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_project(tmp_path)
    with Project.open(path):
        pass
    assert len(list_backups(path)) == 1

    def add_notes(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE notes (image_id INTEGER REFERENCES images (id), text TEXT)")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_notes])
    with Project.open(path) as project:
        assert project._db.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
        assert project._db.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
    newest = list_backups(path)[0]
    assert len(list_backups(path)) == 2, "a backup in the old format was taken first"
    old = sqlite3.connect(newest)
    assert old.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS) - 1
    old.close()


def test_a_newer_format_is_refused_without_calling_it_damaged(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ProjectError, match="newer Galaxy Studio") as caught:
        Project.open(path)
    assert not isinstance(caught.value, ProjectDamaged)
