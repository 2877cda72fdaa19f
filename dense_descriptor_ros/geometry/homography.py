"""Projective image warps that keep track of where every pixel goes.

A homography ``H`` (3x3) maps source pixel coordinates to destination pixel coordinates
(x right, y down, pixel centres at integers). Warping samples the source at ``H^-1 p`` for
every destination pixel ``p``, so ``transform_points(H, xy)`` tells where a source keypoint
lands in the warped image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def transform_points(homography: Tensor, xy: Tensor) -> Tensor:
    """Map points ``(..., N, 2)`` through ``(..., 3, 3)`` homographies.

    Always in full precision: under fp16/bf16 autocast the product would move points by up
    to ~2 px.
    """
    ones = torch.ones_like(xy[..., :1])
    with torch.autocast(xy.device.type, enabled=False):
        p = torch.cat([xy, ones], dim=-1) @ homography.to(xy.dtype).transpose(-1, -2)
    w = p[..., 2:]
    mapped = p[..., :2] / torch.where(w.abs() > 1e-12, w, torch.ones_like(w))
    # points mapped to or behind the horizon have no image: NaN
    return torch.where(w > 1e-12, mapped, torch.full_like(mapped, float("nan")))


def inside_image(xy: Tensor, size: tuple[int, int]) -> Tensor:
    """Whether points ``(..., 2)`` lie within an image of ``size = (h, w)``, whose pixel edges
    are at -0.5 and size - 0.5; NaN is outside."""
    height, width = size
    x, y = xy.unbind(dim=-1)
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def source_pixels(homography: Tensor, out_size: tuple[int, int], dtype: torch.dtype = torch.float32) -> Tensor:
    """Where each pixel of an ``out_size = (h, w)`` image warped by ``(B, 3, 3)`` homographies
    comes from in the source: ``(B, h, w, 2)`` source pixel coordinates (NaN: nowhere)."""
    h, w = out_size
    ys, xs = torch.meshgrid(torch.arange(h, device=homography.device, dtype=dtype),
                            torch.arange(w, device=homography.device, dtype=dtype), indexing="ij")
    dst = torch.stack([xs, ys], -1).reshape(1, h * w, 2).expand(len(homography), -1, -1)
    return transform_points(torch.linalg.inv(homography.to(dtype)), dst).reshape(-1, h, w, 2)


def warp_image(images: Tensor, homography: Tensor, out_size: tuple[int, int],
               mode: str = "bilinear") -> tuple[Tensor, Tensor]:
    """Warp ``(B, C, H, W)`` images by ``(B, 3, 3)`` homographies into ``out_size = (h, w)``.

    Returns ``(warped (B, C, h, w), valid (B, 1, h, w) bool)``; ``valid`` marks destination
    pixels whose source lies inside the input image. Pixels outside are zero.
    """
    in_h, in_w = images.shape[-2:]
    src = source_pixels(homography, out_size, images.dtype)
    valid = inside_image(src, (in_h, in_w)).unsqueeze(1)
    grid = torch.stack([(src[..., 0] + 0.5) / in_w * 2 - 1, (src[..., 1] + 0.5) / in_h * 2 - 1], -1)
    warped = F.grid_sample(images, grid.nan_to_num(nan=-2.0), mode=mode, padding_mode="zeros",
                           align_corners=False)
    return warped * valid.to(warped.dtype), valid
