"""Every job checks its output and its input before it writes or computes anything: bad input
leaves no partial output, and an output that cannot be written is refused at once, in one line
(#21 §2). `train` used to write config.json into its run folder before reading the data, the
run-folder jobs crashed with a FileExistsError traceback after reading all the data when the
output was a file, and `classify`/`embed` computed everything before finding that the output's
folder did not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from galaxy_studio.cli import main
from galaxy_studio.data.synthetic import write_demo_set


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jobs-data")
    write_demo_set(root, per_class=1, size=24, seed=0)
    return root


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_train_on_too_little_data_leaves_no_run_folder(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train", str(images), "--out", str(out), "--epochs", "1", "--device", "cpu"]) == 1
    assert "too few labelled images to split" in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["train", "{data}", "--epochs", "1"],
        ["buffer", "{data}", "--experts", "1", "--epochs", "1"],
        ["distill-unsupervised", "{data}", "--epochs", "1"],
        ["distill", "{buffer}", "{data}", "--iterations", "1"],
    ],
    ids=lambda command: command[0],
)
def test_a_run_folder_that_is_a_file_is_refused_before_the_data_is_read(
    command: list[str], images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    (tmp_path / "buffer").mkdir()
    args = [part.format(data=images, buffer=tmp_path / "buffer") for part in command]
    assert main([*args, "--out", str(taken), "--device", "cpu"]) == 1
    line = one_error_line(capsys)
    assert line.endswith(f"error: {taken}: is a file, not a folder; choose another --out folder")
    assert taken.read_text() == "not a folder"


@pytest.mark.parametrize("command", ["classify", "embed"])
def test_an_output_in_a_missing_folder_is_refused_before_any_work(
    command: str, images: Path, tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-folder" / "out.file"
    args = ["classify", str(tmp_path / "model.pt"), str(images)] if command == "classify" else ["embed", str(images)]
    assert main([*args, "--out", str(out), "--device", "cpu"]) == 1
    line = one_error_line(capsys)
    assert line.endswith(f"error: {out}: the folder {out.parent} does not exist; nothing was done")
    assert not out.parent.exists() and not (isolated_home / "cache" / "autoencoders").exists()


def test_demo_data_into_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    assert main(["demo-data", str(taken), "--per-class", "1", "--size", "16"]) == 1
    assert one_error_line(capsys).endswith(f"error: {taken}: is a file, not a folder; nothing was done")
