"""Thumbnails for the library grid, cached on disk.

The cache key is a fingerprint of the file's content (size plus sampled blocks, so a
20,000-file folder is keyed without reading every byte), the item within the file, the
display settings and the thumbnail size. Stale entries are never served because an edited
file changes its fingerprint; old entries are simply left for the OS to clean.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import suppress
from pathlib import Path

import numpy as np
from PIL import Image

from galaxy_studio.atomic_files import write_atomically
from galaxy_studio.data.catalog import CatalogItem, read_item
from galaxy_studio.data.display import DisplaySettings, default_settings, fit_into_square, render_rgb

_BLOCK = 64 * 1024


def content_fingerprint(path: str | Path) -> str:
    """Hash of the file size and its first, middle and last 64 KiB.

    Cheap enough for thousands of files, and content-based so that renaming or moving a
    file keeps its thumbnails while editing it invalidates them.
    """
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        digest.update(str(size).encode())
        for offset in sorted({0, max(0, size // 2 - _BLOCK // 2), max(0, size - _BLOCK)}):
            handle.seek(offset)
            digest.update(handle.read(_BLOCK))
    return digest.hexdigest()


def make_thumbnail(item: CatalogItem, size: int, settings: DisplaySettings | None = None) -> np.ndarray:
    """A size x size uint8 RGB thumbnail; reads a decimated image when the file is large."""
    cutout = read_item(item, max_side=size)
    return fit_into_square(render_rgb(cutout, settings or default_settings(cutout)), size)


class ThumbnailCache:
    """Disk cache of rendered thumbnails as PNG files, safe to use from several threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _entry(self, item: CatalogItem, size: int, settings: DisplaySettings | None) -> Path:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(content_fingerprint(item.path).encode())
        digest.update(f"|{item.index}|{size}|".encode())
        digest.update(settings.cache_key().encode() if settings else b"auto")
        key = digest.hexdigest()
        return self.directory / key[:2] / f"{key}.png"

    def lookup(self, item: CatalogItem, size: int, settings: DisplaySettings | None = None) -> np.ndarray | None:
        """The cached thumbnail, or None on a miss (a damaged entry counts as a miss)."""
        entry = self._entry(item, size, settings)
        if not entry.exists():
            return None
        try:
            with Image.open(entry) as cached:
                return np.asarray(cached.convert("RGB"))
        except OSError:
            entry.unlink(missing_ok=True)
            return None

    def store(self, item: CatalogItem, size: int, settings: DisplaySettings | None, rgb: np.ndarray) -> None:
        self._store(self._entry(item, size, settings), rgb)

    def thumbnail(self, item: CatalogItem, size: int, settings: DisplaySettings | None = None) -> np.ndarray:
        """The cached thumbnail, rendering and storing it on a miss. Raises CutoutError for
        unreadable files (those are never cached, so a repaired file shows up next time)."""
        rgb = self.lookup(item, size, settings)
        if rgb is None:
            rgb = make_thumbnail(item, size, settings)
            self.store(item, size, settings, rgb)
        return rgb

    def _store(self, entry: Path, rgb: np.ndarray) -> None:
        """Write through a temporary file and rename, so a crash never leaves half a PNG.
        A full or read-only disk only costs the cache, never the thumbnail."""
        with suppress(OSError):
            entry.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(
                entry, lambda stream: Image.fromarray(rgb).save(stream, format="PNG", compress_level=1), durable=False
            )
