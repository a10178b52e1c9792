"""Run `galaxy-studio` as one of torchrun's processes with a fault planted, for the tests of
classify under torchrun: GS_TEST_FAULT names the fault, GS_TEST_FAULT_RANK the process that
has it. Test code only: the product has no such hooks.

- `die-after-first-chunk`: the process dies (as by kill -9) once its first chunk is on disk.
- `other-inputs`: the process is given one more input than the others.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _plant(fault: str, args: list[str]) -> list[str]:
    if fault == "die-after-first-chunk":
        from galaxy_studio.model import survey_classification

        write_chunk = survey_classification.write_chunk

        def write_then_die(path: Path, rows: list[object]) -> None:
            write_chunk(path, rows)  # type: ignore[arg-type]
            os._exit(9)

        survey_classification.write_chunk = write_then_die  # type: ignore[assignment]
        return args
    if fault == "other-inputs":
        out = args.index("--out")
        return [*args[:out], args[out - 1], *args[out:]]
    raise SystemExit(f"unknown GS_TEST_FAULT {fault!r}")


def run() -> int:
    from galaxy_studio.cli import main

    args = sys.argv[1:]
    if os.environ.get("RANK") == os.environ.get("GS_TEST_FAULT_RANK", "1"):
        args = _plant(os.environ["GS_TEST_FAULT"], args)
    return main(args)


if __name__ == "__main__":
    sys.exit(run())
