"""count_text: a count and its noun in the form that agrees with it ("1 image", "3 images")."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import galaxy_studio
from galaxy_studio.count_text import counted, noun_for


def test_one_takes_the_singular_and_every_other_count_the_plural() -> None:
    assert counted(1, "image") == "1 image"
    assert counted(3, "image") == "3 images"
    assert counted(0, "image") == "0 images", "none of something is plural in English"
    assert counted(1, "unlabelled image") == "1 unlabelled image", "the last word is the noun"


def test_an_irregular_plural_is_named_and_used_only_for_counts_other_than_one() -> None:
    assert counted(2, "index", "indices") == "2 indices"
    assert counted(1, "index", "indices") == "1 index"
    assert counted(2, "class", "classes") == "2 classes"
    assert counted(4, "HDU") == "4 HDUs"


def test_numbers_are_written_plainly_unless_grouped_thousands_are_asked_for() -> None:
    assert counted(12000, "item") == "12000 items"
    assert counted(12000, "item", grouped=True) == "12,000 items"
    assert counted(1, "item", grouped=True) == "1 item"


def test_noun_for_names_the_things_without_their_number() -> None:
    assert noun_for(1, "column") == "column"
    assert noun_for(2, "column") == "columns"
    assert noun_for(0, "vertex", "vertices") == "vertices"


def test_no_message_in_the_package_writes_a_noun_with_s_in_brackets() -> None:
    """The strings of galaxy_studio's source (messages, help, tooltips) say "1 image" or
    "2 images", never "image(s)"; code such as `float(s)` is not a string and is not read.
    count_text itself names the old form in its docstring."""
    hedged = re.compile(r"[A-Za-z]\(s\)")
    # Python 3.12 splits an f-string into parts; its text is FSTRING_MIDDLE.
    text_tokens = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    found = []
    for path in sorted(Path(galaxy_studio.__file__).parent.rglob("*.py")):
        if path.name == "count_text.py":
            continue
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        found += [f"{path.name}:{t.start[0]}" for t in tokens if t.type in text_tokens and hedged.search(t.string)]
    assert found == []
