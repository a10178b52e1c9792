"""Images to vectors in bounded memory: decode a chunk with a thread pool, run the network on
it batch by batch, keep only the vectors. 20,000 decoded 64 px cutouts would take 250 MB;
a chunk takes a few MB whatever the size of the data set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.events import NEVER, CancelToken, Event, EventSink, Progressed, Warned, ignore
from galaxy_studio.model.datasets import prepare_pixels
from galaxy_studio.model.preprocessing import Preprocessing, normalise

if TYPE_CHECKING:
    import torch

CHUNK = 1024


def encode_items(
    items: Sequence[CatalogItem],
    prep: Preprocessing,
    network: Callable,
    *,
    device: torch.device,
    batch_size: int,
    threads: int | None = None,
    emit: EventSink = ignore,
    cancel: CancelToken = NEVER,
) -> tuple[np.ndarray, list[int]]:
    """((kept, D) float32 vectors, indices of the kept items). An image that cannot be read,
    or whose vector is not finite, is left out with a warning naming it."""
    import torch

    def warnings_only(event: Event) -> None:
        if isinstance(event, Warned):
            emit(event)

    parts: list[np.ndarray] = []
    kept: list[int] = []
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        pixels, failed = prepare_pixels(chunk, prep, threads=threads, emit=warnings_only, cancel=cancel)
        good = np.setdiff1d(np.arange(len(chunk)), failed)
        for first in range(0, len(good), batch_size):
            cancel.raise_if_set()
            rows = good[first : first + batch_size]
            with torch.no_grad():
                batch = torch.from_numpy(normalise(pixels[rows], prep)).to(device)
                vectors = network(batch).float().flatten(1).cpu().numpy()
            finite = np.all(np.isfinite(vectors), axis=1)
            for row in rows[~finite]:
                emit(Warned(f"left out {chunk[int(row)].name}: its embedding is not finite"))
            parts.append(vectors[finite])
            kept += [start + int(row) for row in rows[finite]]
            emit(Progressed(min(start + int(rows[-1]) + 1, len(items)), len(items), "embedding images"))
    dimension = parts[0].shape[1] if parts else 0
    vectors = np.concatenate(parts) if parts else np.zeros((0, dimension), np.float32)
    return np.ascontiguousarray(vectors, dtype=np.float32), kept
