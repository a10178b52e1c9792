"""One class, one colour and key: outside spellings share their class's style, colours stay
when classes are added, and the ten first colours stay apart for colour-blind eyes."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from galaxy_studio.labels.class_styles import DARK_INK, LIGHT_INK, ClassPalette, ClassStyle, relative_luminance
from galaxy_studio.labels.schemes import GZ2_9_CLASSES, ClassScheme, class_colour
from galaxy_studio.labels.session import LabellingSession

# Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB.
CVD_SIMULATIONS = {
    "normal": np.eye(3),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]
    ),
}
_RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def lab_as_seen(colour: tuple[int, int, int], simulation: np.ndarray) -> np.ndarray:
    """CIELAB of a colour as a viewer with the simulated vision sees it."""
    srgb = np.asarray(colour, dtype=float) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    x, y, z = _RGB_TO_XYZ @ np.clip(simulation @ linear, 0, 1) / _WHITE

    def f(t: float) -> float:
        return float(np.cbrt(t)) if t > 0.008856 else 7.787 * t + 16 / 116

    return np.array([116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))])


def closest_pair(colours: list[tuple[int, int, int]], simulation: np.ndarray) -> float:
    seen = [lab_as_seen(colour, simulation) for colour in colours]
    return min(float(np.linalg.norm(a - b)) for a, b in combinations(seen, 2))


def test_ten_class_colours_stay_apart_under_each_colour_blindness() -> None:
    """The colours before this palette put orange next to lime: 3.6 apart for deuteranopes,
    the same colour to them. Now any two of the ten are at least 9.5 apart in CIELAB."""
    colours = [class_colour(i) for i in range(10)]
    for vision, simulation in CVD_SIMULATIONS.items():
        assert closest_pair(colours, simulation) >= 9.5, vision


def test_a_class_has_the_colour_and_key_of_its_position() -> None:
    palette = ClassPalette(("spiral", "non-spiral"))
    assert palette.style("spiral") == ClassStyle("spiral", "1", class_colour(0))
    assert palette.style("non-spiral") == ClassStyle("non-spiral", "2", class_colour(1))
    assert palette.style("spiral").hex == "#{:02x}{:02x}{:02x}".format(*class_colour(0))
    assert palette.style("spiral").caption == "1  spiral"


def test_other_spellings_of_a_class_share_its_style() -> None:
    palette = ClassPalette(("spiral", "non-spiral"))
    assert palette.style("spirals") == palette.style("Spiral") == palette.style("spiral")
    assert palette.style("non_spirals") == palette.style("not_spiral") == palette.style("non-spiral")
    assert palette.class_of("spirals") == "spiral"
    assert palette.class_of("elliptical") is None


def test_names_outside_the_scheme_get_the_colours_after_it_and_keep_them() -> None:
    palette = ClassPalette(("spiral", "non-spiral"))
    merger = palette.style("merger")
    artefact = palette.style("artefact")
    assert (merger.key, merger.colour) == (None, class_colour(2))
    assert artefact.colour == class_colour(3)
    assert palette.style("merger") == merger


def test_adding_a_class_keeps_every_other_colour_and_key() -> None:
    before = ClassPalette(GZ2_9_CLASSES[:5]).styles(GZ2_9_CLASSES[:5])
    after = ClassPalette(GZ2_9_CLASSES).styles(GZ2_9_CLASSES)
    assert after[:5] == before
    assert len({style.colour for style in after}) == len(after)
    assert [style.key for style in after] == ["1", "2", "3", "4", "5", "6", "7", "8", "9"]


def test_the_session_colours_by_the_data_before_a_project_and_by_the_project_after(tmp_path: Path) -> None:
    session = LabellingSession("ada")
    session.set_data_classes(["non_spirals", "spirals"])
    assert session.class_style("spirals") == ClassStyle("spirals", "2", class_colour(1))
    session.create(tmp_path / "p.gsproj", ClassScheme("spiral", ("spiral", "non-spiral")))
    assert session.class_style("spirals") == ClassStyle("spiral", "1", class_colour(0))
    assert [style.name for style in session.class_styles(["non_spirals", "spirals"])] == ["non-spiral", "spiral"]
    session.add_class("merger")
    assert session.class_style("mergers") == ClassStyle("merger", "3", class_colour(2))
    assert session.class_style("spiral").colour == class_colour(0)
    session.close()
    assert session.class_style("spirals").colour == class_colour(1)


def test_a_key_on_a_class_colour_is_written_in_the_ink_that_reads_best() -> None:
    """Seen: mid orange (230, 159, 0) has an HSL lightness under 140, so its badge key was
    white, at a contrast of 2.3; near-black on it reaches 8.4."""
    for position in range(20):
        style = ClassStyle("c", None, class_colour(position))
        low, high = sorted((relative_luminance(style.colour), relative_luminance(style.ink)))
        assert (high + 0.05) / (low + 0.05) >= 4.5, style.colour
    assert ClassStyle("c", None, (230, 159, 0)).ink == DARK_INK
    assert ClassStyle("c", None, (0, 0, 128)).ink == LIGHT_INK
