"""The geometric augmentations as 3x3 homographies (source pixel -> augmented pixel).

Expressing resized crop, rotation, zoom and perspective as matrices lets the pipeline compose
them into one homography per image: one warp, and an exact pixel mapping for the ground-truth
correspondences. Pixel centres are at integers, so pixel ``i`` covers ``[i - 0.5, i + 0.5]``.

Samplers draw from a ``torch.Generator`` and always draw the same amount of random numbers
for a given batch size, so a seeded generator reproduces the same augmentations. Everything is
float64 on the CPU (tiny tensors); the pipeline casts the final matrix.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from dense_descriptor_ros.augmentation.sampling import rand, uniform

ASPECT_RATIO = (3 / 4, 4 / 3)  # torchvision RandomResizedCrop default
CROP_TRIES = 10


def crop_matrix(boxes: Tensor, out_size: tuple[int, int]) -> Tensor:
    """Resize crop boxes ``(B, 4)`` ``(x0, y0, width, height)`` to ``out_size = (h, w)``: ``(B, 3, 3)``.

    The box spans source pixels ``x0 .. x0 + width - 1``; its outer edges
    (``x0 - 0.5`` .. ``x0 + width - 0.5``) land on the output's outer edges.
    """
    x0, y0, width, height = boxes.to(torch.float64).unbind(dim=1)
    sx, sy = out_size[1] / width, out_size[0] / height
    matrix = torch.zeros(boxes.shape[0], 3, 3, dtype=torch.float64)
    matrix[:, 0, 0], matrix[:, 0, 2] = sx, (0.5 - x0) * sx - 0.5
    matrix[:, 1, 1], matrix[:, 1, 2] = sy, (0.5 - y0) * sy - 0.5
    matrix[:, 2, 2] = 1
    return matrix


def rotation_scale_matrix(angle_deg: Tensor, scale: Tensor, size: tuple[int, int]) -> Tensor:
    """Rotate by ``angle_deg (B,)`` and zoom by ``scale (B,)`` about the centre of a ``size = (h, w)``
    image: ``(B, 3, 3)``. Positive angles turn +x towards +y (clockwise on screen, y down)."""
    centre = torch.tensor([(size[1] - 1) / 2, (size[0] - 1) / 2], dtype=torch.float64)
    theta = torch.deg2rad(angle_deg.to(torch.float64))
    cos, sin = torch.cos(theta) * scale, torch.sin(theta) * scale
    linear = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    matrix = torch.zeros(angle_deg.shape[0], 3, 3, dtype=torch.float64)
    matrix[:, :2, :2] = linear
    matrix[:, :2, 2] = centre - linear @ centre
    matrix[:, 2, 2] = 1
    return matrix


def homography_from_points(src: Tensor, dst: Tensor) -> Tensor:
    """The homography taking 4 points ``src (B, 4, 2)`` to ``dst (B, 4, 2)``: ``(B, 3, 3)``.

    Solves the 8x8 direct linear system with ``h33 = 1``; raises if the points are degenerate.
    """
    src, dst = src.to(torch.float64), dst.to(torch.float64)
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    system = torch.cat([rows_u, rows_v], dim=1)  # (B, 8, 8)
    target = torch.cat([u, v], dim=1).unsqueeze(-1)  # (B, 8, 1)
    solution, info = torch.linalg.solve_ex(system, target)
    if info.any():
        raise ValueError("homography_from_points: degenerate points (three of four collinear?)")
    return torch.cat([solution.squeeze(-1), torch.ones_like(x[:, :1])], dim=1).reshape(-1, 3, 3)


def _central_box(in_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """torchvision's fallback: the largest centred box with an allowed aspect ratio."""
    height, width = in_size
    ratio = width / height
    if ratio < ASPECT_RATIO[0]:
        width_c, height_c = width, int(round(width / ASPECT_RATIO[0]))
    elif ratio > ASPECT_RATIO[1]:
        width_c, height_c = int(round(height * ASPECT_RATIO[1])), height
    else:
        width_c, height_c = width, height
    return (width - width_c) // 2, (height - height_c) // 2, width_c, height_c


def sample_crop_boxes(batch: int, in_size: tuple[int, int], area: tuple[float, float],
                      generator: torch.Generator | None) -> Tensor:
    """RandomResizedCrop boxes ``(B, 4)`` ``(x0, y0, width, height)``, integer-valued float64.

    Area fraction uniform in ``area``, aspect ratio log-uniform in 3/4..4/3; the first of
    ``CROP_TRIES`` draws that fits the ``in_size = (h, w)`` image wins, else the central box.
    """
    height, width = in_size
    fraction = uniform((batch, CROP_TRIES), area[0], area[1], generator) * (height * width)
    aspect = torch.exp(uniform((batch, CROP_TRIES), math.log(ASPECT_RATIO[0]),
                               math.log(ASPECT_RATIO[1]), generator))
    box_w = torch.round(torch.sqrt(fraction * aspect))
    box_h = torch.round(torch.sqrt(fraction / aspect))
    position = rand((batch, CROP_TRIES, 2), generator)
    box_x = torch.floor(position[..., 0] * (width - box_w + 1))
    box_y = torch.floor(position[..., 1] * (height - box_h + 1))
    fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
    boxes = torch.stack([box_x, box_y, box_w, box_h], dim=-1)  # (B, tries, 4)
    first = fits.to(torch.int8).argmax(dim=1)
    chosen = boxes[torch.arange(batch), first]
    fallback = torch.tensor(_central_box(in_size), dtype=torch.float64)
    return torch.where(fits.any(dim=1, keepdim=True), chosen, fallback)


def sample_perspective_corners(batch: int, size: tuple[int, int], distortion: float,
                               generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """RandomPerspective corner pairs ``(start (B, 4, 2), end (B, 4, 2))`` for a ``(h, w)`` image.

    Corners (top-left, top-right, bottom-right, bottom-left pixel centres) move inward by
    uniform ``[0, distortion * (w // 2)]`` in x and ``[0, distortion * (h // 2)]`` in y.
    """
    height, width = size
    start = torch.tensor([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
                         dtype=torch.float64).expand(batch, 4, 2)
    inward = torch.tensor([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=torch.float64)
    reach = torch.tensor([distortion * (width // 2), distortion * (height // 2)], dtype=torch.float64)
    offset = rand((batch, 4, 2), generator) * reach
    return start, start + inward * offset
