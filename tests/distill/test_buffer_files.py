"""A damaged buffer is refused when it is opened, before a distillation writes its run folder
(#21 §2). An expert file of garbage or of another shape used to be found only at the first
iteration, after config.json and the snapshots folder were written; a buffer.json without a
record was a KeyError traceback; an expert "file" of "../../etc/passwd" was read from outside
the buffer; and numpy's advice to load the file with pickles allowed reached the user."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.cli import main
from galaxy_studio.distill.experts import BUFFER_FILE

Damage = Callable[[Path], None]


def _metadata(change: Callable[[dict], None]) -> Damage:
    def damage(folder: Path) -> None:
        metadata = json.loads((folder / BUFFER_FILE).read_text())
        change(metadata)
        (folder / BUFFER_FILE).write_text(json.dumps(metadata))

    return damage


def _first_expert(write: Callable[[Path], None]) -> Damage:
    return lambda folder: write(folder / json.loads((folder / BUFFER_FILE).read_text())["experts"][0]["file"])


DAMAGES: dict[str, tuple[Damage, str]] = {
    "expert of garbage": (
        _first_expert(lambda path: path.write_bytes(b"\x93NUMPY" + bytes(range(200)))),
        "expert_000.npy: not an expert trajectory of this buffer (",
    ),
    "expert of objects": (
        _first_expert(lambda path: np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)),
        "expert_000.npy: not an expert trajectory of this buffer (not an array of numbers: damaged, or holding Python",
    ),
    "expert of another shape": (
        _first_expert(lambda path: np.save(path, np.zeros((2, 2), dtype=np.float32))),
        "expert_000.npy: shape (2, 2), expected (4, ",
    ),
    "expert outside the buffer": (
        _metadata(lambda metadata: metadata["experts"][0].update(file="../../etc/passwd")),
        "buffer.json: field experts[0].file: '../../etc/passwd' is not a file of the buffer",
    ),
    "no architecture": (
        _metadata(lambda metadata: metadata.pop("architecture")),
        "buffer.json: field architecture: missing",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_buffer_is_refused_before_the_run_folder_is_written(
    damage: str, tiny_buffer: Path, tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = DAMAGES[damage]
    buffer = tmp_path / "buffer"
    shutil.copytree(tiny_buffer, buffer)
    change(buffer)
    out = tmp_path / "run"
    assert main(["distill", str(buffer), str(tiny_set), "--out", str(out), "--iterations", "1", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"error: {buffer}/{expected}" in err and "Traceback" not in err and "allow_pickle" not in err
    assert err.strip().endswith("train the buffer again with `galaxy-studio buffer` into a new folder")
    assert not out.exists(), "nothing written"
