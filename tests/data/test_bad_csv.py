"""CSV catalogues and label files that are not clean text (issue #21 §2): every command that
reads one stops with a single line naming the file and the line, never a traceback; a long
but valid cell is read; a label JSON nested 100,000 deep is refused as a damaged file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galaxy_studio.cli import main
from galaxy_studio.data.catalog import read_csv_catalog
from galaxy_studio.data.csv_text import FIELD_LIMIT
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.tables import read_csv_table
from galaxy_studio.model.training import TrainResult


def _garbage_with_nul(path: Path) -> tuple[Path, int]:
    """Every byte value but NUL, forty times, then a NUL: decodes as Latin-1, NUL on line 42."""
    path.write_bytes(b"path,label\n" + bytes(range(1, 256)) * 40 + b"\x00\n")
    return path, 42


def _garbage_with_carriage_return(path: Path) -> tuple[Path, int]:
    """Control bytes that are valid UTF-8, with a bare carriage return mid-field on line 3."""
    path.write_bytes(b"path,label\na.png,spiral\nb.png,\x7f\x1b\r\x02\x01junk\nc.png,spiral\n")
    return path, 3


def _over_limit_field(path: Path) -> tuple[Path, int]:
    """A cell past the (raised) field limit on line 2."""
    path.write_text("path,label\na.png," + "x" * (FIELD_LIMIT + 10) + "\n", encoding="utf-8")
    return path, 2


BAD_FILES: dict[str, Callable[[Path], tuple[Path, int]]] = {
    "garbage-nul": _garbage_with_nul,
    "garbage-cr": _garbage_with_carriage_return,
    "huge-field": _over_limit_field,
}


def _one_error_line(err: str, path: Path, line: int) -> None:
    assert "Traceback" not in err
    naming = [text for text in err.splitlines() if str(path) in text]
    assert len(naming) == 1, err
    assert f"{path}: line {line}: " in naming[0]


def _image(path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("kind", BAD_FILES)
@pytest.mark.parametrize("command", ["embed", "train", "project add"])
def test_bad_catalogue_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, command: str
) -> None:
    path, line = BAD_FILES[kind](tmp_path / "catalogue.csv")
    if command == "project add":
        project = tmp_path / "p.gsproj"
        assert main(["project", "new", "--scheme", "spiral", str(project)]) == 0
        capsys.readouterr()
        status = main(["project", "add", str(project), str(path)])
    else:
        status = main([command, str(path), "--out", str(tmp_path / "out")])
    assert status != 0
    _one_error_line(capsys.readouterr().err, path, line)


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_catalogue_in_classify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained_run: TrainResult, kind: str
) -> None:
    path, line = BAD_FILES[kind](tmp_path / "catalogue.csv")
    status = main(["classify", str(trained_run.checkpoint), str(path), "--out", str(tmp_path / "p.csv")])
    assert status != 0
    _one_error_line(capsys.readouterr().err, path, line)


@pytest.mark.parametrize("kind", BAD_FILES)
@pytest.mark.parametrize("fmt", ["csv", "gz-votes"])
def test_bad_label_table_in_project_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, fmt: str
) -> None:
    path, line = BAD_FILES[kind](tmp_path / "labels.csv")
    project = tmp_path / "p.gsproj"
    assert main(["project", "new", "--scheme", "spiral", str(project)]) == 0
    capsys.readouterr()
    answers = ["--answer", "label=spiral"] if fmt == "gz-votes" else []
    assert main(["project", "import", str(project), str(path), "--format", fmt, *answers]) != 0
    # Label tables are decoded strictly, so in the garbage the first byte that is not UTF-8
    # (0x80, line 3) is reported before the NUL on line 42.
    _one_error_line(capsys.readouterr().err, path, 3 if kind == "garbage-nul" else line)


def test_long_valid_field_is_read(tmp_path: Path) -> None:
    """A 200 KiB notes cell (over `csv`'s default 128 KiB) is a legitimate value."""
    image = _image(tmp_path / "a.png")
    notes = "n" * (200 * 1024)
    path = tmp_path / "catalogue.csv"
    path.write_text(f"path,label,notes\n{image.name},spiral,{notes}\n", encoding="utf-8")
    catalog = read_csv_catalog(path)
    assert [item.path for item in catalog.items] == [str(image)]
    table = read_csv_table(path)
    assert table.rows == [[image.name, "spiral", notes]]
    assert table.lines == [2]


def test_long_valid_field_through_project_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _image(tmp_path / "a.png")
    path = tmp_path / "catalogue.csv"
    path.write_text(f"path,label,notes\n{image.name},spiral,{'n' * (200 * 1024)}\n", encoding="utf-8")
    project = tmp_path / "p.gsproj"
    assert main(["project", "new", "--scheme", "spiral", str(project)]) == 0
    assert main(["project", "add", str(project), str(path)]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_binary_label_table_raises_project_error(tmp_path: Path) -> None:
    path, line = _garbage_with_carriage_return(tmp_path / "labels.csv")
    with pytest.raises(ProjectError, match=rf"line {line}: a carriage return inside an unquoted field"):
        read_csv_table(path)


def test_deeply_nested_label_json_is_a_damaged_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "labels.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    project = tmp_path / "p.gsproj"
    assert main(["project", "new", "--scheme", "spiral", str(project)]) == 0
    capsys.readouterr()
    assert main(["project", "import", str(project), str(path)]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"galaxy-studio: error: {path}: JSON nested too deeply to be a label file; the file is damaged"
    ]
