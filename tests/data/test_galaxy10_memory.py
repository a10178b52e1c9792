"""A Galaxy10-layout file opens lazily: its first thumbnails render without loading the rest."""

from __future__ import annotations

import gc
from pathlib import Path

import h5py
import numpy as np
import psutil

from galaxy_studio.data.catalog import open_catalog
from galaxy_studio.data.thumbnails import ThumbnailCache

N_IMAGES = 2000


def write_galaxy10_layout(path: Path, n: int) -> None:
    """Per-image gzip chunks like the real file; smooth images so writing stays quick."""
    yy, xx = np.mgrid[:256, :256]
    base = (200 * np.exp(-((xx - 128) ** 2 + (yy - 128) ** 2) / 800.0)).astype(np.uint8)
    with h5py.File(path, "w") as h5:
        images = h5.create_dataset(
            "images", (n, 256, 256, 3), dtype="uint8", chunks=(1, 256, 256, 3), compression="gzip", compression_opts=1
        )
        block = np.repeat(np.repeat(base[None, :, :, None], 100, 0), 3, 3)
        for start in range(0, n, 100):
            images[start : start + 100] = block + (np.arange(100, dtype=np.uint8) % 50)[:, None, None, None]
        h5["ans"] = (np.arange(n) % 10).astype(np.uint8)
        h5["ra"] = np.linspace(150, 160, n)
        h5["dec"] = np.linspace(-5, 5, n)
        h5["redshift"] = np.full(n, 0.05)
        h5["pxscale"] = np.full(n, 0.262)


def test_first_hundred_thumbnails_render_with_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "Galaxy10_DECals.h5"
    write_galaxy10_layout(path, N_IMAGES)
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss

    catalog = open_catalog(path)
    assert len(catalog.items) == N_IMAGES
    assert catalog.items[13].label == catalog.classes[3]
    cache = ThumbnailCache(tmp_path / "thumbs")
    thumbs = [cache.thumbnail(item, 96) for item in catalog.items[:100]]

    grown_mb = (process.memory_info().rss - before) / 2**20
    assert all(t.shape == (96, 96, 3) for t in thumbs)
    assert thumbs[0][48, 48].max() > thumbs[0][2, 2].max(), "the galaxy is brighter than the corner"
    assert grown_mb < 200, f"resident memory grew by {grown_mb:.0f} MB"
