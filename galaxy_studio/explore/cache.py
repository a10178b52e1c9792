"""Embeddings computed once per data set and model, kept in the cache folder.

The key names the images (paths with size and modification time), the embedding source and
its settings, and the model file (path, size, modification time): retraining a model or
editing an image gives a new key, so a stale entry is never returned. Labels are not in the
key; they are re-read from the data on every hit. Entries are disposable, like thumbnails.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from galaxy_studio import paths
from galaxy_studio.data.labelled import LabelledData
from galaxy_studio.explore.embeddings import EmbedConfig, Embeddings
from galaxy_studio.model.errors import ModelError

# Settings that change where vectors are computed or how fast, never what they are.
_NOT_IN_KEY = ("data", "device", "batch_size", "threads", "use_cache")


def embeddings_cache_dir() -> Path:
    folder = paths.cache_dir() / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def file_identity(path: str | Path) -> str:
    """A file as the cache knows it: where it is, how big, when last written. Hashing a
    100 MB checkpoint on every look-up would cost more than many look-ups save."""
    resolved = Path(path).resolve()
    try:
        status = os.stat(resolved)
    except OSError:
        return f"{resolved}|missing"
    return f"{resolved}|{status.st_size}|{status.st_mtime_ns}"


def cache_key(inventory: LabelledData, config: EmbedConfig, model_identity: str) -> str:
    settings = {key: value for key, value in config.to_dict().items() if key not in _NOT_IN_KEY}
    text = json.dumps([inventory.files_fingerprint(), settings, model_identity], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_cached(key: str) -> Embeddings | None:
    """The entry, or None when there is none or it is damaged (it is then recomputed)."""
    path = embeddings_cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        return Embeddings.load(path)
    except ModelError:
        path.unlink(missing_ok=True)
        return None


def write_cached(key: str, embeddings: Embeddings) -> str | None:
    """None once stored, else why not: a full disk or a read-only cache must not lose the
    result the caller is waiting for, so the caller only warns."""
    path = embeddings_cache_dir() / f"{key}.npz"
    try:
        embeddings.save(path)
    except OSError as exc:
        return f"{path}: the embeddings could not be cached ({exc.strerror or exc})"
    return None
