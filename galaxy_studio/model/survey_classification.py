"""Classifying a survey: millions of cutouts into one table, in bounded memory, resumably,
by one process or by several that torchrun started.

The inputs are streamed (`iter_catalog_items`) and cut into chunks of `chunk_size` entries
in input order. Chunk k belongs to process k mod N, so the processes share the work without
talking, and each chunk's rows go to its own file in the output's parts folder
(`survey_parts`) as soon as it is done: memory holds one chunk, and a run killed at any point
loses at most the chunks in flight. Before any work the processes check that they agree on
the command and on the inputs they see; after it, process 0 merges the chunk files, in chunk
order, into the one output (`survey_output`) and removes the parts. So the output does not
depend on how many processes made it, nor on how many times the run was interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import cast

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogEntry, CatalogItem, SkippedInput, iter_catalog_items
from galaxy_studio.distributed import (
    Ranks,
    barrier,
    broadcast_from_leader,
    current_ranks,
    processes_on_this_machine,
    require_agreement,
)
from galaxy_studio.events import NEVER, CancelToken, Event, EventSink, LeftOut, Noted, Progressed, Warned, ignore
from galaxy_studio.model.classification import (
    DEFAULT_BATCH,
    Classifier,
    ClassifyTiming,
    Prediction,
    classify_items,
    open_classifier,
)
from galaxy_studio.model.config import SURVEY_CHUNK_ITEMS
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.survey_output import survey_format, write_survey_table
from galaxy_studio.model.survey_parts import (
    ChunkRow,
    LeftOutInput,
    ResumeError,
    chunk_path,
    file_digest,
    parts_folder,
    prepare_parts,
    read_chunk,
    survey_fingerprint,
    write_chunk,
)


@dataclass(frozen=True)
class SurveyConfig:
    """A survey classification into the table `out` (format `fmt`, else by its name). The
    options that change a prediction (tta, batch_size, device) and the chunking are part of
    the run's fingerprint; the format is not, so a finished run's parts serve any format."""

    model: str
    paths: tuple[str, ...]
    out: str
    fmt: str | None = None
    tta: bool = False
    batch_size: int = DEFAULT_BATCH
    chunk_size: int = SURVEY_CHUNK_ITEMS
    device: str = "auto"
    threads: int | None = None

    def fingerprinted_options(self) -> dict[str, object]:
        return {"tta": self.tta, "batch_size": self.batch_size, "chunk_size": self.chunk_size, "device": self.device}


@dataclass(frozen=True)
class SurveyResult:
    """What the run wrote (the same on every process): `classified` rows in `out`, inputs
    `left_out`, rows flagged `unfamiliar`; `reused_chunks` of `chunks` came from an earlier,
    interrupted run. `timing` is this process's decoding and network time."""

    out: str
    fmt: str
    classified: int
    left_out: int
    unfamiliar: int
    chunks: int
    reused_chunks: int
    seconds: float
    timing: ClassifyTiming = field(default_factory=ClassifyTiming)


