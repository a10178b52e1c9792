"""Active learning: `project suggest` stores the model's guesses for unlabelled images, and
ordering by uncertainty puts the highest-entropy image first; accepting one is a label."""

from __future__ import annotations

from pathlib import Path

import pytest

from galaxy_studio.cli import main
from galaxy_studio.labels.schemes import ClassScheme
from galaxy_studio.labels.store import Project, Suggestion
from galaxy_studio.model.training import TrainResult

from .conftest import DEMO_CLASSES


def make_project(path: Path, demo_set: Path, classes: tuple[str, ...] = DEMO_CLASSES) -> list[Path]:
    files = sorted(demo_set.rglob("*.jpg"))[::6]
    with Project.create(path, ClassScheme("demo", classes)) as project:
        project.add_paths([str(f) for f in files])
        project.label(project.image_id(files[0]), DEMO_CLASSES[0], labeller="ada")
    return files


def test_project_suggest_stores_suggestions_and_orders_by_uncertainty(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.gsproj"
    files = make_project(path, demo_set)
    assert main(["project", "suggest", str(path), trained_run.run_dir, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"stored {len(files) - 1} suggestions" in out
    with Project.open(path) as project:
        suggestions = project.suggestions()
        order = project.most_uncertain_first()
        labelled = project.image_id(files[0])
        stats = project.stats()
    assert labelled not in suggestions and len(suggestions) == len(files) - 1, "only unlabelled images"
    assert stats.labelled == 1, "suggestions are not labels"
    highest = max(suggestions.values(), key=lambda s: s.entropy)
    assert order[0] == highest.image_id
    entropies = [suggestions[i].entropy for i in order if i in suggestions]
    assert entropies == sorted(entropies, reverse=True)
    assert order[-1] == labelled, "images without a suggestion come last"
    listed = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(listed) == min(10, len(files) - 1)
    assert float(listed[0].split()[0]) == pytest.approx(highest.entropy, abs=1e-4)
    assert {s.source for s in suggestions.values()} == {Path(trained_run.run_dir).name}


def test_suggest_refuses_a_model_whose_classes_the_project_lacks(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "q.gsproj"
    make_project(path, demo_set, classes=("spiral", "non-spiral", DEMO_CLASSES[0]))
    assert main(["project", "suggest", str(path), trained_run.checkpoint, "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "are not classes of" in err and "Traceback" not in err
    with Project.open(path) as project:
        assert project.suggestions() == {}


def test_suggestions_survive_a_class_merge_and_a_newer_one_replaces_the_older(demo_set: Path, tmp_path: Path) -> None:
    path = tmp_path / "r.gsproj"
    make_project(path, demo_set)
    with Project.open(path) as project:
        image = project.images()[1].id
        project.store_suggestions([Suggestion(image, DEMO_CLASSES[1], "run-a", 0.6, 0.9)])
        project.store_suggestions([Suggestion(image, DEMO_CLASSES[2], "run-b", 0.7, 0.8)])
        assert project.suggestions()[image].source == "run-b"
        project.merge_classes([DEMO_CLASSES[2]], DEMO_CLASSES[1])
        assert project.suggestions()[image].class_name == DEMO_CLASSES[1]


def test_a_read_only_project_of_the_older_format_is_still_read(demo_set: Path, tmp_path: Path) -> None:
    """Version 1 files have no suggestions table; one that cannot be upgraded (read-only)
    still opens for reading, e.g. to train on, and simply has no suggestions."""
    import os
    import sqlite3

    from galaxy_studio.model.datasets import load_labelled_data

    path = tmp_path / "old.gsproj"
    files = make_project(path, demo_set)
    with Project.open(path) as project:
        project.label(project.image_id(files[1]), DEMO_CLASSES[1], labeller="ada")
    db = sqlite3.connect(path)
    db.execute("DROP TABLE suggestions")
    db.execute("DROP INDEX history_by_batch")
    db.execute("ALTER TABLE history DROP COLUMN batch_id")
    db.execute("DROP TABLE batches")
    db.execute("DROP TABLE class_aliases")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    os.chmod(path, 0o444)
    with Project.open(path) as project:
        assert project.read_only and project.suggestions() == {}
        assert project.most_uncertain_first() == [record.id for record in project.images()]
        assert any("older project format" in warning for warning in project.warnings)
    assert len(load_labelled_data(path)) == 2
    os.chmod(path, 0o644)
    with Project.open(path) as project:
        assert not project.read_only and project.suggestions() == {}
        project.store_suggestions([Suggestion(project.images()[2].id, DEMO_CLASSES[0], "run", 0.9, 0.1)])


def test_suggest_reads_the_models_classes_as_the_projects_spelling(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen: a model trained on `spirals/ non_spirals/` could not suggest for a project with
    `spiral, non-spiral`. Names that differ only in case, separators or a plural are one class."""
    path = tmp_path / "r.gsproj"
    respelled = tuple(name.upper().replace(" ", "_") + "s" for name in DEMO_CLASSES)
    with Project.create(path, ClassScheme("respelled", respelled)) as project:
        project.add_paths([str(f) for f in sorted(demo_set.rglob("*.jpg"))[::6]])
    assert main(["project", "suggest", str(path), trained_run.checkpoint, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    read = next(line for line in out.splitlines() if line.startswith("suggestions: "))
    assert all(f"{name} -> {spelled}" in read for name, spelled in zip(DEMO_CLASSES, respelled)), read
    assert read.endswith(", 0 unmapped, 0 skipped"), read
    with Project.open(path) as project:
        assert project.suggestions() and {s.class_name for s in project.suggestions().values()} <= set(respelled)


def test_suggest_takes_map_and_skip_counts_them_and_remembers(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model class no rule can match refused the whole run; `--map` settles it, `--skip`
    leaves a class's suggestions out, and the output counts both."""
    path = tmp_path / "m.gsproj"
    smooth, edge_on, spiral = DEMO_CLASSES
    with Project.create(path, ClassScheme("mine", ("roundish", "flat"))) as project:
        project.add_paths([str(f) for f in sorted(demo_set.rglob("*.jpg"))[::6]])
    argv = ["project", "suggest", str(path), trained_run.checkpoint, "--device", "cpu"]
    assert main(argv) == 1
    assert "map them to the project's classes or to skip" in capsys.readouterr().err
    assert main([*argv, "--map", f"{smooth}=roundish", f"{edge_on}=flat", "--skip", spiral]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("suggestions: "))
    stored = int(next(line for line in out.splitlines() if line.startswith("stored ")).split()[1])
    taken = int(line.split()[1])
    skipped = int(line.rsplit(", ", 1)[1].split()[0])
    assert taken == stored and skipped > 0 and f"skipped ({spiral} {skipped})" in line
    with Project.open(path) as project:
        assert {s.class_name for s in project.suggestions().values()} <= {"roundish", "flat"}
        assert project.class_aliases() == {smooth: "roundish", edge_on: "flat", spiral: ""}
    assert main(argv) == 0, "the stored mapping needs no flags the next time"
