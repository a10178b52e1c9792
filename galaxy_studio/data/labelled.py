"""Images of a data source with their labels: the one container that training, evaluation,
distillation and exploring read a source into.

Training keeps only labelled images; exploring keeps all of them, because the unlabelled
ones are the point, with UNLABELLED in place of a class. Labels are indices into `classes`,
so arrays of them stay small and a model's class order travels with them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from galaxy_studio.data.catalog import CatalogItem

UNLABELLED = -1


@dataclass(frozen=True)
class LabelledData:
    """Images of `source` in its order with class indices into `classes` (UNLABELLED: no
    label yet); `notes` says what was left out and why."""

    items: tuple[CatalogItem, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, indices: np.ndarray) -> LabelledData:
        return LabelledData(
            tuple(self.items[int(i)] for i in indices), self.labels[indices], self.classes, self.source, self.notes
        )

    def fingerprint(self) -> str:
        """A short hash of the (all labelled) images' names and classes: the same data gives the same
        split, so a model's test split can be rebuilt later, even after the folder moved."""
        digest = hashlib.sha256()
        for item, label in zip(self.items, self.labels):
            digest.update(f"{item.name}|{self.classes[int(label)]}\n".encode())
        return digest.hexdigest()[:16]

    def files_fingerprint(self) -> str:
        """Which files, and which versions of them: a path with its size and modification time.
        Labels are left out on purpose, so labelling more images keeps cached embeddings valid."""
        digest = hashlib.sha256()
        stats: dict[str, str] = {}
        for item in self.items:
            if item.path not in stats:
                try:
                    status = os.stat(item.path)
                    stats[item.path] = f"{status.st_size}:{status.st_mtime_ns}"
                except OSError:
                    stats[item.path] = "missing"
            digest.update(f"{item.path}|{item.index}|{stats[item.path]}\n".encode("utf-8", "surrogateescape"))
        return digest.hexdigest()[:20]
