"""Whole-file replacement: a write that fails leaves the old file and no temporary one; a
write that succeeds replaces the file with exactly what was written."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import BinaryIO

import pytest

from galaxy_studio.atomic_files import (
    leftover_partial_files,
    partial_path,
    replacing,
    write_atomically,
    write_bytes_atomically,
    write_json_atomically,
    write_text_atomically,
)


def test_each_writer_replaces_the_file_and_leaves_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("old")
    write_json_atomically(path, {"loss": 0.5, "classes": ["a", "b"]})
    assert json.loads(path.read_text()) == {"loss": 0.5, "classes": ["a", "b"]}
    assert path.read_text().endswith("\n")
    write_text_atomically(path, "one\r\ntwo")
    assert path.read_bytes() == b"one\r\ntwo"
    write_bytes_atomically(path, b"\x00\x01", durable=False)
    assert path.read_bytes() == b"\x00\x01"
    write_atomically(path, lambda stream: stream.write(b"streamed"))
    assert path.read_bytes() == b"streamed"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["record.json"]


def test_a_failing_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    path.write_bytes(b"last good")

    def half_then_fail(stream: BinaryIO) -> None:
        stream.write(b"half")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        write_atomically(path, half_then_fail)
    with pytest.raises(ValueError, match="JSON"):
        write_json_atomically(path, {"loss": math.nan})
    assert path.read_bytes() == b"last good"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["state.pt"]


def test_replacing_hands_a_path_that_becomes_the_file_only_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "labels.h5"
    with replacing(path) as partial:
        assert partial.parent == tmp_path and partial.name.startswith(".")
        partial.write_bytes(b"new")
        assert not path.exists()
    assert path.read_bytes() == b"new" and not partial.exists()
    with pytest.raises(KeyboardInterrupt), replacing(path) as partial:
        partial.write_bytes(b"cancelled")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"new" and not partial.exists()


def test_leftovers_of_killed_writes_are_found_and_nothing_else(tmp_path: Path) -> None:
    left = [partial_path(tmp_path / "expert_001.npy"), partial_path(tmp_path / "buffer.json")]
    for path in left:
        path.write_bytes(b"half")
    for name in ("notes.partial", ".hidden", "expert_001.npy", ".x.partial"):
        (tmp_path / name).write_bytes(b"mine")
    assert leftover_partial_files(tmp_path) == sorted(left)
    assert leftover_partial_files(tmp_path / "missing") == []
