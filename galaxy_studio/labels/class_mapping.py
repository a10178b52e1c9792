"""Outside class names (folder names, CSV classes, a model's classes, Galaxy10 names) matched
to a project's classes.

A folder `spirals/` and a project class `spiral` are the same class to an astronomer; an
import that refuses them, or drops their labels, loses work. Names are matched when they are
equal once case, `_`/`-`/space and a plural `s` are set aside, or when a small table of
synonyms (Galaxy Zoo wording) says so, and only when exactly one project class matches:
anything ambiguous is left to the user's explicit mapping.

A mapping the user confirmed is stored in the project (its class aliases), so the next folder
or model with the same names needs no question. An alias to "" means "skip this name": its
labels are counted as skipped, never taken and never silently lost.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from galaxy_studio.count_text import counted

_SEPARATORS = re.compile(r"[\s_\-]+")

# The alias of a name whose labels the user chose not to take.
SKIP = ""

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
    mapping (explicit, stored or proposed) and `proposed`/`remembered` say which were matched
    automatically or by a stored alias; `unmapped` match no class or several; `skipped` are
    names whose labels the user chose not to take."""

    mapped: dict[str, str] = field(default_factory=dict)
    proposed: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    remembered: dict[str, str] = field(default_factory=dict)

    def class_of(self, name: str) -> str:
        """The project class `name` stands for (the name itself when it needs no mapping)."""
        return self.mapped.get(name, name)

    @property
    def needs_confirmation(self) -> bool:
        """Whether some name differs from the project's classes in a way the user has not
        settled yet: a proposal to confirm or a name that matches nothing."""
        return bool(self.unmapped) or any(name not in self.remembered for name in self.proposed)


@dataclass(frozen=True)
class LabelCounts:
    """What became of the labels an add, import or suggestion brought: taken (of which
    `mapped` under another name), unmapped (no class matched) and skipped (by the user's
    choice), each unmapped and skipped name with its count, so that nothing goes unreported."""

    taken: int = 0
    mapped: int = 0
    unmapped: int = 0
    skipped: int = 0
    mapped_names: dict[str, str] = field(default_factory=dict)
    unmapped_names: dict[str, int] = field(default_factory=dict)
    skipped_names: dict[str, int] = field(default_factory=dict)

    @classmethod
    def tally(cls, names: Iterable[str], mapping: ClassMapping, classes: Sequence[str]) -> LabelCounts:
        """Count each outside name of the labels brought (one per label) by what it reads as."""
        counted = Counter(names)
        known = set(classes)
        taken = mapped = 0
        unmapped: dict[str, int] = {}
        skipped: dict[str, int] = {}
        used: dict[str, str] = {}
        for name, count in counted.items():
            if name in mapping.skipped:
                skipped[name] = count
            elif mapping.class_of(name) in known:
                taken += count
                if name in mapping.mapped:
                    mapped += count
                    used[name] = mapping.mapped[name]
            else:
                unmapped[name] = count
        return cls(taken, mapped, sum(unmapped.values()), sum(skipped.values()), used, unmapped, skipped)

    def describe(self, noun: str = "label") -> str:
        """`N labels taken (M mapped: a -> b), U unmapped (x), S skipped (y)` ("1 label taken" for one)."""
        text = f"{counted(self.taken, noun)} taken"
        if self.mapped:
            text += f" ({self.mapped} mapped: " + ", ".join(f"{a} -> {b}" for a, b in self.mapped_names.items()) + ")"
        text += f", {self.unmapped} unmapped"
        if self.unmapped_names:
            text += " (" + ", ".join(f"{name} {count}" for name, count in self.unmapped_names.items()) + ")"
        text += f", {self.skipped} skipped"
        if self.skipped_names:
            text += " (" + ", ".join(f"{name} {count}" for name, count in self.skipped_names.items()) + ")"
        return text


def map_class_names(
    names: Iterable[str],
    classes: Sequence[str],
    explicit: Mapping[str, str] | None = None,
    stored: Mapping[str, str] | None = None,
) -> ClassMapping:
    """Read each distinct outside name as a project class: the user's explicit mapping first,
    then the class of the same name, then the project's stored alias, then the one class whose
    `name_key` matches. An explicit or stored mapping to SKIP marks the name skipped."""
    explicit = dict(explicit or {})
    stored = dict(stored or {})
    by_key: dict[str, list[str]] = {}
    for cls in classes:
        by_key.setdefault(name_key(cls), []).append(cls)
    mapped: dict[str, str] = {}
    proposed: dict[str, str] = {}
    remembered: dict[str, str] = {}
    unmapped: list[str] = []
    skipped: list[str] = []
    for name in dict.fromkeys(names):
        if name in explicit:
            chosen = explicit[name]
        elif name in classes:
            continue
        elif name in stored and (stored[name] == SKIP or stored[name] in classes):
            chosen = remembered[name] = stored[name]
        elif len(matches := by_key.get(name_key(name), [])) == 1:
            mapped[name] = proposed[name] = matches[0]
            continue
        else:
            unmapped.append(name)
            continue
        if chosen == SKIP:
            skipped.append(name)
        else:
            mapped[name] = chosen
    return ClassMapping(mapped, proposed, unmapped, skipped, remembered)
