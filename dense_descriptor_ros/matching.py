"""Spatial-softmax matching of descriptors against descriptor images.

Coordinates are ``(x, y)`` with x right and y down. Two frames are used:

* pixel coordinates of the input image (pixel centres at integers), and
* grid coordinates of a descriptor image (cell centres at integers 0..w-1).

``pixel_to_grid`` / ``grid_to_pixel`` convert between them with the same convention as
bilinear upsampling with ``align_corners=False``, so a match found on the stride-8 grid lands
on the right pixel.

Shapes: B batch, N keypoints, D descriptor dim, (h, w) grid size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def pixel_to_grid(xy: Tensor, image_size: tuple[int, int], grid_size: tuple[int, int]) -> Tensor:
    """Pixel ``(..., 2)`` -> grid coordinates; sizes are ``(H, W)`` and ``(h, w)``."""
    scale = xy.new_tensor([grid_size[1] / image_size[1], grid_size[0] / image_size[0]])
    return (xy + 0.5) * scale - 0.5


def grid_to_pixel(xy: Tensor, image_size: tuple[int, int], grid_size: tuple[int, int]) -> Tensor:
    """Grid ``(..., 2)`` -> pixel coordinates; inverse of :func:`pixel_to_grid`."""
    scale = xy.new_tensor([image_size[1] / grid_size[1], image_size[0] / grid_size[0]])
    return (xy + 0.5) * scale - 0.5


def sample_descriptors(descriptors: Tensor, xy: Tensor) -> Tensor:
    """Bilinearly sample unit descriptors at grid points.

    descriptors ``(B, D, h, w)``, xy ``(B, N, 2)`` grid coords -> ``(B, N, D)``, re-normalised.
    Points outside the grid take the border value.
    """
    h, w = descriptors.shape[-2:]
    norm = torch.stack([xy[..., 0] * 2 / max(w - 1, 1) - 1, xy[..., 1] * 2 / max(h - 1, 1) - 1], -1)
    sampled = F.grid_sample(descriptors, norm.unsqueeze(2).to(descriptors.dtype), mode="bilinear",
                            padding_mode="border", align_corners=True)
    return F.normalize(sampled.squeeze(-1).transpose(1, 2), dim=-1)


def similarity(queries: Tensor, descriptors: Tensor) -> Tensor:
    """Cosine similarity of unit queries ``(B, N, D)`` to every cell of ``(B, D, h, w)``.

    Returns ``(B, N, h, w)``: one matrix product, so many queries cost little more than one.
    """
    b, d, h, w = descriptors.shape
    return torch.bmm(queries, descriptors.reshape(b, d, h * w)).reshape(b, -1, h, w)


def spatial_softmax(queries: Tensor, descriptors: Tensor, tau: float) -> Tensor:
    """``P = softmax(sim / tau)`` over all cells: ``(B, N, h, w)``, each map sums to 1."""
    sim = similarity(queries, descriptors).float()
    b, n, h, w = sim.shape
    return torch.softmax(sim.reshape(b, n, h * w) / tau, dim=-1).reshape(b, n, h, w)


def spatial_expectation(probs: Tensor) -> tuple[Tensor, Tensor]:
    """Expected location and spread of distributions ``(B, N, h, w)``.

    Returns ``(mean (B, N, 2) grid xy, variance (B, N) = var_x + var_y)`` in grid units².
    """
    h, w = probs.shape[-2:]
    xs = torch.arange(w, device=probs.device, dtype=probs.dtype)
    ys = torch.arange(h, device=probs.device, dtype=probs.dtype)
    px = probs.sum(dim=-2)  # (B, N, w) marginal over columns
    py = probs.sum(dim=-1)  # (B, N, h)
    mx = (px * xs).sum(-1)
    my = (py * ys).sum(-1)
    var = (px * (xs - mx.unsqueeze(-1)) ** 2).sum(-1) + (py * (ys - my.unsqueeze(-1)) ** 2).sum(-1)
    return torch.stack([mx, my], dim=-1), var


def expected_descriptor(probs: Tensor, descriptors: Tensor) -> Tensor:
    """``sum P * D``, re-normalised: ``(B, N, h, w)`` x ``(B, D, h, w)`` -> ``(B, N, D)``."""
    b, n, h, w = probs.shape
    flat = descriptors.reshape(b, descriptors.shape[1], h * w).to(probs.dtype)
    return F.normalize(torch.bmm(probs.reshape(b, n, h * w), flat.transpose(1, 2)), dim=-1)


@dataclass
class SoftMatch:
    """Result of matching N queries into a descriptor image (grid coordinates)."""

    location: Tensor  # (B, N, 2)
    variance: Tensor  # (B, N)
    probs: Tensor  # (B, N, h, w)


def soft_match(queries: Tensor, descriptors: Tensor, tau: float) -> SoftMatch:
    """Differentiable match: spatial softmax, then expectation and variance."""
    probs = spatial_softmax(queries, descriptors, tau)
    location, variance = spatial_expectation(probs)
    return SoftMatch(location, variance, probs)


def hard_match(queries: Tensor, descriptors: Tensor) -> tuple[Tensor, Tensor]:
    """Best cell for each query: ``(location (B, N, 2) grid xy as float, cosine (B, N))``."""
    sim = similarity(queries, descriptors)
    b, n, h, w = sim.shape
    score, index = sim.reshape(b, n, h * w).max(dim=-1)
    location = torch.stack([index % w, torch.div(index, w, rounding_mode="floor")], -1)
    return location.to(queries.dtype if queries.is_floating_point() else torch.float32), score
