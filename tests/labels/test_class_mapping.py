"""Outside class names read as a project's classes: only where exactly one class matches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from galaxy_studio.labels.class_mapping import map_class_names, name_key
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.store import Project

from .conftest import write_pngs


def test_case_separators_and_plurals_are_set_aside() -> None:
    assert name_key("Non_Spirals") == name_key("non-spiral") == "non spiral"
    assert name_key("Edge-on  with Bulge") == "edge on with bulge"
    assert name_key("glass") == "glass", "a double s is no plural"
    assert name_key("Mergers") == name_key("merging")


def test_folder_names_meet_the_spiral_scheme() -> None:
    mapping = map_class_names(["spirals", "non_spirals", "spirals"], ["spiral", "non-spiral"])
    assert mapping.mapped == {"spirals": "spiral", "non_spirals": "non-spiral"}
    assert mapping.proposed == mapping.mapped and mapping.unmapped == []
    assert mapping.class_of("spirals") == "spiral" and mapping.class_of("spiral") == "spiral"


def test_the_users_mapping_wins_and_ambiguity_is_left_to_the_user() -> None:
    mapping = map_class_names(["Spiral", "smooth", "blob"], ["spiral", "SPIRAL", "Smooth"], {"blob": "Smooth"})
    assert mapping.mapped == {"smooth": "Smooth", "blob": "Smooth"}
    assert mapping.proposed == {"smooth": "Smooth"}
    assert mapping.unmapped == ["Spiral"], "two classes share its key: no guess"


def test_adding_a_class_folder_keeps_the_labels_it_can_read_and_names_the_rest(tmp_path: Path) -> None:
    """Seen: adding a `spirals/ non_spirals/` folder to a spiral-scheme project imported 0 of
    1,400 folder labels without a word."""
    write_pngs(tmp_path / "set" / "spirals", 2, seed=1)
    write_pngs(tmp_path / "set" / "non_spirals", 3, seed=2)
    write_pngs(tmp_path / "set" / "blobs", 1, seed=3)
    with Project.create(tmp_path / "p.gsproj", BUILTIN_SCHEMES["spiral"]) as project:
        result = project.add_paths([tmp_path / "set"])
        counted = Counter(label.class_name for label in project.labels(None).values())
    added, notes = result.added, result.skipped
    assert added == 6
    assert result.counts.describe() == (
        "5 labels taken (5 mapped: non_spirals -> non-spiral, spirals -> spiral), 1 unmapped (blobs 1), 0 skipped"
    )
    assert counted == {"spiral": 2, "non-spiral": 3}
    assert notes == [("blobs", "1 image added without their label 'blobs': it matches no class of the project")]
