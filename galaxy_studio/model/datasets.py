"""Labelled images for training and evaluation: where they come from, how they are split,
and the torch Dataset that serves them.

Decoding a JPEG and rendering it costs far more than a training step of a small net, so
every image is decoded and prepared once, by a thread pool, into one in-memory array;
the Dataset then only normalises and (when training) rotates and flips. Galaxies have no
preferred orientation, so rotations are by any angle, and the array keeps a margin of sky
around the crop so that rotated corners show sky, not padding.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogItem, open_catalog, read_item
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.labelled import LabelledData
from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, Warned, ignore
from galaxy_studio.model.config import DEFAULT_FRACTIONS
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.preprocessing import Preprocessing, decode_side, extract_channels, normalise

PROJECT_SUFFIX = ".gsproj"
# A rotated square needs sqrt(2) times its side of real pixels to fill its corners.
ROTATION_CONTEXT = math.sqrt(2.0)
_PROGRESS_STEPS = 100


def load_labelled_data(path: str | Path, *, classes: Sequence[str] | None = None) -> LabelledData:
    """Labelled images from a project (*.gsproj), a folder per class, a CSV with a label
    column or a Galaxy10 HDF5 file.

    Without `classes` the classes are those that have images, in the source's order, and
    at least two are needed. With `classes` (a trained model's), labels are mapped onto
    them and a class the model does not know is an error.
    """
    path = Path(path)
    if path.suffix.lower() == PROJECT_SUFFIX:
        pairs, order, notes = _project_pairs(path)
    else:
        pairs, order, notes = _catalog_pairs(path)
    if not pairs:
        raise ModelError(
            f"{path}: no labelled images (use a folder with a sub-folder per class, a CSV with a "
            "label column, a Galaxy10 HDF5 file or a labelled project)"
        )
    present = Counter(label for _, label in pairs)
    if classes is None:
        known = [name for name in order if name in present] + sorted(set(present) - set(order))
        if len(known) < 2:
            raise ModelError(
                f"{path}: all labelled images are of one class ({known[0]}); a classifier needs two or more"
            )
    else:
        known = list(classes)
        unknown = sorted(set(present) - set(known))
        if unknown:
            raise ModelError(
                f"{path}: labels the model does not know: {', '.join(unknown)} (its classes: {', '.join(known)})"
            )
    index = {name: i for i, name in enumerate(known)}
    items = tuple(item for item, _ in pairs)
    labels = np.array([index[label] for _, label in pairs], dtype=np.int64)
    return LabelledData(items, labels, tuple(known), str(path), tuple(notes))


def _catalog_pairs(path: Path) -> tuple[list[tuple[CatalogItem, str]], list[str], list[str]]:
    try:
        catalog = open_catalog(path)
    except CutoutError as exc:
        raise ModelError(str(exc)) from exc
    pairs = [(item, item.label) for item in catalog.items if item.label]
    notes = []
    unlabelled = len(catalog.items) - len(pairs)
    if unlabelled:
        notes.append(f"{counted(unlabelled, 'unlabelled image')} left out")
    if catalog.skipped:
        notes.append(f"{counted(len(catalog.skipped), 'unreadable or unsupported file')} left out")
    return pairs, list(catalog.classes), notes


def _project_pairs(path: Path) -> tuple[list[tuple[CatalogItem, str]], list[str], list[str]]:
    """The label that counts (labels.consensus.counted_label) for every image: a person's or
    an import's consensus. A model's own predictions are left out: training on them would
    only teach the model itself."""
    from galaxy_studio.labels.errors import ProjectError
    from galaxy_studio.labels.store import Project

    try:
        with Project.open(path, read_only=True) as project:
            order = project.classes
            images = project.images()
            labels = project.counted_labels()
            guessed = project.counted_labels(model_labels_count=True).keys() - labels.keys()
    except ProjectError as exc:
        raise ModelError(str(exc)) from exc
    pairs: list[tuple[CatalogItem, str]] = []
    missing = by_model = unlabelled = 0
    for image in images:
        label = labels.get(image.id)
        if image.id in guessed:
            by_model += 1
        elif label is None:
            unlabelled += 1
        elif image.missing:
            missing += 1
        else:
            pairs.append((image.item(), label.class_name))
    notes = [
        f"{counted(count, what)}{detail} left out"
        for count, what, detail in (
            (unlabelled, "unlabelled image", ""),
            (by_model, "image", " labelled only by a model"),
            (missing, "labelled image", " missing on disk"),
        )
        if count
    ]
    return pairs, order, notes


def stratified_split(
    labels: np.ndarray,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    classes: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices holding each class in the same proportions.

    Each class is shuffled by its own seeded stream, so adding images of one class never
    reshuffles another. Test and validation get round(n x fraction) of a class, and a class
    too small to give every part with a share at least one image is refused, named from
    `classes` (its index without them).
    """
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ModelError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    _require_splittable(labels, fractions, classes)
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[np.random.default_rng([seed, int(label)]).permutation(len(members))]
        _, n_val, n_test = _part_sizes(len(members), fractions)
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(part)).astype(np.int64) for part in parts)
    return train, val, test


