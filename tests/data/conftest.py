"""Writers for the test files the data tests make in tmp_path (HDF5, crafted PNG headers)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

GALAXY10_RA = np.array([150.1, 210.92, 35.5, 359.9, 0.05])
GALAXY10_DEC = np.array([2.2, -1.13, 45.0, -30.0, 89.0])
GALAXY10_ANS = np.array([0, 5, 9, 2, 7], dtype=np.uint8)


@pytest.fixture
def galaxy10_file(tmp_path: Path) -> Callable[..., tuple[Path, dict[str, np.ndarray]]]:
    """Write a Galaxy10 DECaLS-layout HDF5 file; returns its path and the arrays written."""

    def write(
        name: str = "Galaxy10_DECals.h5", *, labels: bool = True, positions: bool = True
    ) -> tuple[Path, dict[str, np.ndarray]]:
        rng = np.random.default_rng(10)
        arrays: dict[str, Any] = {
            "images": rng.integers(0, 256, (5, 256, 256, 3), dtype=np.uint8),
        }
        if labels:
            arrays["ans"] = GALAXY10_ANS
        if positions:
            arrays["ra"] = GALAXY10_RA
            arrays["dec"] = GALAXY10_DEC
            arrays["redshift"] = np.array([0.01, 0.05, 0.1, 0.2, 0.3])
            arrays["pxscale"] = np.full(5, 0.262)
        path = tmp_path / name
        with h5py.File(path, "w") as handle:
            for key, value in arrays.items():
                handle.create_dataset(key, data=value)
        return path, arrays

    return write


@pytest.fixture
def png_claiming() -> Callable[[Path, int, int], Path]:
    """Write a valid PNG whose header claims width x height but holds almost no data."""

    def write(path: Path, width: int, height: int) -> Path:
        def chunk(kind: bytes, payload: bytes) -> bytes:
            crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
            return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        path.write_bytes(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b"")
        )
        return path

    return write
