"""The files behind a project's images: sizes and content hashes, and finding moved ones.

The hash is thumbnails.content_fingerprint (size plus the first, middle and last 64 KiB),
the same key the thumbnail cache uses: cheap for 20,000 files and for the 2.5 GB Galaxy10
file, and with the size it tells a moved file from a different one. It is imported where
it is used so that opening a project and labelling never load the image readers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from galaxy_studio.events import CancelToken, EventSink, Progressed

ImageKey = tuple[str, "int | None"]
_PROGRESS_EVERY = 100


def measure_files(
    keys: list[ImageKey], emit: EventSink, cancel: CancelToken, what: str
) -> tuple[dict[ImageKey, tuple[int, str]], list[tuple[str, str]]]:
    """(size, hash) per image key, once per file (Galaxy10 rows share theirs), and the files
    that could not be read, each reported once."""
    from galaxy_studio.data.thumbnails import content_fingerprint

    by_file: dict[str, tuple[int, str] | str] = {}
    measured: dict[ImageKey, tuple[int, str]] = {}
    skipped: list[tuple[str, str]] = []
    for done, key in enumerate(keys):
        if done % _PROGRESS_EVERY == 0:
            cancel.raise_if_set()
            emit(Progressed(done, len(keys), what))
        path = key[0]
        if path not in by_file:
            try:
                by_file[path] = (os.stat(path).st_size, content_fingerprint(path))
            except FileNotFoundError:
                by_file[path] = "file not found"
                skipped.append((path, "file not found"))
            except OSError as exc:
                by_file[path] = "unreadable"
                skipped.append((path, f"cannot read: {exc.strerror or exc}"))
        result = by_file[path]
        if not isinstance(result, str):
            measured[key] = result
    return measured, skipped


def same_content(path: str, size: int, digest: str) -> bool:
    from galaxy_studio.data.thumbnails import content_fingerprint

    try:
        return os.path.isfile(path) and os.stat(path).st_size == size and content_fingerprint(path) == digest
    except OSError:
        return False


def find_moved(
    wanted: dict[str, tuple[int, str]], dirs: list[Path], taken: set[str], file_limit: int | None
) -> dict[str, str]:
    """Old path -> new path for files under `dirs` with the wanted (size, hash), preferring a
    file of the same name when several copies match. Paths in `taken` are never chosen."""
    from galaxy_studio.data.thumbnails import content_fingerprint

    by_size: dict[int, list[str]] = defaultdict(list)
    for old, (size, _) in wanted.items():
        by_size[size].append(old)
    candidates: dict[str, list[str]] = defaultdict(list)
    for path, size in walk_files(dirs, file_limit):
        if size not in by_size or path in taken:
            continue
        try:
            digest = content_fingerprint(path)
        except OSError:
            continue
        for old in by_size[size]:
            if wanted[old][1] == digest:
                candidates[old].append(path)
    found: dict[str, str] = {}
    used: set[str] = set()
    for old, paths in candidates.items():
        free = [path for path in paths if path not in used]
        same_name = [path for path in free if os.path.basename(path) == os.path.basename(old)]
        if free:
            found[old] = (same_name or free)[0]
            used.add(found[old])
    return found


def walk_files(dirs: list[Path], file_limit: int | None) -> Iterator[tuple[str, int]]:
    """(absolute path, size) of the files under `dirs` in name order, skipping hidden folders
    and project backup folders, stopping after `file_limit` files."""
    seen = 0
    stack = [os.path.abspath(folder) for folder in reversed(dirs) if os.path.isdir(folder)]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.endswith(".backups"):
                        subfolders.append(entry.path)
                elif entry.is_file():
                    seen += 1
                    if file_limit is not None and seen > file_limit:
                        return
                    yield entry.path, entry.stat().st_size
            except OSError:
                continue
        stack.extend(reversed(subfolders))