def _part_sizes(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """(train, val, test) image counts `stratified_split` gives a class of `n` images."""
    n_test = min(round(n * fractions[2]), n - 1)
    n_val = max(0, min(round(n * fractions[1]), n - 1 - n_test))
    return n - n_test - n_val, n_val, n_test


def min_images_per_class(fractions: Sequence[float]) -> int:
    """The fewest images a class needs so that every part of the split with a share above
    zero gets at least one of them (4 for 70/15/15: round(3 x 0.15) is 0)."""
    n = 1
    while not all(size >= 1 for size, share in zip(_part_sizes(n, fractions), fractions) if share > 0):
        n += 1
    return n


def _require_splittable(labels: np.ndarray, fractions: Sequence[float], classes: Sequence[str]) -> None:
    """Refuse, before any image is decoded, labels that leave a part of the split without a
    class: training would run, then fail scoring an empty validation or test part."""
    needed = min_images_per_class(fractions)
    counts = Counter(int(label) for label in labels)
    short = sorted((count, label) for label, count in counts.items() if count < needed)
    if short:
        parts = "/".join(f"{round(share * 100)}" for share in fractions)
        listed = ", ".join(
            f"{classes[label] if label < len(classes) else f'class {label}'} has {count}" for count, label in short
        )
        raise ModelError(
            f"too few labelled images to split {parts} into train/validation/test: {needed} per class are "
            f"needed ({listed})",
            "label more images of those classes",
        )


def stratified_folds(
    labels: np.ndarray,
    k: int,
    seed: int = 0,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    classes: Sequence[str] = (),
) -> np.ndarray:
    """The fold (1 to k) of every image for k-fold cross-validation: each fold holds every
    class in the same proportions, within one image, and the folds' sizes differ by at most one.

    Each class is shuffled by its own seeded stream (another than `stratified_split`'s), then
    the classes' images are dealt to the folds in turn. Labels too few for `fold_split` to give
    every fold a test image of each class and a training and validation part are refused
    first, the short classes named from `classes`."""
    if k < 2:
        raise ModelError(f"cross-validation needs at least 2 folds, got {k}")
    _require_foldable(labels, k, fractions, classes)
    shuffled = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        shuffled.append(members[np.random.default_rng([seed, int(label), k]).permutation(len(members))])
    order = np.concatenate(shuffled)
    folds = np.empty(len(labels), dtype=np.int64)
    folds[order] = np.arange(len(order)) % k + 1
    return folds


def fold_split(
    labels: np.ndarray,
    fold: int,
    k: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    classes: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices of fold `fold` (1 to k) of `stratified_folds`: the fold's
    images are the test part, and the rest is split by `stratified_split` into train and
    validation in the ratio of `fractions`' first two (70:15 by default). Validation stays
    inside the rest, so a fold's test images never choose its epoch or its weights."""
    if not 1 <= fold <= k:
        raise ModelError(f"fold {fold} of {k} does not exist: folds are numbered 1 to {k}")
    test = np.flatnonzero(stratified_folds(labels, k, seed, fractions=fractions, classes=classes) == fold)
    rest = np.setdiff1d(np.arange(len(labels)), test)
    train, val, _ = stratified_split(labels[rest], _inner_fractions(fractions), seed, classes=classes)
    return rest[train], rest[val], test


def run_split(
    labels: np.ndarray,
    fractions: Sequence[float],
    seed: int,
    fold: Sequence[int] | None = None,
    *,
    classes: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices of a training run: `stratified_split`, or with `fold`
    (i, k) `fold_split`'s i-th of k folds. Training and `evaluate --split test` both call it,
    so a model's test part can be rebuilt from its split record."""
    if fold is None:
        return stratified_split(labels, fractions, seed, classes=classes)
    index, k = fold
    return fold_split(labels, index, k, fractions, seed, classes=classes)


def _inner_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """The (train, val, 0) fractions that split a fold's rest in the ratio of `fractions`' first two."""
    if len(fractions) != 3 or min(fractions) < 0 or fractions[0] + fractions[1] <= 0:
        raise ModelError(
            f"split fractions must be three non-negative numbers with train + val above 0, got {list(fractions)}"
        )
    kept = fractions[0] + fractions[1]
    return fractions[0] / kept, fractions[1] / kept, 0.0


def min_images_per_class_for_folds(k: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> int:
    """The fewest images a class needs for k-fold cross-validation: one in every fold's test
    part, and enough left beside the largest fold for its train and validation parts."""
    needed = min_images_per_class(_inner_fractions(fractions))
    n = k
    while n - math.ceil(n / k) < needed:
        n += 1
    return n


def _require_foldable(labels: np.ndarray, k: int, fractions: Sequence[float], classes: Sequence[str]) -> None:
    """Refuse, before any image is decoded, labels that leave a fold without a class."""
    needed = min_images_per_class_for_folds(k, fractions)
    counts = Counter(int(label) for label in labels)
    short = sorted((count, label) for label, count in counts.items() if count < needed)
    if short:
        parts = ":".join(f"{round(share * 100)}" for share in fractions[:2])
        listed = ", ".join(
            f"{classes[label] if label < len(classes) else f'class {label}'} has {count}" for count, label in short
        )
        raise ModelError(
            f"too few labelled images for {k}-fold cross-validation (a test image of each class in every fold, "
            f"the rest split {parts} into train/validation): {needed} per class are needed ({listed})",
            "label more images of those classes, or use fewer folds",
        )


def prepare_pixels(
    items: Sequence[CatalogItem],
    prep: Preprocessing,
    *,
    context: float = 1.0,
    threads: int | None = None,
    what: str = "preparing images",
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> tuple[np.ndarray, list[int]]:
    """`extract_channels` of every item as one (N, C, S, S) array, decoded by a thread pool
    (Pillow and NumPy release the GIL), and the indices of items that could not be read
    (their rows are zero). A damaged file among thousands is reported, not fatal."""
    side = round(prep.size * context)
    dtype = np.uint8 if prep.channels == "display" else np.float32
    pixels = np.zeros((len(items), prep.n_channels, side, side), dtype=dtype)
    failed: list[int] = []
    max_side = decode_side(prep, context)

    def load(index: int) -> None:
        pixels[index] = extract_channels(read_item(items[index], max_side=max_side), prep, context=context)

    workers = threads or min(8, os.cpu_count() or 1)
    every = max(1, len(items) // _PROGRESS_STEPS)
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: dict[Future[None], int] = {pool.submit(load, i): i for i in range(len(items))}
        try:
            while pending:
                finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                cancel.raise_if_set()
                for future in finished:
                    index = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, (CutoutError, OSError)):
                        failed.append(index)
                        emit(Warned(f"left out {items[index].name}: {error}"))
                    elif error is not None:
                        raise error
                    done += 1
                    if done % every == 0 or done == len(items):
                        emit(Progressed(done, len(items), what))
        finally:
            for future in pending:
                future.cancel()
    return pixels, sorted(failed)


class GalaxyDataset(Dataset):
    """Prepared images as normalised tensors, optionally randomly rotated and flipped.

    `pixels` is `prepare_pixels` output; with augmentation it should carry the rotation
    margin (side >= size x sqrt 2). The random angle and flip of an image depend only on
    (seed, epoch, index), so an epoch replays identically after a resume, whatever order
    or worker the image is drawn in. The DataLoader fetches whole batches through
    `__getitems__`, so a batch is resampled in one call rather than image by image.

    `device` is where a batch is resampled and handed out. Resampling took three quarters of a
    batch's preparation on the CPU, and with a GPU training fed that way ran at 2,500 images/s
    where the network alone took 27,000 (H200, docs/gpu-results.md); on the GPU it costs next
    to nothing.
    """

    def __init__(
        self,
        pixels: np.ndarray,
        labels: np.ndarray,
        prep: Preprocessing,
        *,
        rotations: str,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if len(pixels) != len(labels):
            raise ValueError(f"{len(pixels)} images but {len(labels)} labels")
        self.pixels = pixels
        self.labels = np.asarray(labels, dtype=np.int64)
        self.prep = prep
        self.rotations = rotations
        self.seed = seed
        self.device = torch.device(device)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        order = np.asarray(indices, dtype=np.int64)
        images = torch.from_numpy(normalise(self.pixels[order], self.prep)).to(self.device, non_blocking=True)
        if self.rotations == "right-angles":
            draws = [np.random.default_rng([self.seed, self.epoch, int(i)]) for i in order]
            views = [(int(rng.integers(4)), bool(rng.random() < 0.5)) for rng in draws]
            images = centre_crop(right_angle_views(images, views), self.prep.size)
        elif self.rotations == "any":
            draws = [np.random.default_rng([self.seed, self.epoch, int(i)]) for i in order]
            angles = [float(rng.uniform(0.0, 2.0 * math.pi)) for rng in draws]
            flips = [bool(rng.random() < 0.5) for rng in draws]
            images = rotate_and_crop(images, angles, flips, self.prep.size)
        else:
            images = centre_crop(images, self.prep.size)
        return [(image, int(self.labels[i])) for image, i in zip(images, order)]


def rotate_and_crop(images: torch.Tensor, angles: Sequence[float], flips: Sequence[bool], size: int) -> torch.Tensor:
    """The centre `size` x `size` of each (C, S, S) image of a batch, mirrored first where
    `flips` says, then turned by its angle in radians, each output pixel taking the value of
    the input pixel nearest to where it comes from. Interpolating (bilinear) would average
    neighbouring pixels and smooth the noise of training images only, which validation,
    test and classification images never are: on faint point sources on noise that mismatch
    sent validation accuracy to chance while training accuracy reached 96%."""
    scale = size / images.shape[-1]
    theta = torch.zeros(len(images), 2, 3, dtype=images.dtype)
    for row, (angle, flip) in enumerate(zip(angles, flips)):
        cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
        mirror = -1.0 if flip else 1.0
        theta[row, 0, :2] = torch.tensor([mirror * cos, -sin])
        theta[row, 1, :2] = torch.tensor([mirror * sin, cos])
    theta = theta.to(images.device, non_blocking=True)
    grid = F.affine_grid(theta, [len(images), images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="reflection", align_corners=False)


def right_angle_views(images: torch.Tensor, views: Sequence[tuple[int, bool]]) -> torch.Tensor:
    """Each (C, S, S) image turned by k right angles and mirrored where asked: the pixels
    move but are not resampled, so noise and sharpness stay those of unaugmented images."""
    return torch.stack(
        [
            torch.rot90(image.flip(-1) if mirror else image, turns, dims=(-2, -1))
            for image, (turns, mirror) in zip(images, views)
        ]
    )


def centre_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    side = images.shape[-1]
    start = (side - size) // 2
    return images[..., start : start + size, start : start + size]
