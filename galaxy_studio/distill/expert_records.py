"""Which experts of a buffer are finished, read from the folder itself.

A finished expert is two files: its trajectory `expert_NNN.npy` and its record
`expert_NNN.json` (index, file, test accuracy), each written whole by a rename, the trajectory
first, so a record vouches for a complete trajectory. Every process writes only the two files
of the experts it trains: several processes (torchrun's ranks) fill one folder on shared
storage without ever writing the same file, and a rerun after any of them died trains exactly
the experts without a record, however many processes it has. `buffer.json` repeats the records
for readers; only rank 0 rewrites it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from galaxy_studio.atomic_files import leftover_partial_files, write_json_atomically
from galaxy_studio.distributed import Ranks

_RECORD = re.compile(r"expert_(\d+)\.json")


def expert_file(index: int) -> str:
    return f"expert_{index:03d}.npy"


def record_file(index: int) -> str:
    return f"expert_{index:03d}.json"


def expert_entry(index: int, test_accuracy: float) -> dict[str, Any]:
    """What buffer.json lists for a finished expert, and its record holds: nothing that
    depends on when or by which process it was trained, so that one process and several
    write the same bytes."""
    return {"index": index, "file": expert_file(index), "test_accuracy": test_accuracy}


def write_record(folder: Path, entry: dict[str, Any]) -> None:
    """Mark an expert finished; call after its trajectory file is in place."""
    write_json_atomically(folder / record_file(entry["index"]), entry)


def finished_entries(folder: Path) -> list[dict[str, Any]]:
    """The records of the finished experts in `folder`, by index. A record that cannot be read,
    does not match its name or lacks its trajectory file counts as unfinished: its expert is
    trained again and both files replaced."""
    entries = []
    for path in folder.glob("expert_*.json"):
        match = _RECORD.fullmatch(path.name)
        if match is None or path.name != record_file(int(match[1])):
            continue
        entry = _read_record(path, int(match[1]))
        if entry is not None and (folder / expert_file(entry["index"])).is_file():
            entries.append(entry)
    return sorted(entries, key=lambda entry: entry["index"])


def _read_record(path: Path, index: int) -> dict[str, Any] | None:
    """Expert `index`'s entry as its record file holds it, or None when the file is damaged."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    accuracy = entry.get("test_accuracy") if isinstance(entry, dict) else None
    if not isinstance(accuracy, int | float) or not math.isfinite(accuracy):
        return None
    return entry if entry == expert_entry(index, accuracy) else None


def adopt_listed_experts(folder: Path, listed: Iterable[dict[str, Any]]) -> None:
    """Write the records that a buffer made before records existed lacks, for the experts its
    buffer.json lists whose trajectory is there: a rerun keeps them instead of training them
    again."""
    for entry in listed:
        index, accuracy = entry.get("index"), entry.get("test_accuracy")
        if not isinstance(index, int) or not isinstance(accuracy, int | float):
            continue
        if (folder / expert_file(index)).is_file() and not (folder / record_file(index)).is_file():
            write_record(folder, expert_entry(index, accuracy))


def missing_experts(experts: int, finished: Iterable[dict[str, Any]]) -> list[int]:
    """The first `experts` experts that have no record, in index order: the same list on
    every rank, since all read the same folder."""
    done = {entry["index"] for entry in finished}
    return [index for index in range(experts) if index not in done]


def share(missing: Sequence[int], ranks: Ranks) -> list[int]:
    """This rank's experts: the missing ones split by position in the list, not by index, so
    that a rerun after some finished still divides the rest evenly."""
    return [index for position, index in enumerate(missing) if ranks.owns(position)]


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files of writes that a killed process left unfinished; call while
    no process of the job writes."""
    leftovers = leftover_partial_files(folder)
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers
