"""The project store: images, classes, labels, labellers, undo/redo and figures."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES
from galaxy_studio.data.thumbnails import content_fingerprint
from galaxy_studio.events import Cancelled, CancelToken, Progressed
from galaxy_studio.labels import schema
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES, ClassScheme
from galaxy_studio.labels.store import ImportedLabel, Project, ProjectError

from .conftest import write_pngs


def ids(project: Project) -> list[int]:
    return [image.id for image in project.images()]


def test_create_writes_a_wal_project_with_the_scheme_and_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "g10.gsproj"
    with Project.create(path, BUILTIN_SCHEMES["galaxy10"]) as project:
        assert project.classes == list(GALAXY10_CLASSES)
        assert project.scheme_name == "galaxy10"
        assert project.path == path
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == schema.schema_version()
    db.close()
    with pytest.raises(ProjectError, match="already exists") as caught:
        Project.create(path, BUILTIN_SCHEMES["spiral"])
    assert str(path) in str(caught.value)
    assert not list(tmp_path.glob(".*partial*")), "no half-made project is left behind"


def test_a_scheme_with_a_repeated_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="twice: Spiral"):
        Project.create(tmp_path / "p.gsproj", ClassScheme("mine", ("spiral", "Spiral")))
    assert not (tmp_path / "p.gsproj").exists()


def test_opening_a_file_that_does_not_exist_names_it(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such project file") as caught:
        Project.open(tmp_path / "nope.gsproj")
    assert "nope.gsproj" in str(caught.value)


def test_images_keep_paths_sizes_hashes_in_insertion_order(tmp_path: Path, spiral_project: Project) -> None:
    images = spiral_project.images()
    files = sorted((tmp_path / "images").glob("*.png"))
    assert [image.path for image in images] == [str(path) for path in files]
    assert [image.rel_path for image in images] == [f"images/{path.name}" for path in files]
    assert [image.size for image in images] == [path.stat().st_size for path in files]
    assert [image.content_hash for image in images] == [content_fingerprint(path) for path in files]
    assert all(image.index is None and image.hdu is None and not image.missing for image in images)
    assert images[0].item() == CatalogItem(str(files[0]))
    assert spiral_project.image_id(files[2]) == images[2].id
    assert spiral_project.image_id(tmp_path / "elsewhere.png") is None


def test_adding_again_skips_duplicates_and_reports_missing_files(tmp_path: Path, spiral_project: Project) -> None:
    result = spiral_project.add_paths([tmp_path / "images", tmp_path / "gone.png"])
    added, skipped = result.added, result.skipped
    assert added == 0
    assert skipped == [(str(tmp_path / "gone.png"), "file not found")]
    more = write_pngs(tmp_path / "more", 2, seed=5)
    events: list[object] = []
    assert spiral_project.add_items([CatalogItem(str(p)) for p in more * 2], emit=events.append) == 2
    assert len(spiral_project.images()) == 8
    assert events[-1] == Progressed(2, 2, "Adding images")


def test_adding_can_be_cancelled_and_then_writes_nothing(tmp_path: Path, spiral_project: Project) -> None:
    more = write_pngs(tmp_path / "more", 3, seed=5)
    token = CancelToken()
    token.set()
    with pytest.raises(Cancelled):
        spiral_project.add_items([CatalogItem(str(p)) for p in more], cancel=token)
    assert len(spiral_project.images()) == 6


def test_class_folders_bring_import_labels_for_known_classes_only(tmp_path: Path) -> None:
    write_pngs(tmp_path / "set" / "spiral", 2, seed=1)
    write_pngs(tmp_path / "set" / "non-spiral", 3, seed=2)
    write_pngs(tmp_path / "set" / "artefact", 1, seed=3)
    with Project.create(tmp_path / "p.gsproj", BUILTIN_SCHEMES["spiral"]) as project:
        result = project.add_paths([tmp_path / "set"])
        added, skipped = result.added, result.skipped
        assert added == 6
        assert skipped == [
            ("artefact", "1 image added without their label 'artefact': it matches no class of the project")
        ], "a folder label the project cannot take is said, not dropped silently"
        labels = project.labels()
        assert sorted(label.class_name for label in labels.values()) == ["non-spiral"] * 3 + ["spiral"] * 2
        assert {(label.source, label.labeller) for label in labels.values()} == {("import", "import")}


def test_galaxy10_rows_are_images_with_their_index(tmp_path: Path) -> None:
    h5 = tmp_path / "g10.h5"
    with h5py.File(h5, "w") as handle:
        handle["images"] = np.zeros((4, 8, 8, 3), np.uint8)
        handle["ans"] = np.array([0, 9, 2, 2], np.uint8)
    with Project.create(tmp_path / "p.gsproj", BUILTIN_SCHEMES["galaxy10"]) as project:
        result = project.add_paths([h5])
        assert (result.added, result.skipped, result.counts.taken) == (4, [], 4)
        images = project.images()
        assert [image.index for image in images] == [0, 1, 2, 3]
        assert len({image.content_hash for image in images}) == 1
        assert project.image_id(h5, 1) == images[1].id and project.image_id(h5) is None
        assert [project.labels()[image.id].class_name for image in images] == [
            GALAXY10_CLASSES[0],
            GALAXY10_CLASSES[9],
            GALAXY10_CLASSES[2],
            GALAXY10_CLASSES[2],
        ]
        assert images[1].item() == CatalogItem(str(h5), index=1)


def test_a_label_is_stored_with_its_labeller_time_and_source(spiral_project: Project) -> None:
    first = ids(spiral_project)[0]
    before = time.time()
    spiral_project.label(first, "spiral", labeller="ada")
    spiral_project.label(first, "non-spiral", labeller="model-x", source="model", confidence=0.75)
    (human,) = spiral_project.labels("ada").values()
    assert (human.image_id, human.class_name, human.source, human.confidence) == (first, "spiral", "human", None)
    assert before <= human.timestamp <= time.time()
    model = spiral_project.labels("model-x")[first]
    assert (model.class_name, model.source, model.confidence) == ("non-spiral", "model", 0.75)
    assert [label.labeller for label in spiral_project.labels_for_image(first)] == ["ada", "model-x"]
    assert spiral_project.labellers() == ["ada", "model-x"]


def test_an_unknown_class_names_it_lists_the_classes_and_writes_nothing(spiral_project: Project) -> None:
    first = ids(spiral_project)[0]
    with pytest.raises(ProjectError) as caught:
        spiral_project.label(first, "Spiral", labeller="ada")
    message = str(caught.value)
    assert "'Spiral'" in message and "spiral, non-spiral" in message and "spiral.gsproj" in message
    assert spiral_project.labels() == {}
    assert spiral_project.undo("ada") is None


def test_bad_label_arguments_are_refused(spiral_project: Project) -> None:
    first = ids(spiral_project)[0]
    with pytest.raises(ProjectError, match="no image with id 999"):
        spiral_project.label(999, "spiral", labeller="ada")
    with pytest.raises(ProjectError, match="source 'robot'"):
        spiral_project.label(first, "spiral", labeller="ada", source="robot")
    with pytest.raises(ProjectError, match="labeller name cannot be empty"):
        spiral_project.label(first, "spiral", labeller="  ")
    assert spiral_project.labels() == {}


def test_undo_and_redo_walk_each_labellers_own_history(tmp_path: Path, spiral_project: Project) -> None:
    a, b, c = ids(spiral_project)[:3]
    spiral_project.label(a, "spiral", labeller="ada")
    spiral_project.label(a, "non-spiral", labeller="ada")
    spiral_project.label(b, "spiral", labeller="ada")
    spiral_project.label(c, "spiral", labeller="bob")
    assert spiral_project.undo("ada") == b
    assert spiral_project.undo("ada") == a
    assert {i: label.class_name for i, label in spiral_project.labels("ada").items()} == {a: "spiral"}
    assert spiral_project.labels("bob")[c].class_name == "spiral", "bob's labels are untouched"
    spiral_project.close()

    with Project.open(tmp_path / "spiral.gsproj") as project:
        assert project.redo("ada") == a, "the history is in the file"
        assert project.labels("ada")[a].class_name == "non-spiral"
        assert project.redo("ada") == b
        assert project.redo("ada") is None
        assert project.undo("ada") == b and project.undo("ada") == a and project.undo("ada") == a
        assert project.undo("ada") is None
        assert project.labels("ada") == {}
        project.label(c, "non-spiral", labeller="ada")
        assert project.redo("ada") is None, "a new label empties the redo stack"


def test_clearing_a_label_can_be_undone(spiral_project: Project) -> None:
    first = ids(spiral_project)[0]
    spiral_project.label(first, "spiral", labeller="ada", confidence=0.5)
    spiral_project.clear_label(first, labeller="ada")
    assert spiral_project.labels("ada") == {}
    assert spiral_project.undo("ada") == first
    restored = spiral_project.labels("ada")[first]
    assert (restored.class_name, restored.confidence) == ("spiral", 0.5)


def test_consensus_majority_of_humans_then_latest_then_imports(spiral_project: Project) -> None:
    a, b, c, d = ids(spiral_project)[:4]
    for labeller, cls in (("ada", "spiral"), ("bob", "spiral"), ("cy", "non-spiral")):
        spiral_project.label(a, cls, labeller=labeller)
    spiral_project.label(b, "spiral", labeller="ada")
    spiral_project.label(b, "non-spiral", labeller="bob")
    spiral_project.label(c, "non-spiral", labeller="model", source="model", confidence=0.9)
    spiral_project.label(d, "spiral", labeller="model", source="model")
    spiral_project.label(d, "non-spiral", labeller="ada")
    consensus = spiral_project.labels()
    assert consensus[a].class_name == "spiral", "two humans against one"
    assert consensus[b].class_name == "non-spiral" and consensus[b].labeller == "bob", "a tie goes to the latest"
    assert consensus[c].class_name == "non-spiral" and consensus[c].source == "model", "no human label: the model's"
    assert consensus[d].class_name == "non-spiral", "a human outranks the model"
    assert len(consensus) == 4
    assert spiral_project.disagreements() == {a, b}


def test_stats_count_images_classes_labellers_and_agreement(spiral_project: Project) -> None:
    a, b, c, d, e, _ = ids(spiral_project)
    spiral_project.label(a, "spiral", labeller="ada")
    spiral_project.label(a, "spiral", labeller="bob")
    spiral_project.label(b, "spiral", labeller="ada")
    spiral_project.label(b, "non-spiral", labeller="bob")
    spiral_project.label(c, "non-spiral", labeller="ada")
    spiral_project.label(c, "non-spiral", labeller="bob")
    spiral_project.label(c, "non-spiral", labeller="cy")
    spiral_project.label(d, "spiral", labeller="ada")
    spiral_project.label(e, "non-spiral", labeller="net", source="model", confidence=0.6)
    stats = spiral_project.stats()
    assert stats.images == 6 and stats.labelled == 5
    assert stats.per_class == {"spiral": 2, "non-spiral": 3}
    assert stats.labellers == {"ada": 4, "bob": 3, "cy": 1, "net": 1}
    assert stats.disagreements == 1
    assert stats.multiply_labelled == 3
    assert stats.agreement == pytest.approx(2 / 3)
    assert stats.sources == {"human": 4, "model": 1}
    assert stats.to_json()["per_class"] == {"spiral": 2, "non-spiral": 3}


def test_agreement_is_none_without_two_human_labellers(spiral_project: Project) -> None:
    spiral_project.label(ids(spiral_project)[0], "spiral", labeller="ada")
    stats = spiral_project.stats()
    assert stats.agreement is None and stats.disagreements == 0 and stats.multiply_labelled == 0


def test_class_editing_keeps_and_moves_labels(spiral_project: Project) -> None:
    a, b, c = ids(spiral_project)[:3]
    spiral_project.add_class("merger")
    spiral_project.add_class("edge-on")
    with pytest.raises(ProjectError, match="already a class 'merger'"):
        spiral_project.add_class("Merger")
    spiral_project.label(a, "spiral", labeller="ada")
    spiral_project.label(b, "merger", labeller="ada")
    spiral_project.label(c, "edge-on", labeller="bob")
    spiral_project.rename_class("spiral", "Spiral")
    assert spiral_project.labels("ada")[a].class_name == "Spiral"
    with pytest.raises(ProjectError, match="already a class 'edge-on'"):
        spiral_project.rename_class("merger", "Edge-on")
    assert spiral_project.merge_classes(["merger", "edge-on"], "odd") == 2
    assert spiral_project.classes == ["Spiral", "non-spiral", "odd"]
    assert spiral_project.labels("ada")[b].class_name == "odd" and spiral_project.labels("bob")[c].class_name == "odd"
    assert spiral_project.undo("ada") == b and spiral_project.labels("ada").get(b) is None
    assert spiral_project.redo("ada") == b and spiral_project.labels("ada")[b].class_name == "odd"
    assert spiral_project.merge_classes(["odd"], "non-spiral") == 2
    assert spiral_project.classes == ["Spiral", "non-spiral"]
    spiral_project.reorder_classes(["non-spiral", "Spiral"])
    assert spiral_project.classes == ["non-spiral", "Spiral"]
    with pytest.raises(ProjectError, match="every class once"):
        spiral_project.reorder_classes(["non-spiral"])
    with pytest.raises(ProjectError, match="unknown class 'nope'"):
        spiral_project.merge_classes(["nope"], "Spiral")


def test_import_labels_refuses_unknown_classes_whole(tmp_path: Path, spiral_project: Project) -> None:
    files = sorted((tmp_path / "images").glob("*.png"))
    batch = [
        ImportedLabel(CatalogItem(str(files[0])), "spiral", "cat"),
        ImportedLabel(CatalogItem(str(files[1])), "bar", "cat"),
    ]
    with pytest.raises(ProjectError, match="unknown class 'bar' \\(1 label\\).*nothing was imported"):
        spiral_project.import_labels(batch)
    assert spiral_project.labels() == {}
    added, written, skipped = spiral_project.import_labels(
        [batch[0], ImportedLabel(CatalogItem(str(tmp_path / "gone.png")), "spiral", "cat")]
    )
    assert (added, written) == (0, 1) and skipped == [(str(tmp_path / "gone.png"), "file not found")]


def test_an_import_replaces_that_labellers_history_for_the_image(tmp_path: Path, spiral_project: Project) -> None:
    first_file = sorted((tmp_path / "images").glob("*.png"))[0]
    first = spiral_project.image_id(first_file)
    assert first is not None
    spiral_project.label(first, "spiral", labeller="ada")
    spiral_project.import_labels([ImportedLabel(CatalogItem(str(first_file)), "non-spiral", "ada", timestamp=5.0)])
    assert spiral_project.labels("ada")[first].timestamp == 5.0
    assert spiral_project.undo("ada") is None


def test_listing_20000_images_and_labels_is_fast(tmp_path: Path) -> None:
    with Project.create(tmp_path / "big.gsproj", BUILTIN_SCHEMES["spiral"]) as project:
        db = project._db
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO images (path, rel_path, size, content_hash) VALUES (?, ?, 1, 'x')",
            [(f"/data/g{i:05d}.png", None) for i in range(20_000)],
        )
        db.executemany(
            "INSERT INTO labels VALUES (?, 'ada', 1, 0.0, 'human', NULL)", [(i,) for i in range(1, 20_001, 2)]
        )
        db.execute("COMMIT")
        project.refresh_missing()
        started = time.perf_counter()
        images = project.images()
        labels = project.labels()
        stats = project.stats()
        elapsed = time.perf_counter() - started
    assert len(images) == 20_000 and images[-1].path == "/data/g19999.png" and images[0].missing
    assert len(labels) == 10_000 and stats.per_class == {"spiral": 10_000, "non-spiral": 0}
    assert elapsed < 2.0, f"listing took {elapsed:.2f} s"


def test_hdu_choice_is_stored(spiral_project: Project) -> None:
    first = ids(spiral_project)[0]
    spiral_project.set_hdu(first, "SCI")
    image = spiral_project.image(first)
    assert image is not None and image.hdu == "SCI"
    assert spiral_project.image(12345) is None


def test_several_threads_can_share_a_project(spiral_project: Project) -> None:
    import threading

    image_ids = ids(spiral_project)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for image_id in image_ids:
                spiral_project.label(image_id, "spiral", labeller=name)
                spiral_project.images()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert spiral_project.stats().labellers == {f"t{n}": 6 for n in range(4)}