def classify_survey(config: SurveyConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> SurveyResult:
    """Classify every input of `config.paths` into `config.out`, reusing the finished chunks of
    an interrupted run of the same command. Inputs that cannot be classified are reported as
    LeftOut events whose text names the file and the reason (by process 0, once each, as the
    table is merged) and counted; they do not stop the run."""
    started = time.perf_counter()
    if config.chunk_size < 1 or config.batch_size < 1:
        raise ModelError(
            f"chunk size and batch size must be at least 1, got {config.chunk_size} and {config.batch_size}"
        )
    fmt = survey_format(config.out, config.fmt)
    ranks = current_ranks()
    classifier = open_classifier(config.model)
    command = survey_fingerprint(
        file_digest(classifier.checkpoint), config.paths, config.fingerprinted_options(), ranks.world
    )
    require_agreement("the command (model, inputs and options)", json.dumps(command, sort_keys=True))
    total, inputs_digest = _survey_inputs(config.paths)
    require_agreement("the inputs they found", f"{total} inputs, {inputs_digest}")
    # What the inputs hold is part of the run too: a folder filled further between an
    # interrupted run and its rerun would shift the chunks under the finished ones.
    fingerprint = {**command, "entries": {"count": total, "digest": inputs_digest}}
    parts = parts_folder(config.out)
    problem = broadcast_from_leader(prepare_parts(config.out, fingerprint) if ranks.leader else None)
    if problem is not None:
        raise ResumeError(str(problem))
    timing = ClassifyTiming()
    chunks = -(-total // config.chunk_size)
    own = [k for k in range(chunks) if k % ranks.world == ranks.rank]
    own_total = sum(min(config.chunk_size, total - k * config.chunk_size) for k in own)
    done = reused = seen = 0
    once = _OnceEach(emit)
    for index, chunk in enumerate(_chunks(iter_catalog_items(config.paths), config.chunk_size)):
        seen += len(chunk)
        if index % ranks.world != ranks.rank:
            continue
        path = chunk_path(parts, index, ranks.rank, ranks.world)
        if path.is_file():
            reused += 1
        else:
            cancel.raise_if_set()
            write_chunk(path, _classify_chunk(classifier, chunk, config, once, cancel, timing))
        done += len(chunk)
        emit(Progressed(done, own_total, "classifying"))
    if seen != total:
        raise ModelError(
            f"the inputs changed while they were classified ({total} entries when counted, {seen} when read)",
            f"let whatever writes to them finish, then delete {parts} and run the command again",
        )
    barrier()
    counts = _merge(parts, chunks, ranks, classifier, config.out, fmt, emit) if ranks.leader else None
    classified, left_out, unfamiliar = cast(tuple[int, int, int], broadcast_from_leader(counts))
    return SurveyResult(
        config.out, fmt, classified, left_out, unfamiliar, chunks, reused, time.perf_counter() - started, timing
    )


def _survey_inputs(paths: Iterable[str]) -> tuple[int, str]:
    """How many entries the inputs hold and a digest of them, in order: processes that see
    different files (a disk not shared, a folder still being filled) would shard different
    lists, skipping some inputs and repeating others."""
    hasher = hashlib.sha256()
    count = 0
    for entry in iter_catalog_items(paths):
        hasher.update(repr(entry).encode("utf-8", "surrogatepass"))
        count += 1
    return count, hasher.hexdigest()[:16]


def _chunks(entries: Iterator[CatalogEntry], size: int) -> Iterator[list[CatalogEntry]]:
    while chunk := list(islice(entries, size)):
        yield chunk


def _classify_chunk(
    classifier: Classifier,
    chunk: list[CatalogEntry],
    config: SurveyConfig,
    emit: EventSink,
    cancel: CancelToken,
    timing: ClassifyTiming,
) -> list[ChunkRow]:
    """A row per entry of the chunk, in input order: its prediction, or why it was left out."""
    items = [entry for entry in chunk if isinstance(entry, CatalogItem)]
    predictions, failures = classify_items(
        classifier,
        items,
        tta=config.tta,
        batch_size=config.batch_size,
        device=config.device,
        threads=_decoding_threads(config.threads),
        emit=emit,
        cancel=cancel,
        timing=timing,
    )
    return list(_in_input_order(chunk, predictions, failures))


def _in_input_order(
    chunk: list[CatalogEntry], predictions: list[Prediction], failures: list[tuple[str, str]]
) -> Iterator[ChunkRow]:
    """Each entry's row where the entry stood: classify_items keeps its predictions and its
    failures each in item order, so the next item is the next prediction when that names it,
    else the next failure."""
    classified, failed = iter(predictions), iter(failures)
    upcoming = next(classified, None)
    for entry in chunk:
        if isinstance(entry, SkippedInput):
            yield LeftOutInput(os.path.basename(entry.where), f"{entry.where}: {entry.reason}")
        elif upcoming is not None and (upcoming.path, upcoming.index) == (entry.path, entry.index):
            yield upcoming
            upcoming = next(classified, None)
        else:
            yield LeftOutInput(*next(failed))


def _decoding_threads(asked: int | None) -> int | None:
    """Several processes on one machine share its cores: each decodes with its share."""
    if asked is not None:
        return asked
    local = processes_on_this_machine()
    return None if local <= 1 else max(1, min(8, (os.cpu_count() or 1) // local))


class _OnceEach:
    """Passes a job's notes and warnings on once each (classify_items repeats them for every
    chunk); drops its per-chunk progress and left-out reports, which the survey gives itself."""

    def __init__(self, emit: EventSink) -> None:
        self.emit = emit
        self.seen: set[str] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, LeftOut):
            return
        if isinstance(event, Noted | Warned) and event.text not in self.seen:
            self.seen.add(event.text)
            self.emit(event)


def _merge(
    parts: Path, chunks: int, ranks: Ranks, classifier: Classifier, out: str, fmt: str, emit: EventSink
) -> tuple[int, int, int]:
    """Process 0, once every process has written its chunks: the output from the chunk files
    in order, then the parts folder removed. Returns (classified, left out, unfamiliar)."""
    paths = [chunk_path(parts, index, index % ranks.world, ranks.world) for index in range(chunks)]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ModelError(
            f"{parts}: {counted(len(missing), 'chunk')} missing after every process finished "
            f"({', '.join(missing[:3])})",
            "run the same command again to make them",
        )
    classified = left_out = unfamiliar = 0
    for path in paths:
        for row in read_chunk(path):
            if isinstance(row, LeftOutInput):
                left_out += 1
                emit(LeftOut(row.reason))
            else:
                classified += 1
                unfamiliar += row.unfamiliar
    if classified:
        try:
            write_survey_table(out, fmt, str(classifier.checkpoint), classifier.classes, _predictions(paths))
        except OSError as error:
            raise ModelError(f"{out}: cannot write the predictions: {error.strerror or error}") from None
    shutil.rmtree(parts)
    return classified, left_out, unfamiliar


def _predictions(paths: list[Path]) -> Iterator[list[Prediction]]:
    for path in paths:
        yield [row for row in read_chunk(path) if isinstance(row, Prediction)]
