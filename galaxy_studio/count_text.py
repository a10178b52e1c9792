"""Counts in messages: "1 image", "3 images", never "image(s)".

A status line, an error and a CLI summary all name how many of something there were; a
finished tool writes the noun in the form that agrees with the number, as a person would.
Numbers are written as they are ("1400 images"), the way the rest of the messages write them;
a message that groups thousands ("12,000 items" in the Library's count) asks for it. A noun
whose plural is not the noun + "s" names it ("index" -> "indices").
"""

from __future__ import annotations


def noun_for(count: int, noun: str, plural: str | None = None) -> str:
    """`noun` as it agrees with `count`: the singular for one, else the plural (`noun` + "s"
    unless `plural` is given). For a message that names the things rather than their number,
    e.g. "lacks the columns a, b" beside "lacks the column a"."""
    if count == 1:
        return noun
    return plural if plural is not None else noun + "s"


def counted(count: int, noun: str, plural: str | None = None, *, grouped: bool = False) -> str:
    """`count` and its noun: "1 image", "0 images", "3 images" ("3 indices" with `plural`).
    `grouped` writes thousands with commas ("1,400 images"), for messages that did so before."""
    number = f"{count:,}" if grouped else str(count)
    return f"{number} {noun_for(count, noun, plural)}"
