"""A damaged or doctored model.pt is refused on load with one line naming the file and the
field, before any image is read or any buffer sized from it (a recorded 30,000 px input made
classify try to allocate tens of GiB); a good one still classifies."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from galaxy_studio.cli import main
from galaxy_studio.labels.schemes import ClassScheme
from galaxy_studio.labels.store import Project
from galaxy_studio.model.checkpoint_schema import input_size_range
from galaxy_studio.model.training import TrainResult

from .conftest import DEMO_CLASSES

Damage = Callable[[dict[str, Any]], None]


def _drop_preprocessing(metadata: dict[str, Any]) -> None:
    del metadata["preprocessing"]


def _short_mean(metadata: dict[str, Any]) -> None:
    metadata["preprocessing"]["mean"] = metadata["preprocessing"]["mean"][:2]


def _one_class(metadata: dict[str, Any]) -> None:
    metadata["classes"] = metadata["classes"][:1]


def _unknown_stretch(metadata: dict[str, Any]) -> None:
    metadata["preprocessing"]["display"]["stretch"] = "sinh-of-doom"


def _huge_size(metadata: dict[str, Any]) -> None:
    metadata["preprocessing"]["size"] = 30000
    metadata["architecture"]["size"] = 30000


def _bad_profile(metadata: dict[str, Any]) -> None:
    metadata["training_profile"] = {"bands": ["r"]}


def _bad_split(metadata: dict[str, Any]) -> None:
    metadata["split"]["fractions"] = [0.7, 0.3]


def _fold_beyond_its_count(metadata: dict[str, Any]) -> None:
    metadata["split"]["fold"] = [4, 3]


def _zero_temperature(metadata: dict[str, Any]) -> None:
    metadata["temperature"] = 0.0


def _nan_temperature(metadata: dict[str, Any]) -> None:
    metadata["temperature"] = float("nan")


DAMAGES: dict[str, tuple[Damage, str]] = {
    "no preprocessing": (_drop_preprocessing, "field preprocessing: missing"),
    "mean of two for three channels": (_short_mean, "field preprocessing.mean: 2 values for a 3-channel input"),
    "one class name": (_one_class, "field classes: 1 name for a network with 3 outputs"),
    "unknown stretch": (_unknown_stretch, "field preprocessing.display: unknown stretch 'sinh-of-doom'"),
    "30000 px": (_huge_size, "field architecture.size: 30000 is out of range"),
    "unreadable training profile": (_bad_profile, "field training_profile: unreadable"),
    "two split fractions": (_bad_split, "field split.fractions: should be three fractions"),
    "fold 4 of 3": (_fold_beyond_its_count, "field split.fold: should be [i, k], fold i of k"),
    "zero temperature": (_zero_temperature, "field temperature: 0.0 is not allowed"),
    "NaN temperature": (_nan_temperature, "field temperature: nan is not allowed"),
}


def _damaged(checkpoint: str, folder: Path, damage: Damage) -> Path:
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    damage(payload["metadata"])
    path = folder / "model.pt"
    torch.save(payload, path)
    return path


def _project(path: Path, demo_set: Path) -> Path:
    with Project.create(path, ClassScheme("demo", DEMO_CLASSES)) as project:
        project.add_paths([str(f) for f in sorted(demo_set.rglob("*.jpg"))[::10]])
    return path


def _commands(model: Path, demo_set: Path, tmp_path: Path) -> list[list[str]]:
    image = str(next(demo_set.rglob("*.jpg")))
    project = _project(model.parent / "p.gsproj", demo_set)
    return [
        ["classify", str(model), image, "--out", str(tmp_path / "p.csv"), "--device", "cpu"],
        ["evaluate", str(model), str(demo_set), "--device", "cpu"],
        ["project", "suggest", str(project), str(model), "--device", "cpu"],
    ]


def _assert_refused(command: list[str], model: Path, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(command) == 1, command
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert str(model) in err[0] and expected in err[0], err[0]
    assert elapsed < 20, f"{command[0]} took {elapsed:.1f} s to refuse"


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_doctored_checkpoint_is_refused_naming_the_field(
    case: str, trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage, expected = DAMAGES[case]
    model = _damaged(trained_run.checkpoint, tmp_path, damage)
    for command in _commands(model, demo_set, tmp_path):
        _assert_refused(command, model, expected, capsys)


def test_garbage_named_model_pt_is_refused(demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "text" / "model.pt"
    text.parent.mkdir()
    text.write_text("hello, this is not a network\n")
    archive = tmp_path / "zip" / "model.pt"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("model/data.pkl", b"\x00garbage\xff" * 10)
        zipped.writestr("model/version", b"3\n")
    for model in (text, archive):
        for command in _commands(model, demo_set, tmp_path):
            _assert_refused(command, model, "not a Galaxy Studio checkpoint", capsys)


def test_the_size_limit_is_the_declared_setting_range() -> None:
    assert input_size_range() == (16, 512)


def test_an_intact_checkpoint_without_the_newer_records_still_classifies(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    def old(metadata: dict[str, Any]) -> None:
        metadata.pop("training_profile", None)
        metadata.pop("out_of_distribution", None)

    model = _damaged(trained_run.checkpoint, tmp_path, old)
    image = str(next(demo_set.rglob("*.jpg")))
    out = tmp_path / "p.csv"
    assert main(["classify", str(model), image, "--out", str(out), "--device", "cpu"]) == 0
    assert len(out.read_text().strip().splitlines()) == 2
    assert main(["classify", trained_run.checkpoint, image, "--out", str(out), "--device", "cpu"]) == 0


def test_evaluating_the_test_split_of_a_model_without_a_split_record_is_refused(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The split record is optional (older models lack it): `--split test` then says it cannot be
    rebuilt instead of failing with a KeyError."""

    def no_split(metadata: dict[str, Any]) -> None:
        del metadata["split"]

    model = _damaged(trained_run.checkpoint, tmp_path, no_split)
    command = ["evaluate", str(model), str(demo_set), "--split", "test", "--device", "cpu"]
    _assert_refused(command, model, "records no split", capsys)
