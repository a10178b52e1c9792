"""Thumbnail disk cache: content-keyed, never serving stale or half-written entries."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galaxy_studio import atomic_files
from galaxy_studio.data import thumbnails
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.display import DisplaySettings
from galaxy_studio.data.thumbnails import ThumbnailCache, content_fingerprint


def write_png(path: Path, value: int, shape: tuple[int, int] = (40, 60)) -> Path:
    data = np.full(shape, value, np.uint8)
    data[shape[0] // 2, shape[1] // 2] = 255
    Image.fromarray(data).save(path)
    return path


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    original = thumbnails.read_item

    def counting(item: CatalogItem, **kwargs: object):  # noqa: ANN202
        reads.append(item.path)
        return original(item, **kwargs)

    monkeypatch.setattr(thumbnails, "read_item", counting)
    return reads


def test_fingerprint_follows_content_not_name(tmp_path: Path) -> None:
    a = write_png(tmp_path / "a.png", 10)
    copy = tmp_path / "moved.png"
    shutil.copyfile(a, copy)
    assert content_fingerprint(a) == content_fingerprint(copy)
    write_png(copy, 11)
    assert content_fingerprint(a) != content_fingerprint(copy)


def test_second_request_is_served_from_disk(tmp_path: Path, counted_reads: list[str]) -> None:
    path = write_png(tmp_path / "a.png", 10)
    cache = ThumbnailCache(tmp_path / "cache")
    first = cache.thumbnail(CatalogItem(str(path)), 32)
    again = ThumbnailCache(tmp_path / "cache").thumbnail(CatalogItem(str(path)), 32)
    assert first.shape == (32, 32, 3)
    assert np.array_equal(first, again)
    assert counted_reads == [str(path)]


def test_settings_and_size_are_part_of_the_key(tmp_path: Path, counted_reads: list[str]) -> None:
    item = CatalogItem(str(write_png(tmp_path / "a.png", 10)))
    cache = ThumbnailCache(tmp_path / "cache")
    plain = cache.thumbnail(item, 32)
    inverted = cache.thumbnail(item, 32, DisplaySettings(invert=True, stretch="linear", interval="minmax", linked=True))
    cache.thumbnail(item, 48)
    assert len(counted_reads) == 3
    assert np.array_equal(inverted[16, 16], 255 - plain[16, 16])


def test_edited_file_is_rendered_again(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", 10)
    cache = ThumbnailCache(tmp_path / "cache")
    before = cache.thumbnail(CatalogItem(str(path)), 32)
    write_png(path, 200, shape=(60, 40))
    after = cache.thumbnail(CatalogItem(str(path)), 32)
    assert not np.array_equal(before, after)


def test_damaged_entry_is_replaced(tmp_path: Path, counted_reads: list[str]) -> None:
    item = CatalogItem(str(write_png(tmp_path / "a.png", 10)))
    cache = ThumbnailCache(tmp_path / "cache")
    good = cache.thumbnail(item, 32)
    (entry,) = (tmp_path / "cache").rglob("*.png")
    entry.write_bytes(b"\x89PNG broken")
    assert np.array_equal(cache.thumbnail(item, 32), good)
    assert len(counted_reads) == 2


def test_unreadable_files_raise_and_are_not_cached(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really")
    cache = ThumbnailCache(tmp_path / "cache")
    with pytest.raises(CutoutError, match="bad.jpg"):
        cache.thumbnail(CatalogItem(str(bad)), 32)
    assert not list((tmp_path / "cache").rglob("*.png"))


def test_unwritable_cache_still_returns_the_thumbnail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    item = CatalogItem(str(write_png(tmp_path / "a.png", 10)))
    cache = ThumbnailCache(tmp_path / "cache")

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files.os, "replace", full_disk)
    assert cache.thumbnail(item, 32).shape == (32, 32, 3)
    assert not list((tmp_path / "cache").rglob("*.png"))
    assert not list((tmp_path / "cache").rglob("*.partial"))
