"""`galaxy-studio embed` and `cluster` end to end on the demo set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.cli import main
from galaxy_studio.explore.embeddings import Embeddings

TINY_AE = ["--size", "16", "--crop", "1", "--latent", "8", "--epochs", "2", "--device", "cpu"]


def test_embed_then_cluster_with_labels(demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "emb.npz"
    assert main(["embed", str(demo_set), "--autoencoder", "--out", str(out), *TINY_AE]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["images"] == 90 and record["dimension"] == 8 and record["labelled"] == 90
    assert record["source"].startswith("autoencoder")
    assert Embeddings.load(out).vectors.shape == (90, 8) and "averaged over 8 orientations" in record["source"]
    single = tmp_path / "single.npz"
    assert main(["embed", str(demo_set), "--out", str(single), "--single-orientation", *TINY_AE]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["source"] == Embeddings.load(single).source and "averaged" not in record["source"]
    assert not np.allclose(Embeddings.load(single).vectors, Embeddings.load(out).vectors)

    assert main(["cluster", str(out), "--k", "3", "10", "--method", "kmeans", "--method", "spectral", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert [(row["method"], row["k"]) for row in report["results"]] == [
        ("kmeans", 3),
        ("kmeans", 10),
        ("spectral", 3),
        ("spectral", 10),
    ]
    for row in report["results"]:
        assert sum(row["sizes"]) == 90 and len(row["sizes"]) == row["k"]
        score = row["score"]
        assert score["majority_baseline"] == pytest.approx(1 / 3) and score["n_labelled"] == 90
        assert 0 <= score["accuracy"] <= 1 and -1 <= score["ari"] <= 1 and 0 <= score["nmi"] <= 1
    table = "\n".join(lines[:-1])
    assert "accuracy" in table and "majority" in table and "0.333" in table


def test_cluster_takes_labels_from_data(demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from galaxy_studio.explore.inventory import open_inventory

    inventory = open_inventory(demo_set)
    rng = np.random.default_rng(0)
    vectors = (rng.normal(0, 10, (3, 6))[inventory.labels] + rng.normal(0, 1, (90, 6))).astype(np.float32)
    unlabelled = tmp_path / "unlabelled.npz"
    Embeddings(vectors, inventory.items, np.full(90, -1), (), "test vectors").save(unlabelled)

    assert main(["cluster", str(unlabelled), "--k", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["results"][0]["score"] is None and sorted(report["results"][0]["sizes"]) == [30, 30, 30]

    assert main(["cluster", str(unlabelled), "--k", "3", "--labels", str(demo_set), "--json"]) == 0
    score = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"][0]["score"]
    assert score["accuracy"] == 1.0 and score["ari"] == pytest.approx(1.0)


def test_problems_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_text("hello")
    assert main(["cluster", str(bad), "--k", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("galaxy-studio: error: ") and "bad.npz" in err and "\n" not in err
    assert main(["embed", str(tmp_path / "nowhere"), "--out", str(tmp_path / "e.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert "nowhere" in err and "\n" not in err and not (tmp_path / "e.npz").exists()
