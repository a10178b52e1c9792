"""IDX files (the MNIST format), plain or gzip-compressed, and the image/label pairs they come in.

IDX is a 4-byte magic (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the values big-endian in C order. Downloads get cut short and
renamed, so every check names the file: a wrong magic, an unknown type, a payload shorter or
longer than the header promises, or images and labels that do not pair up.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galaxy_studio.data.cutout import CutoutError, require_file

_GZIP_MAGIC = b"\x1f\x8b"
# Type code -> big-endian dtype, as the format defines them.
_IDX_TYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TYPE_CODES = {np.dtype(dtype).newbyteorder("="): code for code, dtype in _IDX_TYPES.items()}
# "train-images-idx3-ubyte.gz", "t10k-labels.idx1-ubyte", "train-images-idx3-ubyte.APPROX.gz"
_PAIR_NAME = re.compile(r"^(?P<stem>.+?)-(?P<kind>images|labels)[-.]idx(?P<ndim>\d)-ubyte")


class IdxError(CutoutError):
    """An IDX file is damaged, truncated or not IDX at all; the message names the file."""


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order; gzip is detected by content,
    not by name, because renamed downloads are common."""
    path = Path(path)
    require_file(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise IdxError(path, f"damaged or truncated gzip stream ({exc})") from exc
    if len(raw) < 4:
        raise IdxError(path, f"only {len(raw)} bytes; an IDX header needs at least 4")
    if raw[0] != 0 or raw[1] != 0:
        raise IdxError(path, f"not an IDX file (magic {raw[:4].hex()} does not start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise IdxError(
            path, f"unknown IDX value type 0x{code:02x} (known: {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})"
        )
    if ndim == 0:
        raise IdxError(path, "IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(path, f"truncated header: {ndim} dimensions need {header} bytes, the file has {len(raw)}")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    payload = len(raw) - header
    if payload < expected:
        raise IdxError(path, f"truncated: shape {shape} needs {expected} bytes of data, the file has {payload}")
    if payload > expected:
        raise IdxError(
            path,
            f"{payload - expected} bytes after the data that shape {shape} declares (wrong header or two files joined)",
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, values: np.ndarray, *, compress: bool | None = None) -> None:
    """Write `values` as IDX (gzip when `compress`, or by default when the name ends in .gz);
    tests and users making small IDX sets need the inverse of `read_idx`."""
    path = Path(path)
    array = np.asarray(values)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store {array.dtype}; use one of uint8, int8, int16, int32, float32, float64")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    raw = header + np.ascontiguousarray(array, dtype=np.dtype(_IDX_TYPES[code])).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        raw = gzip.compress(raw)
    path.write_bytes(raw)


@dataclass(frozen=True)
class IdxPair:
    """An images file and its labels file, e.g. MNIST's "train" or "t10k" pair."""

    stem: str
    images: Path
    labels: Path


def find_idx_pairs(folder: str | Path) -> list[IdxPair]:
    """Image/label IDX pairs in `folder`, matched by the name before "-images"/"-labels"
    (so "train-images-idx3-ubyte.APPROX.gz" pairs with "train-labels-idx1-ubyte.gz")."""
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(folder).iterdir()):
        match = _PAIR_NAME.match(path.name)
        if match and path.is_file():
            found.setdefault(match["stem"], {})[match["kind"]] = path
    return [
        IdxPair(stem, kinds["images"], kinds["labels"])
        for stem, kinds in sorted(found.items())
        if "images" in kinds and "labels" in kinds
    ]


def is_idx_source(path: str | Path) -> bool:
    """True for an IDX images file or a folder holding at least one IDX image/label pair."""
    path = Path(path)
    if path.is_dir():
        return bool(find_idx_pairs(path))
    match = _PAIR_NAME.match(path.name)
    return bool(match and match["kind"] == "images")


def read_idx_pair(pair: IdxPair) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) images and (N,) int64 labels, checked to belong together."""
    images, labels = read_idx(pair.images), read_idx(pair.labels)
    if images.ndim not in (3, 4):
        raise IdxError(pair.images, f"images must be (N, H, W) or (N, H, W, C), got shape {images.shape}")
    if labels.ndim != 1:
        raise IdxError(pair.labels, f"labels must be one value per image, got shape {labels.shape}")
    if len(images) != len(labels):
        raise IdxError(pair.labels, f"{len(labels)} labels for the {len(images)} images of {pair.images.name}")
    return images, labels.astype(np.int64)


def companion_pair(images: str | Path) -> IdxPair:
    """The pair an images file belongs to: its labels file is the one beside it with the same stem."""
    images = Path(images)
    match = _PAIR_NAME.match(images.name)
    if not match or match["kind"] != "images":
        raise IdxError(images, "not named like an IDX images file (STEM-images-idx3-ubyte[.gz])")
    for pair in find_idx_pairs(images.parent):
        if pair.images == images:
            return pair
    raise IdxError(images, f"no labels file {match['stem']}-labels-idx1-ubyte[.gz] beside it")
