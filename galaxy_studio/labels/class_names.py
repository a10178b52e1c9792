"""Rules for class names, shared by schemes and the project store (which must not import
the image readers that the built-in schemes pull in)."""

from __future__ import annotations

from pathlib import Path

from galaxy_studio.labels.errors import ProjectError


def checked_class_name(name: str, where: str | Path) -> str:
    """`name` without surrounding spaces; ProjectError (about `where`) if nothing is left."""
    stripped = name.strip()
    if not stripped:
        raise ProjectError(where, "a class name cannot be empty")
    return stripped


def duplicate_names(names: list[str]) -> list[str]:
    """Names that occur twice when case is ignored ("Spiral" and "spiral" confuse people)."""
    seen: set[str] = set()
    twice: list[str] = []
    for name in names:
        folded = name.casefold()
        if folded in seen and name not in twice:
            twice.append(name)
        seen.add(folded)
    return twice
