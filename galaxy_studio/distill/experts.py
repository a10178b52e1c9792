"""The buffer: expert training trajectories that distillation matches.

One `.npy` file per expert holds its flat parameter vector at initialisation and after every
epoch, shape (epochs + 1, parameters), float32 or float16. NumPy's format can be memory-mapped,
so a distillation iteration reads the two rows it needs, never a whole expert (at 128 px one
ConvNet-D3 expert of 50 epochs is 260 MB). Each file is written whole by a rename once its
expert finished, then the expert's record (distill/expert_records.py), and `buffer.json` lists
the finished experts: a killed run keeps them and trains the unfinished ones on the rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from galaxy_studio.atomic_files import write_atomically, write_json_atomically
from galaxy_studio.count_text import counted
from galaxy_studio.cpu_share import cores_shared
from galaxy_studio.distill.config import BufferConfig
from galaxy_studio.distill.expert_records import (
    adopt_listed_experts,
    expert_entry,
    expert_file,
    finished_entries,
    missing_experts,
    remove_leftovers,
    share,
    write_record,
)
from galaxy_studio.distill.fitting import accuracy, seeded_generator, train_epoch
from galaxy_studio.distill.init import ZcaWhitening
from galaxy_studio.distill.params import count_parameters, flat_parameters
from galaxy_studio.distill.realdata import RealData, load_real_data
from galaxy_studio.distributed import Ranks, barrier, current_ranks, digest, require_agreement
from galaxy_studio.events import (
    NEVER,
    BufferPlanned,
    CancelToken,
    EventSink,
    MetricLogged,
    Noted,
    Progressed,
    Warned,
    ignore,
)
from galaxy_studio.model.architectures import ArchitectureSpec, has_batch_norm, model_from_spec
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.prediction import resolve_device
from galaxy_studio.model.preprocessing import Preprocessing
from galaxy_studio.model.runs import require_output_folder
from galaxy_studio.settings import changed_settings_text

BUFFER_FILE = "buffer.json"
ZCA_FILE = "zca.npz"
BUFFER_FORMAT = "galaxy-studio-buffer"
BUFFER_FORMAT_VERSION = 1
# Settings that change where or how fast experts train, or how many, not what one expert is.
_NOT_RECIPE = ("out_dir", "device", "threads", "experts")
# The automatic batch: training images / STEPS_PER_EPOCH, a power of two within these bounds.
# With MTT's fixed 256, an expert on the 960 training galaxies of a procedural FITS set took 4
# steps an epoch and reached 46-59% in 15 epochs; with 64 it reached 57-78% (in half the time).
STEPS_PER_EPOCH = 32
BATCH_BOUNDS = (32, 256)


@dataclass(frozen=True)
class BufferResult:
    """`trained_now` counts the experts this run trained, by all its processes."""

    buffer_dir: str
    experts: int
    trained_now: int
    test_accuracies: list[float]
    bytes_on_disk: int
    seconds: float


def buffer_bytes(experts: int, epochs: int, parameters: int, storage: str) -> int:
    """Disk space of the trajectories (the metadata is a few kB)."""
    return experts * (epochs + 1) * parameters * np.dtype(storage).itemsize


def _recipe(config: BufferConfig) -> dict[str, Any]:
    data = config.to_dict()
    for key in _NOT_RECIPE:
        data.pop(key)
    return data


def train_experts(config: BufferConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> BufferResult:
    """Train `config.experts` experts into `config.out_dir`, keeping those already there.

    A folder holding a buffer of another recipe (anything but the number of experts, the
    device or the thread count) is refused rather than mixed with.

    Under torchrun the processes (ranks) share one folder: they check that they agree on the
    options, the data and the folder, then each trains its share of the unfinished experts;
    rank 0 alone writes buffer.json and zca.npz. One process is the case of a single rank and
    takes the same path, so with the same thread count in every process (OMP_NUM_THREADS=1, as
    torchrun sets it) N processes write the same bytes as one: an expert's seed depends on its
    index only.
    """
    started = time.perf_counter()
    ranks = current_ranks()
    out = Path(config.out_dir)
    require_output_folder(out)
    device = resolve_device(config.device)
    metadata = _existing_metadata(config, out)
    require_agreement(
        f"the options (recipe, --experts, --out) or the {BUFFER_FILE} already in {out}",
        digest(_recipe(config), config.experts, os.path.abspath(out), _file_bytes(out / BUFFER_FILE)),
    )
    real = _prepared_data(config, out, metadata, emit, cancel)
    batch_size = _batch_size(config, metadata, len(real.train_labels))
    config = replace(config, batch_size=batch_size)
    if ranks.several:  # hashing a large data set takes seconds that one process need not spend
        require_agreement(
            f"the training data prepared from {config.data} (its images, labels or preprocessing)", _data_digest(real)
        )
    spec = ArchitectureSpec(config.arch, real.n_classes, real.prep.n_channels, config.size, config.width)
    probe = model_from_spec(spec)
    if has_batch_norm(probe):
        raise ModelError(
            f"{config.arch} uses batch norm, which makes a matched unroll depend on batch "
            "statistics; choose an architecture without it (e.g. convnet-d3)"
        )
    parameters = count_parameters(probe)
    size = buffer_bytes(config.experts, config.epochs, parameters, config.storage)
    emit(BufferPlanned(config.experts, config.epochs, parameters, size))
    out.mkdir(parents=True, exist_ok=True)
    if ranks.leader:
        metadata = _prepare_folder(out, config, real, spec, parameters, metadata)
    barrier()
    finished = finished_entries(out)
    require_agreement(
        f"the buffer folder {out}, which must be one folder on storage they all share",
        digest(_file_bytes(out / BUFFER_FILE), [entry["index"] for entry in finished]),
    )
    missing = missing_experts(config.experts, finished)
    if ranks.leader:
        _announce(emit, out, ranks, kept=len(finished), missing=len(missing))
    images = torch.from_numpy(real.train_images).to(device)
    labels = torch.from_numpy(real.train_labels).to(device)
    test_images = torch.from_numpy(real.test_images).to(device)
    test_labels = torch.from_numpy(real.test_labels).to(device)
    per_expert = config.epochs * -(-len(images) // batch_size)
    for index in share(missing, ranks):
        progress = _ExpertProgress(
            emit,
            done=_finished_count(out, config.experts) * per_expert,
            total=config.experts * per_expert,
            what=f"expert {index + 1}/{config.experts}",
        )
        trajectory, test_acc = _train_expert(
            index, config, batch_size, spec, images, labels, test_images, test_labels, device, progress, cancel
        )
        write_atomically(out / expert_file(index), partial(np.save, arr=trajectory))
        write_record(out, expert_entry(index, test_acc))
        if ranks.leader and metadata is not None:
            _write_metadata(out, metadata)
        emit(MetricLogged("expert_test_accuracy", index, test_acc))
    barrier()
    if ranks.leader and metadata is not None:
        _write_metadata(out, metadata)
    entries = finished_entries(out)
    return BufferResult(
        str(out),
        len(entries),
        len(entries) - len(finished),
        [entry["test_accuracy"] for entry in entries],
        sum((out / entry["file"]).stat().st_size for entry in entries),
        time.perf_counter() - started,
    )


def _file_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _prepared_data(
    config: BufferConfig, out: Path, metadata: dict[str, Any] | None, emit: EventSink, cancel: CancelToken
) -> RealData:
    """A new buffer's data, prepared from scratch; an existing buffer's, prepared as it records."""
    if metadata is not None:
        return load_buffer_data(Buffer(out), threads=config.threads, emit=emit, cancel=cancel)
    return load_real_data(
        config.data,
        size=config.size,
        crop_fraction=config.crop_fraction,
        channels=config.channels,
        test_fraction=config.test_fraction,
        seed=config.seed,
        fit_zca=config.zca,
        zca_epsilon=config.zca_epsilon,
        threads=config.threads,
        emit=emit,
        cancel=cancel,
    )


def _data_digest(real: RealData) -> str:
    """A fingerprint of the arrays the experts train and are tested on: ranks that read
    different files under the same path (each node its own copy) differ here, even where the
    names and labels, all that `real.fingerprint` covers, are the same."""
    hasher = hashlib.sha256(digest(real.classes, real.prep.to_dict(), real.fingerprint).encode())
    for array in (real.train_images, real.train_labels, real.test_images, real.test_labels):
        hasher.update(repr((array.dtype.str, array.shape)).encode())
        hasher.update(np.ascontiguousarray(array).data)
    return hasher.hexdigest()[:16]


def _prepare_folder(
    out: Path,
    config: BufferConfig,
    real: RealData,
    spec: ArchitectureSpec,
    parameters: int,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    """Rank 0's part before any rank trains: clear what killed writers left, write a new
    buffer's shared files, and give records to the experts an older buffer.json lists."""
    remove_leftovers(out)
    if metadata is None:
        if real.zca is not None:
            real.zca.save(out / ZCA_FILE)
        metadata = _new_metadata(config, real, spec, parameters)
        write_json_atomically(out / BUFFER_FILE, metadata)
    else:
        adopt_listed_experts(out, metadata["experts"])
    return metadata


