"""path_text: the three forms of a file name that is not UTF-8 (stored, written, shown)."""

from __future__ import annotations

import io
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from galaxy_studio.path_text import (
    from_sql,
    from_text,
    is_text,
    make_streams_readable,
    path_of_file_url,
    readable,
    to_sql,
    to_text,
)

ODD = os.fsdecode(b"gal\xff\xfe.png")


def test_a_name_that_is_not_utf8_survives_sqlite_and_plain_names_stay_text(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE images (path TEXT NOT NULL UNIQUE)")
    odd, plain = str(tmp_path / ODD), str(tmp_path / "é plain.png")
    db.executemany("INSERT INTO images VALUES (?)", [(to_sql(odd),), (to_sql(plain),)])
    stored = [row[0] for row in db.execute("SELECT path FROM images ORDER BY rowid")]
    assert stored[0] == os.fsencode(odd) and stored[1] == plain, "bytes only where the name is not text"
    assert [from_sql(value) for value in stored] == [odd, plain]
    found = db.execute("SELECT count(*) FROM images WHERE path = ?", (to_sql(odd),)).fetchone()[0]
    assert found == 1


def test_written_form_is_utf8_text_and_reads_back_to_the_same_file(tmp_path: Path) -> None:
    odd = tmp_path / ODD
    odd.write_bytes(b"x")
    written = to_text(str(odd))
    assert written.startswith("file:///") and written.endswith("/gal%FF%FE.png")
    written.encode("utf-8")  # no surrogates left
    assert from_text(written) == str(odd) and Path(from_text(written)).read_bytes() == b"x"
    relative = to_text(ODD)
    assert from_text(relative) == os.path.abspath(ODD), "a relative name is written absolute"
    for plain in ("a b/c%41.png", r"C:\data\x.fits", "rel/ü.jpg", "file", "file:x.png"):
        assert to_text(plain) == plain and from_text(plain) == plain
    looks_like_a_uri = "file://x.png"  # a folder "file:", then x.png
    assert to_text(looks_like_a_uri).startswith("file:///") and from_text(to_text(looks_like_a_uri)) == os.path.abspath(
        looks_like_a_uri
    )
    assert from_text("file://otherhost/x.png") == "file://otherhost/x.png", "not a local file"
    assert from_text("file:///tmp/a%20b.png") == "/tmp/a b.png"


@pytest.mark.skipif(os.name != "posix", reason="file names are bytes only on POSIX")
def test_a_dropped_url_gives_the_exact_name_not_the_toolkit_reading() -> None:
    exact = os.fsdecode(b"/data/gal\xff.png")
    assert path_of_file_url("file:///data/gal%FF.png", "/data/gal\ufffd.png") == exact
    assert path_of_file_url("file:///data/a%20b.png", "/data/a b.png") == "/data/a b.png"
    assert path_of_file_url("file://host/share/x.png", "//host/share/x.png") == "//host/share/x.png"


def test_shown_form_marks_each_odd_byte() -> None:
    assert readable(ODD) == "gal\ufffd\ufffd.png" and readable(Path("ok.png")) == "ok.png"
    assert not is_text(ODD) and is_text("é.png")


@pytest.mark.parametrize(("encoding", "mark"), [("utf-8", "\ufffd"), ("ascii", "?")])
def test_streams_print_odd_names_instead_of_raising(monkeypatch: pytest.MonkeyPatch, encoding: str, mark: str) -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")
    monkeypatch.setattr(sys, "stdout", stream)
    with pytest.raises(UnicodeEncodeError):
        print(ODD)
    stream.flush()
    stream.buffer.seek(0)
    stream.buffer.truncate()
    make_streams_readable()
    print(f"cannot read {ODD}")
    stream.flush()
    assert stream.buffer.getvalue().decode(encoding) == f"cannot read gal{mark}{mark}.png\n"
