"""How much a reader skips so that huge images stay cheap to show.

Every reader (FITS, raster, Galaxy10) decides the same way, so a thumbnail of a
FITS file and of a PNG of the same size come out at the same scale.
"""

from __future__ import annotations

import math

MAX_PIXELS = 100_000_000
"""Per band. Beyond this a full-resolution float32 copy (400 MB a band) is not worth making."""


def decimation_step(height: int, width: int, max_side: int | None) -> tuple[int, str | None]:
    """The integer step to take along both axes (1 = read everything), and a note for the user.

    A caller asking for `max_side` gets a reduced read only when the image is more
    than twice that size: below that, the full image is cheap and resizing it
    afterwards looks better than skipping pixels. Independently, nothing is ever
    read at more than MAX_PIXELS per band; when that cap is what decides the step,
    the note says so, because the user asked for the full image and is not getting it.
    """
    long_side = max(height, width)
    side_step = 1
    if max_side is not None and long_side > 2 * max_side:
        side_step = math.ceil(long_side / max_side)
    cap_step = max(1, math.isqrt(height * width // MAX_PIXELS))
    while math.ceil(height / cap_step) * math.ceil(width / cap_step) > MAX_PIXELS:
        cap_step += 1
    if cap_step > side_step:
        return cap_step, f"shown decimated by {cap_step} (image is {width}x{height})"
    return side_step, None
