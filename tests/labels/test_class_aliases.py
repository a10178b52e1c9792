"""The class mapping stored in the project: aliases that outlive one import, "skip" that is
counted, lookups in the documented order, and older files that still open."""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from galaxy_studio.cli import main
from galaxy_studio.labels import exchange, schema
from galaxy_studio.labels.class_mapping import SKIP, LabelCounts, map_class_names
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.folder_scheme import folder_classes
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project

from .conftest import write_pngs


def class_folders(root: Path, counts: dict[str, int]) -> Path:
    for seed, (name, count) in enumerate(counts.items()):
        write_pngs(root / name, count, seed=seed + 1, prefix=name)
    return root


def test_lookup_order_is_explicit_same_name_stored_then_automatic() -> None:
    classes = ["spiral", "non-spiral", "merger"]
    stored = {"spirals": "non-spiral", "blob": "merger", "junk": SKIP, "spiral": "merger", "gone": "renamed"}
    mapping = map_class_names(
        ["spirals", "blob", "junk", "spiral", "Mergers", "gone", "odd"], classes, {"blob": "spiral"}, stored
    )
    assert mapping.mapped == {"spirals": "non-spiral", "blob": "spiral", "Mergers": "merger"}
    assert mapping.remembered == {"spirals": "non-spiral", "junk": SKIP}
    assert mapping.proposed == {"Mergers": "merger"}
    assert mapping.skipped == ["junk"]
    assert mapping.unmapped == ["gone", "odd"], "an alias to a class no longer there is no mapping"
    assert mapping.needs_confirmation


def test_counts_say_what_became_of_every_label() -> None:
    mapping = map_class_names(["spirals", "spiral", "junk", "odd"], ["spiral"], {"junk": SKIP})
    counts = LabelCounts.tally(["spirals"] * 3 + ["spiral"] * 2 + ["junk"] * 4 + ["odd"], mapping, ["spiral"])
    assert (counts.taken, counts.mapped, counts.unmapped, counts.skipped) == (5, 3, 1, 4)
    assert counts.describe() == "5 labels taken (3 mapped: spirals -> spiral), 1 unmapped (odd 1), 4 skipped (junk 4)"
    assert not map_class_names(["spiral"], ["spiral"]).needs_confirmation


def test_aliases_are_stored_refused_when_wrong_forgotten_and_follow_a_rename(tmp_path: Path) -> None:
    path = tmp_path / "p.gsproj"
    with Project.create(path, BUILTIN_SCHEMES["spiral"]) as project:
        project.set_class_aliases({"Sp": "spiral", "junk": SKIP})
        with pytest.raises(ProjectError, match="unknown class 'nope'"):
            project.set_class_aliases({"x": "nope"})
        with pytest.raises(ProjectError, match="needs no alias"):
            project.set_class_aliases({"spiral": "non-spiral"})
        project.rename_class("spiral", "Spiral")
    with Project.open(path) as project:
        assert project.class_aliases() == {"Sp": "Spiral", "junk": SKIP}
        project.merge_classes(["Spiral"], "non-spiral")
        assert project.class_aliases() == {"Sp": "non-spiral", "junk": SKIP}
        assert project.forget_class_aliases(["Sp", "never"]) == 1
        assert project.class_aliases() == {"junk": SKIP}


def test_a_stored_alias_maps_the_next_folder_and_skip_is_counted_not_lost(tmp_path: Path) -> None:
    """Seen before: a folder name that matched no class was added without its labels and only
    a note said so; now a confirmed mapping is remembered and "skip" is counted as skipped."""
    root = class_folders(tmp_path / "set", {"twirls": 3, "plain": 2, "junk": 1})
    with Project.create(tmp_path / "p.gsproj", BUILTIN_SCHEMES["spiral"]) as project:
        project.set_class_aliases({"twirls": "spiral", "plain": "non-spiral", "junk": SKIP})
        result = project.add_paths([root])
        counted = Counter(label.class_name for label in project.labels().values())
    assert result.added == 6
    assert counted == {"spiral": 3, "non-spiral": 2}
    assert (result.counts.taken, result.counts.mapped, result.counts.skipped, result.counts.unmapped) == (5, 5, 1, 0)
    assert ("junk", "1 image added without their label 'junk': mapped to skip") in result.skipped


