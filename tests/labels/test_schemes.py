"""Class schemes: the built-ins, schemes from CSV files, keys and badge colours."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES, class_colour, class_key, resolve_scheme
from galaxy_studio.labels.store import ProjectError

DARK_UI = (30, 30, 30)


def luminance(rgb: tuple[int, int, int]) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_builtin_schemes() -> None:
    assert BUILTIN_SCHEMES["galaxy10"].classes == GALAXY10_CLASSES
    assert BUILTIN_SCHEMES["spiral"].classes == ("spiral", "non-spiral")
    gz2 = BUILTIN_SCHEMES["gz2-9"].classes
    assert len(gz2) == len(set(gz2)) == 9
    assert sum(name.startswith("Smooth") for name in gz2) == 3
    assert sum(name.startswith("Edge-on") for name in gz2) == 2
    assert sum("Barred" in name for name in gz2) == 2 and sum("Unbarred" in name for name in gz2) == 2
    assert all(resolve_scheme(name) is scheme for name, scheme in BUILTIN_SCHEMES.items())


def test_a_csv_scheme_is_named_after_its_file(tmp_path: Path) -> None:
    (tmp_path / "bars.csv").write_text("class\nstrong bar\n\n weak bar \nno bar\n", encoding="utf-8")
    (tmp_path / "plain.csv").write_text("ring\nlens\n", encoding="utf-8")
    bars = resolve_scheme(str(tmp_path / "bars.csv"))
    assert (bars.name, bars.classes) == ("bars", ("strong bar", "weak bar", "no bar"))
    assert resolve_scheme(str(tmp_path / "plain.csv")).classes == ("ring", "lens")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"name\nSpiral\nspiral\n", "lists a class twice: spiral"),
        (b"class\n", "lists no class names"),
        ("name\nspirale\xe9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_bad_scheme_csv_is_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "scheme.csv"
    path.write_bytes(content)
    with pytest.raises(ProjectError, match=problem):
        resolve_scheme(str(path))


def test_an_unknown_scheme_lists_the_builtins(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="neither a built-in scheme \\(galaxy10, gz2-9, spiral\\)"):
        resolve_scheme("galaxy11")


def test_keys_are_one_to_nine_then_zero() -> None:
    assert [class_key(i) for i in range(11)] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", None]


def test_badge_colours_are_distinct_readable_and_stable() -> None:
    colours = [class_colour(i) for i in range(20)]
    assert colours == [class_colour(i) for i in range(20)]
    assert all(all(0 <= channel <= 255 for channel in colour) for colour in colours)
    for first, second in combinations(colours[:10], 2):
        assert sum((a - b) ** 2 for a, b in zip(first, second)) ** 0.5 > 50, (first, second)
    background = luminance(DARK_UI)
    for colour in colours:
        assert (luminance(colour) + 0.05) / (background + 0.05) >= 4.5, colour
    with pytest.raises(ValueError):
        class_colour(-1)
