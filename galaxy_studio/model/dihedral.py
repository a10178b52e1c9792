"""The sky's symmetry: the 8 right-angle turns and mirrors of a square image (the dihedral
group D4), and a network layer that cannot tell them apart.

A galaxy's class does not depend on how the camera was turned or whether the image is
mirrored. Augmentation teaches a network that only approximately; `DihedralPooling` builds
it in, as the winners of the Kaggle Galaxy Zoo challenge did: one trunk sees all 8 views of
each image and its features are averaged over them. Turning or mirroring the input only
reorders the views, so the averaged features, and everything computed from them, are the
same to rounding. The turns are exact on the pixel grid, so this holds at any size.
"""

from __future__ import annotations

import torch
from torch import nn

VIEWS = 8


def dihedral_views(images: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations by multiples of 90 degrees, with and without a mirror, of (..., S, S)
    images: exact on the pixel grid, so no interpolation blurs a view. The first is the
    images as given."""
    views = []
    for mirrored in (images, torch.flip(images, dims=(-1,))):
        views += [torch.rot90(mirrored, k, dims=(-2, -1)) for k in range(4)]
    return views


def unturned_mean(maps: torch.Tensor) -> torch.Tensor:
    """The mean of per-view maps (8N, ..., S, S), in `dihedral_views`' order, each turned back
    to the orientation of the image it came from: (N, ..., S, S). A map made on a turned view
    (Grad-CAM on the trunk's last layer) so lands on the pixels of the image as given."""
    per_view = maps.view(VIEWS, -1, *maps.shape[1:])
    back = []
    for index in range(VIEWS):
        mirrored, turns = divmod(index, 4)
        view = torch.rot90(per_view[index], -turns, dims=(-2, -1))
        back.append(torch.flip(view, dims=(-1,)) if mirrored else view)
    return torch.stack(back).mean(dim=0)


class DihedralPooling(nn.Module):
    """`trunk` applied to the 8 views of each image in one batch (8N images, so batch norm
    sees them all), its (8N, F) features averaged over each image's views to (N, F).

    In training mode too the output is invariant: a turned batch has the same 8N views in
    another order, so batch statistics do not change either. The cost is 8 passes of the
    trunk per image. `pool`, 2x2 average pooling, runs before the trunk: on an even side
    its 2x2 blocks are the same in every view, so it runs once, before the views are made
    (a quarter of the pixels to turn and copy: a quarter of the time of inference went
    there); an odd side's last row and column are left out, which is not the same in every
    view, so there it runs on each view."""

    def __init__(self, trunk: nn.Module, pool: nn.AvgPool2d) -> None:
        super().__init__()
        self.pool = pool
        self.trunk = trunk

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != images.shape[-2]:
            raise ValueError(f"turning by right angles needs square images, got {tuple(images.shape[-2:])}")
        if images.shape[-1] % 2 == 0:
            views = torch.cat(dihedral_views(self.pool(images)))
        else:
            views = self.pool(torch.cat(dihedral_views(images)))
        features = self.trunk(views)
        return features.view(VIEWS, len(images), -1).mean(dim=0)
