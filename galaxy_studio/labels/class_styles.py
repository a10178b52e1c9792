"""One class, one colour and one key, on every screen.

The Library's badges, the labelling legend, Train's confusion matrix, Classify's bars and
Explore's map all name classes, often in another spelling or order: a model trained on the
folders `non_spirals/` and `spirals/` lists its classes alphabetically, while the project
says `spiral`, `non-spiral`. A palette gives each class of the scheme (the open project's,
or before a project the data's class folders) the colour and key of its position, and reads
any outside name as the scheme class it stands for, so `spirals` is drawn as `spiral`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from galaxy_studio.labels.class_mapping import map_class_names
from galaxy_studio.labels.schemes import class_colour, class_key

DARK_INK = (16, 16, 20)
LIGHT_INK = (250, 250, 250)


def relative_luminance(colour: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@dataclass(frozen=True)
class ClassStyle:
    """How a class is drawn: `name` is the scheme's spelling (the outside name itself when
    it matches no scheme class), `key` the labelling key (None past ten classes or for a
    name outside the scheme), `colour` an RGB triple."""

    name: str
    key: str | None
    colour: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.colour)

    @property
    def ink(self) -> tuple[int, int, int]:
        """Near-black or near-white, whichever reads better on the colour (a key on a badge):
        by WCAG contrast, since HSL lightness called mid orange dark and put white on it."""
        luminance = relative_luminance(self.colour)
        on_dark, on_light = (luminance + 0.05) / (relative_luminance(DARK_INK) + 0.05), 1.05 / (luminance + 0.05)
        return DARK_INK if on_dark >= on_light else LIGHT_INK

    @property
    def caption(self) -> str:
        """The name with its key in front, as legends and headers show it: `1  spiral`."""
        return f"{self.key}  {self.name}" if self.key else self.name


class ClassPalette:
    """The styles of one scheme. Colours follow the position of a class in the scheme, so
    adding a class (which appends it) leaves every other colour as it was. Names outside the
    scheme get the colours after it, in the order they are first asked for, and keep them for
    as long as the palette lives."""

    def __init__(self, classes: Sequence[str], aliases: Mapping[str, str] | None = None) -> None:
        self.classes: tuple[str, ...] = tuple(classes)
        self.aliases: dict[str, str] = dict(aliases or {})
        self._position = {name: position for position, name in enumerate(self.classes)}
        self._outside: dict[str, int] = {}

    def class_of(self, name: str) -> str | None:
        """The scheme class an outside name stands for (`spirals` -> `spiral`), or None.
        Every lookup of another spelling goes through here."""
        if name in self._position:
            return name
        mapping = map_class_names([name], self.classes, None, self.aliases)
        if name in mapping.unmapped or name in mapping.skipped:
            return None
        return mapping.class_of(name)

    def style(self, name: str) -> ClassStyle:
        scheme_class = self.class_of(name)
        if scheme_class is not None:
            position = self._position[scheme_class]
            return ClassStyle(scheme_class, class_key(position), class_colour(position))
        position = self._outside.setdefault(name, len(self.classes) + len(self._outside))
        return ClassStyle(name, None, class_colour(position))

    def styles(self, names: Sequence[str]) -> list[ClassStyle]:
        return [self.style(name) for name in names]
