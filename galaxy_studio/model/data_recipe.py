"""What a training run decides from its data before it decodes everything: the crop, how
the channels are made and how training images are turned, with the reasons in words.

An astronomer's data may be small centred optical galaxies, radio lobes that reach the
stamp's edge, sparse point sources or pictures with an up and a down; one fixed recipe is a
trap for all but one of them. A sample of the training images, viewed whole and grey,
settles each choice the user left open, and the run says what it chose and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from galaxy_studio.data.catalog import read_item
from galaxy_studio.data.cutout import Cutout, CutoutError
from galaxy_studio.data.labelled import LabelledData
from galaxy_studio.model.config import TURN_INVARIANT_ARCHITECTURES, TrainConfig
from galaxy_studio.model.datasets import ROTATION_CONTEXT
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preferred_orientation import orientation_check
from galaxy_studio.model.preprocessing import Preprocessing, choose_preprocessing, describe_channels, extract_channels
from galaxy_studio.model.source_extent import choose_crop

# Training images viewed to choose, and the side they are viewed at.
SAMPLE_IMAGES = 200
VIEW_SIDE = 96
# What `rotations="auto"` turns images by when they lie at any angle.
AUTO_ROTATIONS = "right-angles"
# ... and for a network that is blind to right-angle turns and mirrors: those would be a no-op.
AUTO_ROTATIONS_INVARIANT = "any"


@dataclass(frozen=True)
class DataRecipe:
    """The run's preprocessing, how its training images turn ("any", "right-angles" or
    "none") and the sentences that say why."""

    prep: Preprocessing
    rotations: str
    notes: tuple[str, ...]

    @property
    def context(self) -> float:
        """How much wider than the crop training images are decoded: rotations by any angle
        need sky in the corners; right angles and no augmentation need none."""
        return ROTATION_CONTEXT if self.rotations == "any" else 1.0

    def with_prep(self, prep: Preprocessing) -> DataRecipe:
        return DataRecipe(prep, self.rotations, self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {"preprocessing": self.prep.to_dict(), "rotations": self.rotations, "notes": list(self.notes)}

    @classmethod
    def from_saved(cls, saved: dict[str, Any], config: TrainConfig) -> DataRecipe:
        """The recipe of a run being resumed (runs saved before it was recorded turned by any angle)."""
        fallback = "any" if config.augment else "none"
        return cls(
            Preprocessing.from_dict(saved["preprocessing"]),
            str(saved.get("rotations", fallback)),
            tuple(saved.get("preprocessing_notes", ())),
        )


def choose_data_recipe(config: TrainConfig, labelled: LabelledData, train_idx: np.ndarray) -> DataRecipe:
    """Settle what `config` leaves open from a sample of the training images."""
    try:
        sample = read_item(labelled.items[int(train_idx[0])], max_side=256)
    except CutoutError as exc:
        raise ModelError(str(exc)) from exc
    notes: list[str] = []
    wants_crop = config.crop_fraction is None
    wants_rotations = config.augment and config.rotations == "auto"
    views = (
        _grey_views(config, labelled, spread_sample(train_idx, SAMPLE_IMAGES), sample)
        if wants_crop or wants_rotations
        else []
    )
    crop = config.crop_fraction
    if crop is None:
        choice = choose_crop(views)
        crop = choice.fraction
        notes.append(choice.reason())
    prep = choose_preprocessing(
        sample, size=config.size, crop_fraction=crop, channels=config.channels, bands=config.bands
    )
    notes.append(describe_channels(sample, prep))
    if not config.augment:
        rotations = "none"
    elif wants_rotations:
        check = orientation_check(views)
        rotations = "none" if check.oriented else _auto_rotations(config.arch)
        notes.append(check.reason())
        notes += _invariance_notes(config.arch, rotations, oriented=check.oriented)
    else:
        rotations = config.rotations
        notes += _invariance_notes(config.arch, rotations, oriented=False)
    return DataRecipe(prep, rotations, tuple(notes))


def _auto_rotations(arch: str) -> str:
    """Right angles for most networks: exact pixels, and no wider decoding. A network that
    averages over the 8 right-angle turns and mirrors (galaxy-cnn-d4) gives the same output,
    in training too, for every such turn of a batch, so they would teach it nothing; turns by
    any angle (nearest pixel, so noise stays as it is) still show it the angles in between."""
    return AUTO_ROTATIONS_INVARIANT if arch in TURN_INVARIANT_ARCHITECTURES else AUTO_ROTATIONS


def _invariance_notes(arch: str, rotations: str, *, oriented: bool) -> list[str]:
    """What a turn-invariant network means for the data: right-angle augmentation wasted, or
    a network that cannot tell apart images that differ by a turn (a 6 and a 9)."""
    if arch not in TURN_INVARIANT_ARCHITECTURES:
        return []
    if oriented:
        return [
            f"the images share an orientation, but {arch} cannot tell an image from its turned or mirrored copy "
            "(a 6 from a 9): choose galaxy-cnn for such data"
        ]
    seen = f"{arch} sees every right-angle turn and mirror of each image already"
    if rotations == "right-angles":
        return [f"{seen}: turning by right angles adds nothing"]
    if rotations == "any":
        return [f"{seen}: turned by any angle for the rest"]
    return []


def spread_sample(indices: np.ndarray, count: int) -> np.ndarray:
    """`count` of `indices` evenly spread over them (all when there are fewer), so that a
    sample (for choosing, or timing) holds every class and every part of the folder."""
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(np.int64)]


def _grey_views(config: TrainConfig, labelled: LabelledData, indices: np.ndarray, sample: Cutout) -> list[np.ndarray]:
    """Whole stamps as the network's channels would show them, averaged to grey at one size;
    unreadable ones are left out (training reports them)."""
    whole = choose_preprocessing(
        sample, size=VIEW_SIDE, crop_fraction=1.0, channels=config.channels, bands=config.bands
    )
    views: list[np.ndarray] = []
    for index in indices:
        try:
            cutout = read_item(labelled.items[int(index)], max_side=256)
            views.append(extract_channels(cutout, whole).astype(np.float32).mean(axis=0))
        except (CutoutError, ModelError):
            continue
    return views
