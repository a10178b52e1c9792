"""The parts of a survey classification on disk, which make a run of hours resumable.

Next to the output `NAME` a hidden folder `.NAME.parts/` holds `progress.json`, the
fingerprint of the command that started the run (the model file's digest, the inputs, the
options that change a prediction, the number of processes), and one file per finished chunk
of inputs, `chunk-N.rank-R-of-W.jsonl`, each written whole under a temporary name and then
renamed, so that a process killed at any moment leaves finished chunks or none. A rerun of
the same command keeps the chunks it finds; a different command would mix two runs' rows,
so it is refused, naming what differs.

A chunk file has one JSON line per input in input order: a prediction, or an input that was
left out with the reason. JSON keeps every float exactly (repr round-trips), so a merged
table is the same whether its chunks came from this run or an earlier one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from galaxy_studio.atomic_files import write_json_atomically, write_text_atomically
from galaxy_studio.model.classification import Prediction
from galaxy_studio.model.errors import ModelError
from galaxy_studio.settings import changed_settings

PROGRESS_FILE = "progress.json"
_PROGRESS_VERSION = 1
_DIGEST_BLOCK = 1024 * 1024


class ResumeError(ModelError):
    """The output's parts folder holds a partial run of another command."""


@dataclass(frozen=True)
class LeftOutInput:
    """An input of a chunk that was not classified: its name and why (unreadable, wrong bands)."""

    name: str
    reason: str


ChunkRow = Prediction | LeftOutInput


def parts_folder(out: str | Path) -> Path:
    """`.NAME.parts` beside the output `NAME`: on the same file system, so that the merged
    table can be renamed into place, and hidden, so that folder scans pass it by."""
    out = Path(os.path.abspath(out))
    return out.with_name(f".{out.name}.parts")


def chunk_path(parts: Path, chunk: int, rank: int, world: int) -> Path:
    return parts / f"chunk-{chunk}.rank-{rank}-of-{world}.jsonl"


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's content (the model: retraining into the same file changes it)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_DIGEST_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()


def input_record(path: str) -> dict[str, Any]:
    """An input as the fingerprint knows it: its absolute path and, for a file, its size and
    modification time (a catalogue rewritten in place is another input). A folder's files are
    not listed here: the fingerprint's digest of the entries covers them."""
    absolute = os.path.abspath(path)
    record: dict[str, Any] = {"path": absolute}
    if os.path.isfile(absolute):
        status = os.stat(absolute)
        record.update(size=status.st_size, mtime_ns=status.st_mtime_ns)
    return record


def survey_fingerprint(
    model_digest: str, paths: Sequence[str], options: Mapping[str, Any], world: int
) -> dict[str, Any]:
    """What a run's chunks depend on as the command states it; a rerun must match it (and
    the count and digest of the entries the inputs hold, which the run adds) to reuse them."""
    return {
        "version": _PROGRESS_VERSION,
        "model_sha256": model_digest,
        "inputs": [input_record(path) for path in paths],
        "options": dict(options),
        "processes": world,
    }


def differences(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """How the recorded run's fingerprint differs from this command's, in words."""
    found = []
    if recorded.get("version") != wanted["version"]:
        found.append("it was written by another version of Galaxy Studio")
    if recorded.get("model_sha256") != wanted["model_sha256"]:
        found.append("the model file's content differs")
    if recorded.get("inputs") != wanted["inputs"]:
        before = [entry.get("path") for entry in recorded.get("inputs") or []]
        now = [entry["path"] for entry in wanted["inputs"]]
        found.append("the inputs differ" if before != now else "an input file changed (size or modification time)")
    elif recorded.get("entries") != wanted["entries"]:
        counts = [(record.get("entries") or {}).get("count") for record in (recorded, wanted)]
        found.append(f"the inputs hold other files now ({counts[0]} entries then, {counts[1]} now)")
    old_options, new_options = recorded.get("options") or {}, wanted["options"]
    found += [f"{name} was {then!r}, now {now!r}" for name, then, now in changed_settings(old_options, new_options)]
    if recorded.get("processes") != wanted["processes"]:
        found.append(f"it ran as {recorded.get('processes')} process(es), this command as {wanted['processes']}")
    return found


def prepare_parts(out: str | Path, fingerprint: Mapping[str, Any]) -> str | None:
    """Make the output's parts folder for a new run, or check that the run it holds is this
    command's; the problem in words when it is not (the caller raises it on every process
    alike). A folder that cannot be written is removed again and named with the output."""
    parts = parts_folder(out)
    progress = parts / PROGRESS_FILE
    if not progress.is_file():
        try:
            parts.mkdir(exist_ok=True)
            write_json_atomically(progress, dict(fingerprint))
        except OSError as error:
            shutil.rmtree(parts, ignore_errors=True)
            reason = error.strerror or error
            return f"{out}: cannot write the predictions: {reason} (keeping the run's parts in {parts})"
        return None
    try:
        recorded = json.loads(progress.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{progress}: unreadable ({error}); delete the folder {parts} to start over"
    found = differences(recorded if isinstance(recorded, dict) else {}, fingerprint)
    if not found:
        return None
    return (
        f"{parts} holds a partial run of another command ({'; '.join(found)}): rerun the command that "
        f"started it to finish it, or delete the folder {parts} to start over"
    )


def write_chunk(path: Path, rows: Sequence[ChunkRow]) -> None:
    """One chunk's rows, written whole or not at all; a disk that is full or gone is a
    ModelError naming the part (the finished chunks stay for a rerun)."""
    lines = [json.dumps(_row_record(row), ensure_ascii=True) + "\n" for row in rows]
    try:
        write_text_atomically(path, "".join(lines))
    except OSError as error:
        raise ModelError(
            f"{path}: cannot write this part of the predictions: {error.strerror or error}",
            "make room (or fix the disk) and run the same command again: the finished parts are kept",
        ) from None


def read_chunk(path: Path) -> Iterator[ChunkRow]:
    """The rows of a chunk file, in input order."""
    try:
        with path.open(encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                yield _row_from_record(json.loads(line), number)
    except ValueError as error:
        raise ModelError(f"{path}: a damaged part ({error})", "delete it and run the same command again") from None


def _row_record(row: ChunkRow) -> dict[str, Any]:
    if isinstance(row, LeftOutInput):
        return {"left_out": row.name, "reason": row.reason}
    return asdict(row)


def _row_from_record(record: dict[str, Any], number: int) -> ChunkRow:
    if "left_out" in record:
        return LeftOutInput(record["left_out"], record["reason"])
    try:
        return Prediction(
            **{
                **record,
                "probabilities": tuple(record["probabilities"]),
                "warnings": tuple(record["warnings"]),
            }
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"line {number}: {error}") from None
