"""Two augmented views of a batch and the keypoints whose position is known in both."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dense_descriptor_ros.augmentation import AugmentedBatch, Augmenter, map_keypoints
from dense_descriptor_ros.augmentation.context import (disc_weight, points_in_discs, sample_discs,
                                                        swap_context)
from dense_descriptor_ros.augmentation.sampling import rand
from dense_descriptor_ros.geometry.homography import inside_image
from dense_descriptor_ros.matching import pixel_to_grid

STRIDE = 8


@dataclass
class ViewPair:
    """Views A and A^ of the same images with N keypoints known in both (pixel coords)."""

    view_a: Tensor  # (B, 3, h, w)
    view_b: Tensor  # (B, 3, h, w)
    xy_a: Tensor  # (B, N, 2)
    xy_b: Tensor  # (B, N, 2)
    valid: Tensor  # (B, N) bool

    def grid_keypoints(self) -> tuple[Tensor, Tensor]:
        """Keypoints in stride-8 grid coordinates of each view."""
        size = tuple(self.view_a.shape[-2:])
        grid = grid_size(size)
        return pixel_to_grid(self.xy_a, size, grid), pixel_to_grid(self.xy_b, size, grid)


def grid_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """Size of the network's stride-8 output for an input of ``image_size = (H, W)``."""
    return (-(-image_size[0] // STRIDE), -(-image_size[1] // STRIDE))


def augmented_views(images: Tensor, augmenter: Augmenter, num_keypoints: int,
                    generator: torch.Generator | None = None, source_mask: Tensor | None = None,
                    context_swap: float = 0.0) -> ViewPair:
    """Augment ``images (B, 3, H, W)`` twice and sample keypoints visible in both views.

    Keypoints are drawn uniformly in view A; a keypoint is valid when it comes from inside
    the source image, from a true pixel of ``source_mask (B, H, W)`` if given, and its mapped
    position lies inside view A^. With ``context_swap`` > 0 they are drawn in one disc of each
    source image instead, and each view, with that probability, keeps only the disc and takes
    its surroundings from another image of the batch (augmentation/context.py).
    """
    a = augmenter(images)
    b = augmenter(images)
    if context_swap > 0:
        return _context_swapped_views(images, a, b, augmenter, num_keypoints, generator, source_mask,
                                      context_swap)
    out_size = tuple(a.images.shape[-2:])
    batch = images.shape[0]
    scale = torch.tensor([out_size[1], out_size[0]], dtype=images.dtype, device=images.device)
    xy_a = (torch.rand(batch, num_keypoints, 2, generator=generator, device=images.device) * scale - 0.5)
    a_to_src = torch.linalg.inv(a.homography)
    xy_source, from_source = map_keypoints(a_to_src, xy_a, tuple(images.shape[-2:]))
    if source_mask is not None:
        from_source = from_source & _lookup(source_mask, xy_source)
    xy_b, inside_b = map_keypoints(b.homography @ a_to_src, xy_a, out_size)
    return ViewPair(a.images, b.images, xy_a, torch.nan_to_num(xy_b), from_source & inside_b)


def _context_swapped_views(images: Tensor, a: AugmentedBatch, b: AugmentedBatch, augmenter: Augmenter,
                           num_keypoints: int, generator: torch.Generator | None,
                           source_mask: Tensor | None, probability: float) -> ViewPair:
    """:func:`augmented_views` with keypoints in a disc of each source and swapped surroundings."""
    out_size = tuple(a.images.shape[-2:])
    source_size = tuple(images.shape[-2:])
    batch = images.shape[0]
    centre, radius = sample_discs(batch, source_size, augmenter.generator)
    xy_source = points_in_discs(centre, radius, num_keypoints, generator).to(images.device, torch.float32)
    from_source = inside_image(xy_source, source_size)  # a disc may leave the image
    if source_mask is not None:
        from_source = from_source & _lookup(source_mask, xy_source)
    xy_a, inside_a = map_keypoints(a.homography, xy_source, out_size)
    xy_b, inside_b = map_keypoints(b.homography, xy_source, out_size)
    others = images.roll(1, dims=0)
    views = []
    for view in (a, b):
        swap = rand((batch,), augmenter.generator) < probability
        weight = disc_weight(view.homography, centre, radius, out_size)
        views.append(swap_context(view.images, augmenter(others).images, weight, swap))
    return ViewPair(views[0], views[1], torch.nan_to_num(xy_a), torch.nan_to_num(xy_b),
                    from_source & inside_a & inside_b)


def _lookup(mask: Tensor, xy: Tensor) -> Tensor:
    """``mask (B, H, W)`` at the nearest pixel of ``xy (B, N, 2)``; False outside or at NaN."""
    height, width = mask.shape[-2:]
    xy = torch.nan_to_num(xy, nan=-1.0).round().long()
    x, y = xy[..., 0], xy[..., 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    flat = mask.flatten(1).gather(1, (y.clamp(0, height - 1) * width + x.clamp(0, width - 1)))
    return inside & flat
