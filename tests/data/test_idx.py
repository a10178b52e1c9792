"""IDX files: round trips, pairing by name, and clear messages for damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.idx import IdxError, companion_pair, find_idx_pairs, read_idx, read_idx_pair, write_idx


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_keeps_values_shape_and_type(tmp_path: Path, name: str, dtype: type) -> None:
    values = (
        (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
        if dtype != np.uint8
        else np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    )
    path = tmp_path / name
    write_idx(path, values)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, values)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.array([3, 1, 4], dtype=np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path), [3, 1, 4])


def test_truncated_file_names_the_file_and_the_missing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((4, 5, 5), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IdxError, match=r"train-images-idx3-ubyte: truncated: shape \(4, 5, 5\) needs 100 bytes"):
        read_idx(path)


def test_truncated_gzip_and_bad_magic_and_trailing_bytes_are_explained(tmp_path: Path) -> None:
    cut = tmp_path / "cut.gz"
    write_idx(cut, np.zeros((50, 9, 9), dtype=np.uint8))
    cut.write_bytes(cut.read_bytes()[:20])
    with pytest.raises(IdxError, match=r"cut\.gz: damaged or truncated gzip stream"):
        read_idx(cut)
    png = tmp_path / "not-idx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(IdxError, match=r"not-idx: not an IDX file \(magic 89504e47"):
        read_idx(png)
    joined = tmp_path / "joined"
    write_idx(joined, np.zeros(3, dtype=np.uint8))
    joined.write_bytes(joined.read_bytes() + b"\x00\x01")
    with pytest.raises(IdxError, match="2 bytes after the data"):
        read_idx(joined)
    unknown = tmp_path / "unknown"
    unknown.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(IdxError, match="unknown IDX value type 0x07"):
        read_idx(unknown)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(CutoutError, match=r"empty: file is empty"):
        read_idx(empty)


def test_pairs_match_mnist_names_including_the_rebuilt_training_images(tmp_path: Path) -> None:
    for name in (
        "train-images-idx3-ubyte.APPROX.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "README.md",
        "lonely-images-idx3-ubyte",
    ):
        (tmp_path / name).write_bytes(b"")
    pairs = find_idx_pairs(tmp_path)
    assert [(p.stem, p.images.name, p.labels.name) for p in pairs] == [
        ("t10k", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        ("train", "train-images-idx3-ubyte.APPROX.gz", "train-labels-idx1-ubyte.gz"),
    ]
    assert companion_pair(tmp_path / "train-images-idx3-ubyte.APPROX.gz") == pairs[1]
    with pytest.raises(IdxError, match="no labels file lonely-labels-idx1-ubyte"):
        companion_pair(tmp_path / "lonely-images-idx3-ubyte")


def test_pair_with_fewer_labels_than_images_is_refused(tmp_path: Path) -> None:
    write_idx(tmp_path / "a-images-idx3-ubyte", np.zeros((4, 3, 3), dtype=np.uint8))
    write_idx(tmp_path / "a-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    (pair,) = find_idx_pairs(tmp_path)
    with pytest.raises(IdxError, match=r"a-labels-idx1-ubyte: 3 labels for the 4 images"):
        read_idx_pair(pair)