def _announce(emit: EventSink, out: Path, ranks: Ranks, *, kept: int, missing: int) -> None:
    if kept:
        emit(
            Warned(
                f"{out} already holds {counted(kept, 'finished expert')}; {'it is' if kept == 1 else 'they are'} kept"
            )
        )
    if ranks.several:
        emit(
            Noted(
                f"{ranks.world} processes share the {counted(missing, 'expert')} to train; "
                "rank 0's bars count the experts all of them finished"
            )
        )


def _finished_count(out: Path, experts: int) -> int:
    """How many of the job's experts are finished, by any rank: the start of the bar."""
    return sum(entry["index"] < experts for entry in finished_entries(out))


def _write_metadata(out: Path, metadata: dict[str, Any]) -> None:
    """buffer.json listing every expert whose record is in the folder."""
    metadata["experts"] = finished_entries(out)
    write_json_atomically(out / BUFFER_FILE, metadata)


class _ExpertProgress:
    """Counts batches over the whole buffer, so that the bar moves once across all experts;
    under torchrun, rank 0's also counts the experts the other ranks had finished when it
    started this one."""

    def __init__(self, emit: EventSink, *, done: int, total: int, what: str) -> None:
        self.emit, self.done, self.total, self.what = emit, done, total, what

    def __call__(self) -> None:
        self.done += 1
        self.emit(Progressed(self.done, self.total, self.what))


