"""Grasp-preference heatmaps from stored keypoint descriptors (supplementary G.2).

For keypoint descriptors ``d_j`` and a descriptor image ``D``::

    h_j(u, v) = exp(-||D(u, v) - d_j|| / eta)        (unit descriptors, so ||.|| in [0, 2])
    h(u, v)   = sum_j h_j(u, v) / H                   (H keypoints, so h in [0, 1])

Everything runs on the stride-8 descriptor grid: all keypoints of all objects cost one matrix
product (``matching.similarity``); a full-resolution map is made only when asked for.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dense_descriptor_ros.matching import grid_to_pixel, similarity
from dense_descriptor_ros.model.descriptor_model import DEFAULT_ETA  # the model carries its calibrated one


@dataclass(frozen=True)
class PeakSearch:
    """Which heatmap peaks a grasp may fall back to: up to ``candidates`` peaks at least
    ``candidate_distance`` pixels apart that score at least ``candidate_ratio`` x the best, so a
    spot of nearly the same preference is taken when the very best one cannot be grasped."""

    candidates: int = 5
    candidate_ratio: float = 0.8
    candidate_distance: float = 8.0


@dataclass(frozen=True, eq=False)
class Heatmap:
    """A heatmap ``grid (h, w)`` in [0, 1] on the descriptor grid of an ``image_size (H, W)`` image.

    ``weights (h, w)`` in [0, 1], when given, rank the cells (``grid * weights``, e.g. the colour
    check of ``grasping.appearance``) while the values handed out stay the heatmap's own: another
    cue may reorder the candidates, but confidence remains the descriptors' match. Cells of
    weight 0 are never peaks.
    """

    grid: Tensor
    image_size: tuple[int, int]
    weights: Tensor | None = None

    def __post_init__(self) -> None:
        size = tuple(int(v) for v in self.image_size)
        if (self.grid.ndim != 2 or len(size) != 2 or size[0] < self.grid.shape[0]
                or size[1] < self.grid.shape[1]):
            raise ValueError(f"a heatmap grid (h, w) needs an image size (H, W) with H >= h and "
                             f"W >= w, got grid {tuple(self.grid.shape)} and image size {self.image_size}")
        if self.weights is not None and tuple(self.weights.shape) != tuple(self.grid.shape):
            raise ValueError(f"heatmap weights of shape {tuple(self.weights.shape)} do not match the grid "
                             f"{tuple(self.grid.shape)}")
        object.__setattr__(self, "image_size", size)

    def with_weights(self, weights: Tensor | None) -> "Heatmap":
        """The same heatmap ranked by ``grid * weights`` (None: by the grid alone)."""
        return Heatmap(self.grid, self.image_size, None if weights is None else weights.to(self.grid.dtype))

    def ranking(self) -> "Heatmap":
        """The map the cells are ranked by (``grid * weights``), e.g. to show or compare objects."""
        return self if self.weights is None else Heatmap(self.grid * self.weights.to(self.grid.dtype), self.image_size)

    def best(self) -> tuple[np.ndarray, float]:
        """Best-ranked pixel ``(2,)`` (x, y in image pixels) and the heatmap value there (confidence)."""
        pixels, values = self.peaks(1)
        if len(pixels) == 0:
            raise ValueError("every cell of this heatmap has weight 0: no peak")
        return pixels[0], float(values[0])

    def peaks(self, k: int, min_distance: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` peaks: pixels ``(n, 2)`` (x, y) and heatmap values ``(n,)``, best-ranked
        first (none when every weight is 0)."""
        pixels, values, _ = self._peaks(k, min_distance)
        return pixels, values

    def _peaks(self, k: int, min_distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixels, values and ranking scores of up to ``k`` peaks.

        Greedy non-maximum suppression on the grid: a cell is taken when it lies at least
        ``min_distance`` image pixels from every cell taken before. The first is :meth:`best`.
        """
        if k < 1 or min_distance < 0:
            raise ValueError(f"need k >= 1 and min_distance >= 0, got k={k}, min_distance={min_distance}")
        values = self.grid.reshape(-1).float()
        scores = self.ranking().grid.reshape(-1).float()
        order = torch.argsort(scores, descending=True, stable=True)
        if self.weights is not None:
            order = order[self.weights.reshape(-1)[order] > 0]
        pixels = self.cell_pixels()[order.numpy()]
        taken: list[int] = []
        for index, pixel in enumerate(pixels):
            if all(np.hypot(*(pixel - pixels[t])) >= min_distance for t in taken):
                taken.append(index)
                if len(taken) == k:
                    break
        return (pixels[taken], values[order[taken]].numpy().astype(float),
                scores[order[taken]].numpy().astype(float))

    def cell_pixels(self) -> np.ndarray:
        """Image pixel ``(x, y)`` of every grid cell, row-major ``(h * w, 2)``, clipped to the image."""
        return cell_pixels(tuple(self.grid.shape), self.image_size)

    def candidates(self, search: PeakSearch) -> list[tuple[np.ndarray, float]]:
        """The peaks ``search`` allows (ranking within ``candidate_ratio`` of the best), best
        first: ``(pixel (2,), value)``; the best always, none when every weight is 0."""
        pixels, values, scores = self._peaks(max(1, search.candidates), search.candidate_distance)
        return [(pixel, float(value)) for pixel, value, score in zip(pixels, values, scores)
                if score >= search.candidate_ratio * scores[0]]

    def upsampled(self) -> Tensor:
        """The heatmap at image resolution ``(H, W)`` (bilinear, same grid convention as matching)."""
        return F.interpolate(self.grid[None, None], size=self.image_size, mode="bilinear",
                             align_corners=False)[0, 0]


def cell_pixels(grid_size: tuple[int, int], image_size: tuple[int, int]) -> np.ndarray:
    """Image pixel ``(x, y)`` of every cell of a ``grid_size (h, w)`` grid over an ``image_size
    (H, W)`` image, row-major ``(h * w, 2)``, clipped to the image."""
    h, w = grid_size
    index = torch.arange(h * w)
    cells = torch.stack([index % w, index // w], dim=-1).float()
    limits = np.array([image_size[1] - 1, image_size[0] - 1], dtype=float)
    return np.clip(grid_to_pixel(cells, image_size, (h, w)).numpy(), 0.0, limits)


def _grid(descriptors: Tensor) -> Tensor:
    """Accept ``(D, h, w)`` or ``(1, D, h, w)``; return unit ``(1, D, h, w)`` float64.

    The product runs in double precision because ``sqrt(2 - 2 cos)`` loses everything near a
    perfect match in float32 (cos = 1 - 6e-8 reads as distance 3e-4); ``1 - cos`` is then exact
    enough in float32 for the cheaper sqrt and exp.
    """
    if descriptors.ndim == 3:
        descriptors = descriptors[None]
    if descriptors.ndim != 4 or descriptors.shape[0] != 1:
        raise ValueError(f"expected one descriptor image of shape (1, D, h, w) or (D, h, w), "
                         f"got {tuple(descriptors.shape)}")
    return F.normalize(descriptors.double(), dim=1)


def keypoint_heatmaps(descriptors: Tensor, keypoints: Tensor, eta: float = DEFAULT_ETA) -> Tensor:
    """``h_j`` for every keypoint: descriptors ``(1, D, h, w)``, keypoints ``(H, D)`` -> ``(H, h, w)``."""
    grid = _grid(descriptors)
    if keypoints.ndim != 2 or keypoints.shape[0] == 0 or keypoints.shape[1] != grid.shape[1]:
        raise ValueError(f"expected keypoint descriptors of shape (H >= 1, {grid.shape[1]}), "
                         f"got {tuple(keypoints.shape)}")
    if not eta > 0:
        raise ValueError(f"eta must be positive, got {eta}")
    queries = F.normalize(keypoints.to(grid.device, torch.float64), dim=-1)[None]
    one_minus_cosine = torch.rsub(similarity(queries, grid)[0], 1.0).clamp_(min=0.0).float()
    distance = one_minus_cosine.mul_(2.0).sqrt_()  # ||a - b|| = sqrt(2 - 2 cos) for unit a, b
    return distance.mul_(-1.0 / eta).exp_()


def fused_heatmap(descriptors: Tensor, keypoints: Tensor, image_size: tuple[int, int],
                  eta: float = DEFAULT_ETA) -> Heatmap:
    """``h = sum_j h_j / H`` for keypoints ``(H, D)`` on descriptors ``(1, D, h, w)``."""
    return Heatmap(keypoint_heatmaps(descriptors, keypoints, eta).mean(dim=0), image_size)


def object_heatmaps(descriptors: Tensor, keypoints: Mapping[str, Tensor], image_size: tuple[int, int],
                    eta: float = DEFAULT_ETA) -> dict[str, Heatmap]:
    """One fused heatmap per object from ``{object: keypoints (H_o, D)}``, in one matrix product."""
    if not keypoints:
        raise ValueError("no keypoints given: annotate at least one grasp preference first")
    names = list(keypoints)
    dims = {tuple(keypoints[name].shape[1:]) for name in names}
    if len(dims) != 1:
        raise ValueError(f"all objects need keypoint descriptors of one shape (H_o, D), got {sorted(dims)}")
    counts = [int(keypoints[name].shape[0]) for name in names]
    if min(counts) == 0:
        raise ValueError(f"object {names[counts.index(0)]!r} has no keypoints")
    maps = keypoint_heatmaps(descriptors, torch.cat([keypoints[name] for name in names]), eta)
    return {name: Heatmap(part.mean(dim=0), image_size)
            for name, part in zip(names, torch.split(maps, counts))}
