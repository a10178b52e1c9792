"""Checkpoints classify exactly as evaluated, in any process, and never run code when opened."""

from __future__ import annotations

import builtins
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.data.catalog import read_item
from galaxy_studio.model.checkpoint import CLASSIFIER_FORMAT, check_plain, load_classifier, save_classifier
from galaxy_studio.model.datasets import load_labelled_data, stratified_split
from galaxy_studio.model.errors import CheckpointError
from galaxy_studio.model.evaluation import evaluate_classifier
from galaxy_studio.model.preprocessing import Preprocessing, prepare_cutout
from galaxy_studio.model.training import TrainResult

PREDICT = """
import json, sys
import torch
from galaxy_studio.data.catalog import CatalogItem, read_item
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.preprocessing import Preprocessing, prepare_cutout

model, metadata = load_classifier(sys.argv[1])
prep = Preprocessing.from_dict(metadata["preprocessing"])
batch = torch.stack([torch.from_numpy(prepare_cutout(read_item(CatalogItem(p)), prep)) for p in sys.argv[2:]])
with torch.no_grad():
    print(json.dumps(model(batch).tolist()))
"""


def _logits_here(checkpoint: Path, files: list[str]) -> list[list[float]]:
    model, metadata = load_classifier(checkpoint)
    prep = Preprocessing.from_dict(metadata["preprocessing"])
    from galaxy_studio.data.catalog import CatalogItem

    batch = torch.stack([torch.from_numpy(prepare_cutout(read_item(CatalogItem(p)), prep)) for p in files])
    with torch.no_grad():
        return model(batch).tolist()


def test_a_reloaded_checkpoint_predicts_identically_in_a_fresh_process(
    trained_run: TrainResult, demo_set: Path
) -> None:
    checkpoint = Path(trained_run.checkpoint)
    files = [str(path) for path in sorted(demo_set.rglob("*.jpg"))[::15]]
    here = _logits_here(checkpoint, files)
    result = subprocess.run(
        [sys.executable, "-c", PREDICT, str(checkpoint), *files], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    there = json.loads(result.stdout.strip().splitlines()[-1])
    assert np.array(here).shape == (len(files), 3)
    assert there == here, "bit-identical logits"


def test_re_evaluating_the_test_split_gives_the_recorded_metrics(trained_run: TrainResult, demo_set: Path) -> None:
    report = evaluate_classifier(trained_run.checkpoint, demo_set, split="test", device="cpu")
    for key in ("n", "accuracy", "balanced_accuracy", "macro_auc", "confusion", "per_class"):
        assert report[key] == trained_run.metrics[key], key
    everything = evaluate_classifier(trained_run.checkpoint, demo_set, device="cpu")
    assert everything["n"] == 90


def test_the_test_split_cannot_be_rebuilt_from_other_data(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    subset = tmp_path / "subset.csv"
    data = load_labelled_data(demo_set)
    _, _, test = stratified_split(data.labels, seed=0)
    subset.write_text("path,label\n" + "".join(f"{data.items[i].path},{data.classes[data.labels[i]]}\n" for i in test))
    with pytest.raises(Exception, match="not the images and labels"):
        evaluate_classifier(trained_run.checkpoint, subset, split="test", device="cpu")
    assert (
        evaluate_classifier(trained_run.checkpoint, subset, device="cpu")["accuracy"] == trained_run.metrics["accuracy"]
    )


class _RunsCode:
    """Unpickling this calls open(marker, "w"): a stand-in for any code an attacker wants run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (builtins.open, (str(self.marker), "w"))


def test_a_checkpoint_crafted_to_run_code_is_refused(trained_run: TrainResult, tmp_path: Path) -> None:
    _, metadata = load_classifier(trained_run.checkpoint)
    marker = tmp_path / "code-ran"
    crafted = tmp_path / "model.pt"
    good = torch.load(trained_run.checkpoint, weights_only=True)
    torch.save({**good, "metadata": {**metadata, "note": _RunsCode(marker)}}, crafted)
    with pytest.raises(CheckpointError, match="refused") as caught:
        load_classifier(crafted)
    assert str(crafted) in str(caught.value)
    assert not marker.exists(), "loading must not have run the code"
    # The file really is armed: the unsafe loader runs it.
    torch.load(crafted, weights_only=False)
    assert marker.exists()


def test_a_bare_pickle_and_a_damaged_file_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    bare = tmp_path / "bare.pt"
    bare.write_bytes(pickle.dumps({"format": CLASSIFIER_FORMAT, "x": _RunsCode(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match="refused"):
        load_classifier(bare)
    assert not marker.exists()
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"\x80\x02garbage" * 10)
    with pytest.raises(CheckpointError):
        load_classifier(damaged)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_classifier(tmp_path / "missing.pt")


def test_metadata_must_be_plain_data(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"metadata.metrics.accuracy: float64"):
        check_plain({"metrics": {"accuracy": np.float64(0.9)}})
    with pytest.raises(TypeError, match="tuple"):
        check_plain({"size": (64, 64)})
    with pytest.raises(TypeError):
        save_classifier(tmp_path / "x.pt", torch.nn.Linear(2, 2), {"versions": {"torch": torch.__version__}})
    assert not (tmp_path / "x.pt").exists()


def test_saving_replaces_the_file_atomically(trained_run: TrainResult, tmp_path: Path) -> None:
    model, metadata = load_classifier(trained_run.checkpoint)
    target = tmp_path / "model.pt"
    target.write_bytes(b"previous version")
    save_classifier(target, model, metadata)
    assert load_classifier(target)[1] == metadata
    assert [path.name for path in tmp_path.iterdir()] == ["model.pt"], "no temporary file left behind"
