"""The `galaxy-studio project ...` commands: outputs, exit codes and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from galaxy_studio.cli import main
from galaxy_studio.labels import backups
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project

from .conftest import write_pngs


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "galaxy_studio", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, GALAXY_STUDIO_LABELLER="script"),
    )


def error_line(err: str) -> str:
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert line.startswith("galaxy-studio: error: ") and "Traceback" not in err
    return line


def test_new_add_label_stats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = str(tmp_path / "p.gsproj")
    files = write_pngs(tmp_path / "images", 3)
    assert main(["project", "new", project, "--scheme", "gz2-9"]) == 0
    assert "9 classes" in capsys.readouterr().out
    assert main(["project", "add", project, str(tmp_path / "images")]) == 0
    assert "added 3 images" in capsys.readouterr().out
    monkeypatch.setenv("GALAXY_STUDIO_LABELLER", "ada")
    assert main(["project", "label", project, str(files[0]), "Barred Spiral"]) == 0
    assert main(["project", "label", project, str(files[0]), "Smooth Round", "--labeller", "bob"]) == 0
    assert main(["project", "label", project, str(files[1]), "Smooth Round"]) == 0
    assert "labelled" in capsys.readouterr().out
    assert main(["project", "stats", project, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["images"] == 3 and stats["labelled"] == 2 and stats["scheme"] == "gz2-9"
    assert stats["per_class"]["Smooth Round"] == 2 and stats["per_class"]["Barred Spiral"] == 0
    assert stats["labellers"] == {"ada": 2, "bob": 1}
    assert stats["disagreements"] == 1 and stats["agreement"] == 0.0
    assert main(["project", "stats", project]) == 0
    text = capsys.readouterr().out
    assert "labelled       2 (66.7%)" in text and "ada 2, bob 1" in text and "disagreements  1" in text


def test_stats_count_the_suggestions_still_waiting_for_a_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from galaxy_studio.labels.store import Suggestion

    project = tmp_path / "p.gsproj"
    files = write_pngs(tmp_path / "images", 3)
    main(["project", "new", str(project), "--scheme", "spiral"])
    main(["project", "add", str(project), str(tmp_path / "images")])
    main(["project", "stats", str(project)])
    assert "suggestions    none (project suggest" in capsys.readouterr().out
    with Project.open(project) as opened:
        ids = [opened.image_id(path) for path in files]
        opened.store_suggestions([Suggestion(image_id, "spiral", "run-7", 0.6, 0.67) for image_id in ids])
    monkeypatch.setenv("GALAXY_STUDIO_LABELLER", "ada")
    main(["project", "label", str(project), str(files[0]), "non-spiral"])
    capsys.readouterr()
    assert main(["project", "stats", str(project)]) == 0
    assert "suggestions    2 waiting for a label, 1 labelled since (from run-7)" in capsys.readouterr().out
    assert main(["project", "stats", str(project), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["suggestions"]
    assert counts == {"waiting": 2, "labelled_since": 1, "sources": ["run-7"]}


def test_label_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = str(tmp_path / "p.gsproj")
    files = write_pngs(tmp_path / "images", 2)
    main(["project", "new", project, "--scheme", "spiral"])
    main(["project", "add", project, str(files[0])])
    capsys.readouterr()
    cases = [
        (["label", project, str(files[0]), "Spiral"], "unknown class 'Spiral'; the classes are: spiral, non-spiral"),
        (["label", project, str(tmp_path / "gone.png"), "spiral"], "gone.png: no such file"),
        (["label", project, str(files[1]), "spiral"], "galaxy0001.png: not an image of"),
        (["new", project, "--scheme", "spiral"], "p.gsproj: already exists"),
        (["new", str(tmp_path / "q.gsproj"), "--scheme", "nine"], "nine: is neither a built-in scheme"),
    ]
    for args, message in cases:
        assert main(["project", *args]) == 1
        assert message in error_line(capsys.readouterr().err)
    with Project.open(Path(project)) as opened:
        assert opened.all_labels() == []


def test_label_exits_0_once_the_label_is_on_disk(tmp_path: Path) -> None:
    project = tmp_path / "p.gsproj"
    (image,) = write_pngs(tmp_path / "images", 1)
    with Project.create(project, BUILTIN_SCHEMES["spiral"]) as created:
        created.add_paths([image])
    unknown = run("project", "label", str(project), str(image), "bar")
    assert unknown.returncode == 1 and "unknown class 'bar'" in error_line(unknown.stderr)
    done = run("project", "label", str(project), str(image), "spiral")
    assert done.returncode == 0 and "(labeller script)" in done.stdout
    with Project.open(project) as opened:
        (label,) = opened.all_labels()
        assert (label.class_name, label.labeller, label.source) == ("spiral", "script", "human")


def test_add_reports_paths_that_cannot_be_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = str(tmp_path / "p.gsproj")
    files = write_pngs(tmp_path / "images", 2)
    main(["project", "new", project, "--scheme", "spiral"])
    assert main(["project", "add", project, str(files[0]), str(tmp_path / "gone.png")]) == 1
    captured = capsys.readouterr()
    assert "added 1 image to " in captured.out
    assert f"galaxy-studio: error: {tmp_path / 'gone.png'}: file not found" in captured.err


def test_import_and_export_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pngs(tmp_path / "set" / "spirals", 2, seed=1)
    write_pngs(tmp_path / "set" / "non_spirals", 3, seed=2)
    project = str(tmp_path / "p.gsproj")
    main(["project", "new", project, "--scheme", "spiral"])
    assert main(["project", "import", project, str(tmp_path / "set")]) == 0
    out = capsys.readouterr().out
    assert "import folders: 5 labels, 5 new images" in out
    assert "5 labels taken (5 mapped: " in out and "spirals -> spiral" in out and "non_spirals -> non-spiral" in out
    for fmt, out in (("csv", "l.csv"), ("json", "l.json"), ("folders", "dirs"), ("galaxy10", "l.h5")):
        assert main(["project", "export", project, "--format", fmt, str(tmp_path / out)]) == 0
        assert f"export {fmt}: 5 labels" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "l.csv")))
    assert sorted(row["class"] for row in rows) == ["non-spiral"] * 3 + ["spiral"] * 2
    for fmt, source in (("csv", "l.csv"), ("json", "l.json"), ("folders", "dirs"), ("galaxy10", "l.h5")):
        copy = str(tmp_path / f"copy-{fmt}.gsproj")
        main(["project", "new", copy, "--scheme", "spiral"])
        assert main(["project", "import", copy, str(tmp_path / source)]) == 0
        capsys.readouterr()
        main(["project", "stats", copy, "--json"])
        assert json.loads(capsys.readouterr().out)["per_class"] == {"spiral": 2, "non-spiral": 3}, fmt


def test_import_refuses_a_class_it_cannot_match_and_takes_several_pairs_in_one_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's `--map A=B C=D` (one flag, several pairs) was refused; a folder whose name
    is no project class in any spelling still stops the import, with nothing imported."""
    write_pngs(tmp_path / "set" / "blobs", 2, seed=1)
    write_pngs(tmp_path / "set" / "streaks", 3, seed=2)
    project = str(tmp_path / "p.gsproj")
    main(["project", "new", project, "--scheme", "spiral"])
    assert main(["project", "import", project, str(tmp_path / "set")]) == 1
    assert "folder names not in the project: 'streaks' (3x), 'blobs' (2x)" in capsys.readouterr().err
    main(["project", "stats", project, "--json"])
    assert json.loads(capsys.readouterr().out)["per_class"] == {"spiral": 0, "non-spiral": 0}, "nothing imported"
    argv = ["project", "import", project, str(tmp_path / "set"), "--map", "blobs=spiral", "streaks=non-spiral"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "5 labels taken (5 mapped: blobs -> spiral, streaks -> non-spiral), 0 unmapped, 0 skipped" in out
    assert "remembered 2 class mappings" in out
    main(["project", "stats", project, "--json"])
    assert json.loads(capsys.readouterr().out)["per_class"] == {"spiral": 2, "non-spiral": 3}


def test_import_gz_votes_from_the_command_line(
    tmp_path: Path, label_samples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = str(tmp_path / "p.gsproj")
    main(["project", "new", project, "--scheme", "spiral"])
    table = str(label_samples / "gz-challenge" / "training_solutions_rev1.csv")
    assert main(["project", "import", project, table, "--format", "gz-votes"]) == 1
    assert "needs at least one --answer" in capsys.readouterr().err
    assert main(["project", "import", project, table, "--answer", "Class1.1"]) == 1
    assert "--answer expects NAME=CLASS" in capsys.readouterr().err
    assert (
        main(
            [
                "project",
                "import",
                project,
                table,
                "--answer",
                "Class1.1=non-spiral",
                "--answer",
                "Class1.2=spiral",
                "--threshold",
                "0.7",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "import gz-votes: 1 label, 1 new image, 2 skipped" in captured.out
    assert captured.err.count("below the threshold 0.7") == 2


def test_a_damaged_project_is_restored_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backups, "BACKUP_INTERVAL_S", 0.0)
    project = tmp_path / "p.gsproj"
    write_pngs(tmp_path / "images", 2)
    main(["project", "new", str(project), "--scheme", "spiral"])
    main(["project", "add", str(project), str(tmp_path / "images")])
    main(["project", "stats", str(project)])
    project.write_bytes(b"garbage" * 100)
    capsys.readouterr()
    assert main(["project", "stats", str(project)]) == 1
    err = capsys.readouterr().err
    assert "not an SQLite database" in err and "2 automatic backups" in err and "project restore" in err
    assert main(["project", "restore", str(project)]) == 0
    assert "the previous file was kept as" in capsys.readouterr().out
    assert main(["project", "stats", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 2


def test_relink_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = str(tmp_path / "work" / "p.gsproj")
    write_pngs(tmp_path / "work" / "images", 2)
    main(["project", "new", project, "--scheme", "spiral"])
    main(["project", "add", project, str(tmp_path / "work" / "images")])
    (tmp_path / "work" / "images").rename(tmp_path / "moved")
    capsys.readouterr()
    assert main(["project", "relink", project]) == 1
    captured = capsys.readouterr()
    assert "relinked 0 images; 2 still missing" in captured.out and "2 images not found" in captured.err
    assert main(["project", "relink", project, str(tmp_path / "moved")]) == 0
    assert "relinked 2 images; 0 still missing" in capsys.readouterr().out
