"""Embeddings files: a faithful round trip, and a clear refusal of anything else."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.explore.embeddings import Embeddings
from galaxy_studio.model.errors import ModelError


def _embeddings() -> Embeddings:
    items = (
        CatalogItem("/data/a.jpg", label="spiral", group="spiral"),
        CatalogItem("/data/galaxy10.h5", index=7, ra=150.25, dec=-2.5),
        CatalogItem("/data/é b.fits"),
    )
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    return Embeddings(vectors, items, np.array([1, -1, 0]), ("elliptical", "spiral"), "model galaxy-cnn (run/model.pt)")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    original = _embeddings()
    path = tmp_path / "emb.npz"
    original.save(path)
    loaded = Embeddings.load(path)
    assert np.array_equal(loaded.vectors, original.vectors) and loaded.vectors.dtype == np.float32
    assert loaded.items == original.items
    assert loaded.labels.tolist() == [1, -1, 0] and loaded.labels.dtype == np.int64
    assert loaded.class_names == original.class_names and loaded.source == original.source
    assert not list(tmp_path.glob(".*partial"))


def test_file_without_pickle(tmp_path: Path) -> None:
    _embeddings().save(tmp_path / "emb.npz")
    with np.load(tmp_path / "emb.npz", allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04broken"])
def test_corrupt_file_is_refused_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"bad\.npz: not a Galaxy Studio embeddings file"):
        Embeddings.load(path)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "emb.npz"
    _embeddings().save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"emb\.npz: .*embeddings file"):
        Embeddings.load(path)


def test_other_npz_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ModelError, match=r"other\.npz: not a Galaxy Studio embeddings file \(no format"):
        Embeddings.load(path)


def test_non_finite_vectors_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.npz"
    _embeddings().save(path)
    with zipfile.ZipFile(path) as archive:
        columns = {name[:-4]: np.load(archive.open(name)) for name in archive.namelist()}
    columns["vectors"][0, 0] = np.nan
    np.savez(path, **columns)
    with pytest.raises(ModelError, match=r"nan\.npz: damaged embeddings file \(vectors are not finite"):
        Embeddings.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"none\.npz: no such embeddings file"):
        Embeddings.load(tmp_path / "none.npz")