def _train_expert(
    index: int,
    config: BufferConfig,
    batch_size: int,
    spec: ArchitectureSpec,
    images: torch.Tensor,
    labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    device: torch.device,
    progress: _ExpertProgress,
    cancel: CancelToken,
) -> tuple[np.ndarray, float]:
    generator = seeded_generator(config.seed, index)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        net: nn.Module = model_from_spec(spec)
    net.to(device)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    trajectory = np.empty((config.epochs + 1, count_parameters(net)), dtype=config.storage)
    trajectory[0] = flat_parameters(net).detach().cpu().numpy()
    with cores_shared(device):
        for epoch in range(1, config.epochs + 1):
            loss = train_epoch(
                net,
                optimizer,
                images,
                labels,
                batch_size=batch_size,
                strategy=config.augment,
                generator=generator,
                cancel=cancel,
                on_batch=progress,
            )
            if not np.isfinite(loss):
                raise ModelError(f"expert {index} diverged (loss {loss}) in epoch {epoch}; lower the learning rate")
            trajectory[epoch] = flat_parameters(net).detach().cpu().numpy()
    return trajectory, accuracy(net, test_images, test_labels, cancel)


def _new_metadata(config: BufferConfig, real: RealData, spec: ArchitectureSpec, parameters: int) -> dict[str, Any]:
    return {
        "format": BUFFER_FORMAT,
        "format_version": BUFFER_FORMAT_VERSION,
        "config": config.to_dict(),
        "recipe": {**_recipe(config), "zca": real.zca is not None},
        "architecture": spec.to_dict(),
        "classes": list(real.classes),
        "preprocessing": real.prep.to_dict(),
        "fingerprint": real.fingerprint,
        "split": {
            "test_fraction": config.test_fraction,
            "seed": config.seed,
            "counts": {"train": len(real.train_labels), "test": len(real.test_labels)},
        },
        "zca": real.zca is not None,
        "parameters": parameters,
        "epochs": config.epochs,
        "storage": config.storage,
        "experts": [],
    }


def _batch_size(config: BufferConfig, metadata: dict[str, Any] | None, train_images: int) -> int:
    """The batch asked for; else an existing buffer's own; else one that gives an epoch of
    `train_images` at least STEPS_PER_EPOCH steps, within BATCH_BOUNDS."""
    if config.batch_size is not None:
        return config.batch_size
    if metadata is not None:
        return int(metadata["recipe"]["batch_size"])
    low, high = BATCH_BOUNDS
    batch = low
    while batch * 2 <= min(high, train_images // STEPS_PER_EPOCH):
        batch *= 2
    return batch


def _existing_metadata(config: BufferConfig, out: Path) -> dict[str, Any] | None:
    if not (out / BUFFER_FILE).is_file():
        return None
    metadata = _read_metadata(out)
    recorded = metadata.get("recipe")
    # The recipe records whether the buffer whitens and its batch; the defaults (None) take
    # the folder's choice.
    recipe = _recipe(config)
    if config.zca is None:
        recipe["zca"] = metadata.get("zca")
    if config.batch_size is None and isinstance(recorded, dict):
        recipe["batch_size"] = recorded.get("batch_size")
    if recorded != recipe:
        raise ModelError(
            f"{out} holds a buffer of another recipe ({changed_settings_text(recorded, recipe)})",
            "run it with the buffer's own settings to add experts, or choose another {out_dir} folder",
        )
    return metadata


def _read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / BUFFER_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{folder}: not a buffer (no {BUFFER_FILE}); make one with `galaxy-studio buffer`") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable buffer metadata ({exc})") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != BUFFER_FORMAT:
        raise ModelError(f"{path}: not a galaxy-studio buffer")
    if metadata.get("format_version", 0) > BUFFER_FORMAT_VERSION:
        raise ModelError(f"{path}: made by a newer galaxy-studio; update it to read this buffer")
    return metadata


