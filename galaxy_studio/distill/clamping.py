"""Keeping prototype pixels within the range the real images take, as pictures.

The clamp (`distill --clamp`, on by default) projects the images after every step onto each
channel's 0.1-99.9 percentile range of the real training images. For a ZCA-whitened buffer the
images are learned in whitened space, where a per-channel range means nothing to the eye: the
projection there let FITS-band prototypes turn into colour blobs with dark holes. So it is made
in picture space, the whitening undone, clamped and redone, which is what readability.py
measures and the pictures show; the two matrix products cost little beside the unroll.
"""

from __future__ import annotations

import numpy as np
import torch

from galaxy_studio.distill.init import ZcaWhitening
from galaxy_studio.distill.readability import in_picture_space, percentile_range


class PixelClamp:
    """The projection for one run: real network-space training images and the buffer's
    whitening (None for none) fix the range once."""

    def __init__(self, real: np.ndarray, zca: ZcaWhitening | None, device: torch.device) -> None:
        low, high = percentile_range(in_picture_space(real, zca))
        self.low = torch.from_numpy(low.astype(np.float32)).to(device)
        self.high = torch.from_numpy(high.astype(np.float32)).to(device)
        self.whitening: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if zca is not None:
            self.whitening = tuple(  # type: ignore[assignment]
                torch.from_numpy(np.asarray(array, np.float32)).to(device)
                for array in (zca.mean, zca.matrix, zca.inverse)
            )

    @torch.no_grad()
    def apply(self, images: torch.Tensor) -> None:
        """Project `images` (N, C, H, W, network space) in place."""
        if self.whitening is None:
            torch.clamp(images, self.low, self.high, out=images)
            return
        mean, matrix, inverse = self.whitening
        flat = images.reshape(len(images), -1)
        pictures = (flat @ inverse + mean).reshape(images.shape).clamp(self.low, self.high)
        images.copy_(((pictures.reshape(len(images), -1) - mean) @ matrix).reshape(images.shape))