def test_import_takes_stored_aliases_and_skips_what_the_user_skips(tmp_path: Path) -> None:
    root = class_folders(tmp_path / "set", {"twirls": 2, "junk": 3, "non_spirals": 1})
    with Project.create(tmp_path / "p.gsproj", BUILTIN_SCHEMES["spiral"]) as project:
        project.set_class_aliases({"twirls": "spiral"})
        report = exchange.import_folders(project, root, renames={"junk": SKIP})
    assert report.labels == 3
    assert report.counts is not None
    assert report.counts.describe() == (
        "3 labels taken (3 mapped: non_spirals -> non-spiral, twirls -> spiral), 0 unmapped, 3 skipped (junk 3)"
    )


def test_a_read_only_version_3_file_still_opens_without_aliases(tmp_path: Path) -> None:
    path = tmp_path / "old.gsproj"
    write_pngs(tmp_path / "images", 2)
    with Project.create(path, BUILTIN_SCHEMES["spiral"]) as project:
        project.add_paths([tmp_path / "images"])
    db = sqlite3.connect(path)
    db.execute("DROP TABLE class_aliases")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    os.chmod(path, 0o444)
    try:
        with Project.open(path) as project:
            assert project.read_only and project.class_aliases() == {}
            assert project.image_count() == 2
    finally:
        os.chmod(path, 0o644)
    with Project.open(path) as project:
        assert project._db.execute("PRAGMA user_version").fetchone()[0] == schema.schema_version() == 4
        project.set_class_aliases({"spirals": "spiral"})
        assert project.class_aliases() == {"spirals": "spiral"}


def test_folder_names_become_a_scheme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = class_folders(tmp_path / "train", {"spirals": 2, "non_spirals": 3})
    assert folder_classes(root) == ["non_spirals", "spirals"]
    assert folder_classes(root / "spirals") == [], "a folder of images alone is no class layout"
    project = str(tmp_path / "p.gsproj")
    assert main(["project", "new", project, "--scheme", str(root)]) == 0
    assert "scheme train, 2 classes (non_spirals, spirals)" in capsys.readouterr().out
    assert main(["project", "add", project, str(root)]) == 0
    out = capsys.readouterr().out
    assert "labels: 5 labels taken, 0 unmapped, 0 skipped" in out, "same names need no mapping"


def test_cli_map_forms_counts_and_the_mapping_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = class_folders(tmp_path / "set", {"twirls": 2, "blobs": 3, "junk": 1})
    project = str(tmp_path / "p.gsproj")
    main(["project", "new", project, "--scheme", "spiral"])
    argv = ["project", "add", project, str(root), "--map", "twirls=spiral", "--map", "blobs=non-spiral"]
    assert main([*argv, "--skip", "junk"]) == 0
    out = capsys.readouterr().out
    assert "added 6 images" in out
    assert (
        "labels: 5 labels taken (5 mapped: blobs -> non-spiral, twirls -> spiral), 0 unmapped, 1 skipped (junk 1)"
        in out
    )
    assert "remembered 3 class mappings" in out
    assert main(["project", "mapping", project, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["aliases"] == {"blobs": "non-spiral", "junk": "", "twirls": "spiral"}
    assert main(["project", "mapping", project, "--forget", "junk", "--map", "streaks=spiral", "blobs=spiral"]) == 0
    out = capsys.readouterr().out
    assert "forgot 1 mapping" in out and "streaks  -> spiral" in out and "junk" not in out
    assert main(["project", "mapping", project, "--map", "x=nope"]) == 1
    assert "unknown class 'nope'" in capsys.readouterr().err
    write_pngs(tmp_path / "csvimg", 2, seed=9)
    (tmp_path / "l.csv").write_text(
        "path,class\n" + "".join(f"{p},streaks\n" for p in sorted((tmp_path / "csvimg").iterdir()))
    )
    assert main(["project", "import", project, str(tmp_path / "l.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["taken"] == 2 and report["counts"]["mapped_names"] == {"streaks": "spiral"}
