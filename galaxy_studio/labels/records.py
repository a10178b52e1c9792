"""What a project hands out and takes in: images, labels and figures, as plain values.

CatalogItem is imported only where an item is made, so that opening a project and
labelling (the CLI's `project label`, scripts, the crash test) never pays for the image
readers' imports.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from galaxy_studio.data.catalog import CatalogItem

SOURCES: tuple[str, ...] = ("human", "import", "model")


@dataclass(frozen=True)
class ImageRecord:
    """One image of a project. `missing` is as found when the project was opened or relinked."""

    id: int
    path: str
    rel_path: str | None
    size: int
    content_hash: str
    index: int | None
    hdu: str | None
    missing: bool

    @property
    def name(self) -> str:
        """The file name (with its row), shown readably: a byte that is not UTF-8 as U+FFFD."""
        base = readable(os.path.basename(self.path))
        return base if self.index is None else f"{base}[{self.index}]"

    def item(self) -> CatalogItem:
        from galaxy_studio.data.catalog import CatalogItem

        return CatalogItem(self.path, index=self.index)


@dataclass(frozen=True)
class LabelRecord:
    image_id: int
    class_name: str
    labeller: str
    timestamp: float
    source: str
    confidence: float | None


@dataclass(frozen=True)
class BatchUndone:
    """What taking back a batch did: the images whose batch label was taken back, and those
    kept because their labeller changed them again after the batch."""

    batch_id: int
    image_ids: tuple[int, ...]
    kept: tuple[int, ...]


@dataclass(frozen=True)
class ImportedLabel:
    """A label arriving from outside (a file, a model) for an image that may not be in the
    project yet; a timestamp of None means "now"."""

    item: CatalogItem
    class_name: str
    labeller: str
    source: str = "import"
    confidence: float | None = None
    timestamp: float | None = None


@dataclass(frozen=True)
class Suggestion:
    """A model's proposed class for an image: `source` names the model (its run), and the
    entropy of its probabilities (nats) ranks how unsure it was."""

    image_id: int
    class_name: str
    source: str
    confidence: float
    entropy: float
    timestamp: float | None = None


@dataclass(frozen=True)
class ProjectStats:
    """Counts over the consensus labels (one per image).

    `labellers` counts each labeller's current labels; `disagreements` are images whose
    human labellers chose different classes, and `agreement` is the fraction of images with
    two or more human labellers on which they all agree (None when there are none).
    `sources` counts consensus labels by where they came from.
    """

    images: int
    labelled: int
    per_class: dict[str, int]
    labellers: dict[str, int]
    disagreements: int
    agreement: float | None
    missing: int = 0
    multiply_labelled: int = 0
    sources: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
