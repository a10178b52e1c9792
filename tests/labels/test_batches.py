"""Labels given together: one transaction, one batch id, and taking back exactly that batch;
images added and labelled in one go; the one rule for which label counts; the upgrade that
brings batches to older files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.labels import schema
from galaxy_studio.labels.consensus import counted_label
from galaxy_studio.labels.records import LabelRecord
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project, ProjectError

from .conftest import write_pngs


def ids(project: Project) -> list[int]:
    return [image.id for image in project.images()]


def classes_of(project: Project, labeller: str) -> dict[int, str]:
    return {image_id: record.class_name for image_id, record in project.labels(labeller).items()}


def test_label_many_is_one_batch_that_undo_batch_takes_back_whole(spiral_project: Project) -> None:
    a, b, c, d = ids(spiral_project)[:4]
    spiral_project.label(a, "non-spiral", labeller="ada")
    batch = spiral_project.label_many([a, b, c, b], "spiral", labeller="ada")
    assert classes_of(spiral_project, "ada") == {a: "spiral", b: "spiral", c: "spiral"}
    assert spiral_project.batch_images(batch) == [a, b, c], "each image once, in order"
    spiral_project.label(d, "spiral", labeller="ada")
    undone = spiral_project.undo_batch(batch)
    assert (undone.batch_id, undone.image_ids, undone.kept) == (batch, (a, b, c), ())
    assert classes_of(spiral_project, "ada") == {a: "non-spiral", d: "spiral"}, (
        "the label before the batch is back, and the later label of another image stays"
    )
    assert spiral_project.undo("ada") == d, "plain undo still walks the labeller's own history"
    assert spiral_project.undo_batch(batch).image_ids == (), "a batch is taken back once"


def test_undo_batch_leaves_an_image_labelled_again_since_and_reports_it(spiral_project: Project) -> None:
    a, b, c = ids(spiral_project)[:3]
    batch = spiral_project.label_many([a, b, c], "spiral", labeller="ada")
    spiral_project.label(b, "non-spiral", labeller="ada")
    spiral_project.label(c, "non-spiral", labeller="bob")
    undone = spiral_project.undo_batch(batch)
    assert undone.image_ids == (a, c) and undone.kept == (b,)
    assert classes_of(spiral_project, "ada") == {b: "non-spiral"}
    assert classes_of(spiral_project, "bob") == {c: "non-spiral"}, "another labeller's label is not the batch's"


def test_a_label_undone_one_by_one_stays_undone_and_redo_goes_newest_undo_first(spiral_project: Project) -> None:
    a, b, c, d = ids(spiral_project)[:4]
    batch = spiral_project.label_many([a, b, c], "spiral", labeller="ada")
    spiral_project.label(d, "non-spiral", labeller="ada")
    assert spiral_project.undo("ada") == d
    assert spiral_project.undo("ada") == c, "Ctrl+Z takes back one label of a batch"
    assert spiral_project.undo_batch(batch).image_ids == (a, b)
    assert spiral_project.labels("ada") == {}
    assert [spiral_project.redo("ada") for _ in range(5)] == [a, b, c, d, None], (
        "the batch undone last is redone first, then the earlier undos, newest first"
    )
    assert classes_of(spiral_project, "ada") == {a: "spiral", b: "spiral", c: "spiral", d: "non-spiral"}


def test_a_failing_batch_writes_nothing(spiral_project: Project) -> None:
    a, b = ids(spiral_project)[:2]
    with pytest.raises(ProjectError, match="no image with id 999"):
        spiral_project.label_many([a, 999, b], "spiral", labeller="ada")
    with pytest.raises(ProjectError, match="unknown class 'bar'"):
        spiral_project.label_many([a], "bar", labeller="ada")
    with pytest.raises(ProjectError, match="no labelling batch 42"):
        spiral_project.undo_batch(42)
    assert spiral_project.labels() == {} and spiral_project.undo("ada") is None


def test_add_and_label_adds_what_is_missing_and_labels_all_as_one_batch(
    tmp_path: Path, spiral_project: Project
) -> None:
    known = spiral_project.images()[0]
    new = write_pngs(tmp_path / "new", 2, seed=9)
    items = [known.item(), CatalogItem(str(new[0]), label="non-spiral"), CatalogItem(str(new[1]))]
    batch = spiral_project.add_and_label(items, "spiral", labeller="ada")
    new_ids = [spiral_project.image_id(path) for path in new]
    assert len(spiral_project.images()) == 8 and None not in new_ids
    assert spiral_project.batch_images(batch) == [known.id, *new_ids]
    assert classes_of(spiral_project, "ada") == {known.id: "spiral", new_ids[0]: "spiral", new_ids[1]: "spiral"}
    assert classes_of(spiral_project, "import") == {new_ids[0]: "non-spiral"}, "an item's own label comes along"
    spiral_project.undo_batch(batch)
    assert spiral_project.labels("ada") == {}
    assert len(spiral_project.images()) == 8, "taking back labels keeps the images"


def test_add_and_label_refuses_a_file_it_cannot_add_and_writes_nothing(tmp_path: Path, spiral_project: Project) -> None:
    good = write_pngs(tmp_path / "new", 1, seed=9)[0]
    with pytest.raises(ProjectError, match="gone.png: file not found; nothing was labelled"):
        spiral_project.add_and_label(
            [CatalogItem(str(good)), CatalogItem(str(tmp_path / "gone.png"))], "spiral", labeller="ada"
        )
    assert len(spiral_project.images()) == 6 and spiral_project.labels() == {}


def record(labeller: str, class_name: str, source: str = "human", timestamp: float = 1.0) -> LabelRecord:
    return LabelRecord(1, class_name, labeller, timestamp, source, None)


def test_the_label_that_counts_is_mine_then_the_consensus_and_never_a_model_guess_as_truth() -> None:
    ada, bob, cy = record("ada", "spiral"), record("bob", "bar", timestamp=2.0), record("cy", "bar", timestamp=3.0)
    assert counted_label([ada, bob, cy]) == cy, "the majority of people"
    assert counted_label([ada, bob, cy], labeller="ada") == ada, "my own label first"
    assert counted_label([ada, bob, cy], labeller="dee") == cy
    guess = record("net", "ring", source="model")
    imported = record("import", "bar", source="import", timestamp=0.5)
    assert counted_label([guess]) is None, "a model's guess is not ground truth"
    assert counted_label([guess], model_labels_count=True) == guess, "but the Library shows it"
    assert counted_label([guess], labeller="net") is None
    assert counted_label([guess], labeller="net", model_labels_count=True) == guess
    assert counted_label([imported, guess]) is None, "the latest of import and model wins, and it is a guess"
    assert counted_label([imported, guess, ada]) == ada, "a person outranks both"
    assert counted_label([]) is None


def test_counted_labels_apply_the_rule_to_every_image(spiral_project: Project) -> None:
    a, b, c = ids(spiral_project)[:3]
    spiral_project.label(a, "spiral", labeller="ada")
    spiral_project.label(a, "non-spiral", labeller="bob")
    spiral_project.label(b, "spiral", labeller="net", source="model", confidence=0.9)
    spiral_project.label(c, "non-spiral", labeller="import", source="import")
    assert {i: r.class_name for i, r in spiral_project.counted_labels().items()} == {a: "non-spiral", c: "non-spiral"}
    assert {i: r.class_name for i, r in spiral_project.counted_labels("ada").items()} == {a: "spiral", c: "non-spiral"}
    shown = spiral_project.counted_labels("ada", model_labels_count=True)
    assert {i: r.class_name for i, r in shown.items()} == {a: "spiral", b: "spiral", c: "non-spiral"}


def version_2_file(path: Path, images: Path) -> None:
    """A project as version 2 wrote it: no batches table, no batch column, undone = 1."""
    with Project.create(path, BUILTIN_SCHEMES["spiral"]) as project:
        project.add_paths([images])
        first, second = ids(project)[:2]
        project.label(first, "spiral", labeller="ada")
        project.label(second, "spiral", labeller="ada")
        project.undo("ada")
    db = sqlite3.connect(path)
    db.execute("UPDATE history SET undone = 1 WHERE undone > 0")
    db.execute("DROP INDEX history_by_batch")
    db.execute("ALTER TABLE history DROP COLUMN batch_id")
    db.execute("DROP TABLE batches")
    db.execute("DROP TABLE class_aliases")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()


def test_a_version_2_file_upgrades_and_keeps_its_history(tmp_path: Path) -> None:
    write_pngs(tmp_path / "images", 4)
    path = tmp_path / "old.gsproj"
    version_2_file(path, tmp_path / "images")
    with Project.open(path) as project:
        first, second, third = ids(project)[:3]
        assert project._db.execute("PRAGMA user_version").fetchone()[0] == schema.schema_version()
        assert project.redo("ada") == second, "the redo stack of the old file still works"
        batch = project.label_many([third], "non-spiral", labeller="ada")
        assert project.undo_batch(batch).image_ids == (third,)
        assert classes_of(project, "ada") == {first: "spiral", second: "spiral"}


def test_a_read_only_version_2_file_is_read_without_batches(tmp_path: Path) -> None:
    write_pngs(tmp_path / "images", 4)
    path = tmp_path / "old.gsproj"
    version_2_file(path, tmp_path / "images")
    path.chmod(0o444)
    try:
        with Project.open(path) as project:
            assert project.read_only and len(project.labels("ada")) == 1
            with pytest.raises(ProjectError, match="read-only"):
                project.label_many(ids(project)[:1], "spiral", labeller="ada")
    finally:
        path.chmod(0o644)
