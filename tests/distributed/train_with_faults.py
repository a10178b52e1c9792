"""`python -m galaxy_studio` for the distributed training tests, with what no product code
should hold: faults injected into a rank and a watch on what the other ranks write.

Environment (each optional):
- GS_TEST_EXIT_AFTER_EPOCH=N: once every rank has finished epoch N (and rank 0 has saved
  it), rank 1 ends at once with os._exit, as a process killed on a lost node does.
- GS_TEST_RANK1_DATA=PATH: rank 1 trains on PATH instead of the command's DATA.
- GS_TEST_WATCHED=DIR and GS_TEST_WRITES_LOG=FILE: ranks other than 0 list in FILE (one line
  each, FILE.rank<r>) every file they open for writing, make, rename or delete under DIR.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Any


def _exit_after(epoch: int, rank: int) -> None:
    from galaxy_studio.distributed import barrier
    from galaxy_studio.model import training

    run_epoch = training._run_epoch

    def run_epoch_or_die(config: Any, data: Any, state: Any, *rest: Any) -> None:
        if state.epoch == epoch:
            barrier()  # rank 0 saves an epoch before it starts the next one
            if rank == 1:
                os._exit(1)
        run_epoch(config, data, state, *rest)

    training._run_epoch = run_epoch_or_die


def _watch_writes(watched: Path, log: Path) -> None:
    seen: list[str] = []
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def under_watch(path: object) -> str | None:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return None
        text = os.path.abspath(os.fsdecode(path))
        return text if text.startswith(str(watched)) else None

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(flags & writing_flags)
            paths = [path] if writes else []
        elif event in ("os.mkdir", "os.remove", "os.rmdir"):
            paths = [args[0]]
        elif event in ("os.rename", "os.replace"):
            paths = [args[0], args[1]]
        else:
            return
        seen.extend(f"{event} {text}" for text in map(under_watch, paths) if text is not None)

    sys.addaudithook(audit)
    atexit.register(lambda: log.write_text("".join(f"{line}\n" for line in seen)))


def main() -> int:
    rank = int(os.environ["RANK"])
    argv = sys.argv[1:]
    if "GS_TEST_EXIT_AFTER_EPOCH" in os.environ:
        _exit_after(int(os.environ["GS_TEST_EXIT_AFTER_EPOCH"]), rank)
    if "GS_TEST_RANK1_DATA" in os.environ and rank == 1:
        argv[argv.index("train") + 1] = os.environ["GS_TEST_RANK1_DATA"]
    if "GS_TEST_WATCHED" in os.environ and rank > 0:
        log = Path(f"{os.environ['GS_TEST_WRITES_LOG']}.rank{rank}")
        _watch_writes(Path(os.environ["GS_TEST_WATCHED"]).resolve(), log)
    from galaxy_studio.cli import main as galaxy_studio

    return galaxy_studio(argv)


if __name__ == "__main__":
    sys.exit(main())