_DAMAGED_BUFFER = "train the buffer again with `galaxy-studio buffer` into a new folder"


class Buffer:
    """A buffer folder opened for reading; trajectories are memory-mapped on demand."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.metadata = _read_metadata(self.folder)
        try:
            self.config = BufferConfig.from_dict(self.metadata["config"])
            self.spec = ArchitectureSpec.from_dict(self.metadata["architecture"])
            self.prep = Preprocessing.from_dict(self.metadata["preprocessing"])
            self.classes: tuple[str, ...] = tuple(self.metadata["classes"])
            self.experts: list[dict[str, Any]] = list(self.metadata["experts"])
            self.parameters = int(self.metadata["parameters"])
            self.last_epoch = int(self.metadata["epochs"])
        except KeyError as exc:
            raise ModelError(f"{self.folder / BUFFER_FILE}: field {exc.args[0]}: missing", _DAMAGED_BUFFER) from None
        except (TypeError, ValueError, ModelError) as exc:
            raise ModelError(f"{self.folder / BUFFER_FILE}: damaged buffer metadata ({exc})", _DAMAGED_BUFFER) from None

    def __len__(self) -> int:
        return len(self.experts)

    def zca(self) -> ZcaWhitening | None:
        return ZcaWhitening.load(self.folder / ZCA_FILE) if self.metadata["zca"] else None

    def trajectory(self, position: int) -> np.ndarray:
        """The `position`-th finished expert's (epochs + 1, parameters) array, memory-mapped."""
        name = self.experts[position].get("file") if isinstance(self.experts[position], dict) else None
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise ModelError(
                f"{self.folder / BUFFER_FILE}: field experts[{position}].file: {name!r} is not a file of the buffer",
                _DAMAGED_BUFFER,
            )
        path = self.folder / name
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise ModelError(f"{path}: missing expert trajectory", _DAMAGED_BUFFER) from None
        except (OSError, ValueError) as exc:
            numbers = "pickle" not in str(exc) and "objects" not in str(exc)
            problem = str(exc) if numbers else "not an array of numbers: damaged, or holding Python objects"
            raise ModelError(f"{path}: not an expert trajectory of this buffer ({problem})", _DAMAGED_BUFFER) from None
        expected = (self.last_epoch + 1, self.parameters)
        if array.shape != expected:
            raise ModelError(f"{path}: shape {array.shape}, expected {expected}", _DAMAGED_BUFFER)
        return array

    def snapshot(self, position: int, epoch: int) -> np.ndarray:
        """One expert's flat parameters after `epoch` epochs, as float32 (reads one row)."""
        row = np.array(self.trajectory(position)[epoch], dtype=np.float32)
        if not np.all(np.isfinite(row)):
            raise ModelError(f"{self.folder / self.experts[position]['file']}: epoch {epoch} holds NaN or inf")
        return row


def open_buffer(folder: str | Path) -> Buffer:
    """Read a buffer's metadata; refuses a folder with no finished expert."""
    buffer = Buffer(folder)
    if not buffer.experts:
        raise ModelError(f"{folder}: the buffer has no finished expert yet; run `galaxy-studio buffer` to train them")
    for position in range(len(buffer)):
        buffer.trajectory(position)  # each file's header only: a damaged buffer is refused before any work
    return buffer


def load_buffer_data(
    buffer: Buffer,
    data: str | Path | None = None,
    *,
    threads: int | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> RealData:
    """The buffer's real images (its split, normalisation and whitening), from `data` or the
    path the buffer was trained on (absolute, so that it works from any folder)."""
    config = buffer.config
    return load_real_data(
        data or buffer.metadata["recipe"]["data"],
        size=config.size,
        test_fraction=config.test_fraction,
        seed=config.seed,
        prep=buffer.prep,
        zca=buffer.zca(),
        fingerprint=buffer.metadata["fingerprint"],
        classes=buffer.classes,
        threads=threads,
        emit=emit,
        cancel=cancel,
    )
