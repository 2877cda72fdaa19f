"""Context swap: both views keep one disc of the source image, everything around it comes from
other images.

Two augmented copies of one image share all of their surroundings, so identical-view training
lets a descriptor lean on context (the neighbouring products, the bin), which a re-arranged heap
no longer has. Swapping the surroundings keeps the exact pixel mapping inside the disc and makes
context useless for finding it again, as it is across heaps. No poses or masks are needed.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from dense_descriptor_ros.augmentation.sampling import rand, uniform
from dense_descriptor_ros.geometry.homography import source_pixels

RADIUS = (0.1, 0.3)  # disc radius, as a fraction of the source image's shorter side
FEATHER = 3.0  # source pixels outside the disc over which a view blends into the other image


def sample_discs(batch: int, size: tuple[int, int], generator: torch.Generator | None,
                 radius: tuple[float, float] = RADIUS) -> tuple[Tensor, Tensor]:
    """One disc per image of ``size = (H, W)``: centres ``(B, 2)`` (x, y) anywhere in the image,
    radii ``(B,)`` in pixels; float64 CPU."""
    height, width = size
    centre = rand((batch, 2), generator) * torch.tensor([width, height], dtype=torch.float64) - 0.5
    return centre, uniform((batch,), *radius, generator) * min(height, width)


def points_in_discs(centre: Tensor, radius: Tensor, count: int,
                    generator: torch.Generator | None) -> Tensor:
    """``count`` points uniform over each disc: ``(B, count, 2)`` float64 CPU."""
    r = radius[:, None] * rand((len(radius), count), generator).sqrt()
    angle = 2 * math.pi * rand((len(radius), count), generator)
    return centre[:, None] + torch.stack([r * angle.cos(), r * angle.sin()], dim=-1)


def disc_weight(homography: Tensor, centre: Tensor, radius: Tensor,
                out_size: tuple[int, int]) -> Tensor:
    """``(B, 1, h, w)`` in [0, 1]: how much each augmented pixel (source -> view ``homography
    (B, 3, 3)``) shows of its own image: 1 inside the source disc, falling to 0 over ``FEATHER``
    px around it (a soft rim, so the seam is no sharper than an object's edge)."""
    source = source_pixels(homography, out_size)
    centre, radius = (t.to(device=source.device, dtype=source.dtype) for t in (centre, radius))
    distance = torch.nan_to_num((source - centre[:, None, None]).norm(dim=-1), nan=float("inf"))
    return ((radius[:, None, None] - distance) / FEATHER + 1).clamp(0, 1).unsqueeze(1)


def swap_context(view: Tensor, other: Tensor, weight: Tensor, swap: Tensor) -> Tensor:
    """``view`` inside its disc (``weight``), ``other`` outside, for the images where ``swap
    (B,)`` is true; the others are returned unchanged."""
    mixed = weight * view + (1 - weight) * other
    return torch.where(swap.to(view.device)[:, None, None, None], mixed, view)
