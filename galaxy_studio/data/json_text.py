"""JSON documents from files Galaxy Studio did not write, refused as damaged rather than
crashing the reader.

`json.loads` recurses once per nesting level, so a document nested a hundred thousand
levels deep raises `RecursionError`, and a multi-GiB file is read whole into memory.
Neither is a label file; both are reported as the reader's own user error naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from galaxy_studio.data.csv_text import ErrorFor

# The largest label file written in practice (a million entries) is a few hundred MiB at
# most; anything larger is not one and is refused before it is read into memory.
MAX_JSON_BYTES = 512 * 1024 * 1024


def read_json(path: Path, error: ErrorFor) -> Any:
    """The parsed document in `path` (UTF-8); anything unreadable raises `error(path, why)`."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise error(path, f"is {size / 2**20:.0f} MiB, too large for a JSON label file; the file is damaged")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(path, "file not found") from None
    except RecursionError:
        raise error(path, "JSON nested too deeply to be a label file; the file is damaged") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise error(path, f"not a readable JSON file ({exc})") from None
