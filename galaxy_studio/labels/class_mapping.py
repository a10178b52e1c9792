"""Outside class names (folder names, CSV classes, a model's classes, Galaxy10 names) matched
to a project's classes.

A folder `spirals/` and a project class `spiral` are the same class to an astronomer; an
import that refuses them, or drops their labels, loses work. Names are matched when they are
equal once case, `_`/`-`/space and a plural `s` are set aside, or when a small table of
synonyms (Galaxy Zoo wording) says so, and only when exactly one project class matches:
anything ambiguous is left to the user's explicit mapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

_SEPARATORS = re.compile(r"[\s_\-]+")

# Wordings of the same morphology that Galaxy Zoo, Galaxy10 and folder names use, already
# in the key form of `name_key`.
_SYNONYMS = {
    "merger": "merging",
    "nonspiral": "non spiral",
    "not spiral": "non spiral",
    "edgeon": "edge on",
}


def name_key(name: str) -> str:
    """What is left of a class name once case, separators and a plural `s` are set aside:
    `Non_Spirals` -> `non spiral`."""
    words = _SEPARATORS.sub(" ", name.strip().casefold()).split()
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    key = " ".join(words)
    return _SYNONYMS.get(key, key)


@dataclass(frozen=True)
class ClassMapping:
    """How each outside name reads as a project class. `mapped` holds the names that needed a
    mapping (explicit or proposed), `unmapped` those that match no class or several."""

    mapped: dict[str, str] = field(default_factory=dict)
    proposed: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)

    def class_of(self, name: str) -> str:
        """The project class `name` stands for (the name itself when it needs no mapping)."""
        return self.mapped.get(name, name)

    def describe(self) -> str:
        """One line for a report: what was read as what, the proposals marked."""
        return ", ".join(
            f"{outside} -> {inside}" + (" (matched by name)" if outside in self.proposed else "")
            for outside, inside in self.mapped.items()
        )


def map_class_names(
    names: Iterable[str], classes: Sequence[str], explicit: Mapping[str, str] | None = None
) -> ClassMapping:
    """Read each distinct outside name as a project class: the user's explicit mapping first,
    then the class of the same name, then the one class whose `name_key` matches."""
    explicit = dict(explicit or {})
    by_key: dict[str, list[str]] = {}
    for cls in classes:
        by_key.setdefault(name_key(cls), []).append(cls)
    mapped: dict[str, str] = {}
    proposed: dict[str, str] = {}
    unmapped: list[str] = []
    for name in dict.fromkeys(names):
        if name in explicit:
            mapped[name] = explicit[name]
        elif name in classes:
            continue
        elif len(matches := by_key.get(name_key(name), [])) == 1:
            mapped[name] = proposed[name] = matches[0]
        else:
            unmapped.append(name)
    return ClassMapping(mapped, proposed, unmapped)
