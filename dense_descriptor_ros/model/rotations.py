"""Test-time rotation ensemble: describe an image turned by quarter turns and average.

The network is trained with random rotations (augmentation Table 3) but is not equivariant
to them: a surface point's descriptor wobbles with the image's orientation. Describing the
image turned by 0/180 (two) or 0/90/180/270 degrees (four), turning each descriptor grid
back and averaging the unit descriptors cancels much of that wobble. Quarter turns are exact
on the pixel grid, so no interpolation blurs the input; the image is padded to a multiple of
the stride first, so the turned grids' cells cover the same pixels as the unturned one's.
"""
from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

_QUARTER_TURNS = {1: (0,), 2: (0, 2), 4: (0, 1, 2, 3)}
ROTATIONS = tuple(_QUARTER_TURNS)  # the ensembles there are: passes per image


def check_rotations(rotations: int) -> int:
    """``rotations`` if it is one of :data:`ROTATIONS`, else a clear error."""
    if rotations not in ROTATIONS:
        raise ValueError(f"rotations must be one of {ROTATIONS} (image turns averaged at test time), "
                         f"got {rotations!r}")
    return rotations


def rotation_ensemble(describe: Callable[[Tensor], Tensor], images: Tensor, rotations: int,
                      stride: int) -> Tensor:
    """Unit descriptors ``(B, D, ceil(H/stride), ceil(W/stride))`` of ``images (B, 3, H, W)``,
    averaged over ``rotations`` turns (1: the plain pass); ``describe`` maps images to a
    stride-``stride`` grid."""
    turns = _QUARTER_TURNS[check_rotations(rotations)]
    if len(turns) == 1:
        return F.normalize(describe(images).float(), dim=1)
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % stride, -width % stride
    padded = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else images
    total = None
    for k in turns:
        grid = F.normalize(describe(padded.rot90(k, dims=(2, 3))).float(), dim=1).rot90(-k, dims=(2, 3))
        total = grid if total is None else total + grid
    rows, cols = -(-height // stride), -(-width // stride)
    return F.normalize(total[..., :rows, :cols], dim=1)
