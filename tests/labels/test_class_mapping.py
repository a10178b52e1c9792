"""Outside class names read as a project's classes: only where exactly one class matches."""

from __future__ import annotations

from galaxy_studio.labels.class_mapping import map_class_names, name_key


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
