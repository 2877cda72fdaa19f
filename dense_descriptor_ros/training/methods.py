"""One optimisation step's loss for each training method.

Each ``*_loss`` takes the model and one batch and returns ``(loss, stats)``; the trainer
owns the optimiser, precision and logging, so methods differ only in what they compute.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from dense_descriptor_ros.augmentation import Augmenter, map_keypoints
from dense_descriptor_ros.losses import cycle_correspondence_loss, distributional_loss, nt_xent_loss
from dense_descriptor_ros.matching import pixel_to_grid, sample_descriptors
from dense_descriptor_ros.training.config import TrainConfig
from dense_descriptor_ros.training.views import augmented_views, grid_size


def identical_view_loss(model: nn.Module, images: Tensor, augmenter: Augmenter,
                        config: TrainConfig) -> tuple[Tensor, dict]:
    """Distributional loss between two independently augmented copies of each image."""
    views = augmented_views(images, augmenter, config.num_keypoints, context_swap=config.context_swap)
    desc = model(torch.cat([views.view_a, views.view_b]))
    desc_a, desc_b = desc.chunk(2)
    grid_a, grid_b = views.grid_keypoints()
    loss = distributional_loss(desc_a, desc_b, grid_a, grid_b, views.valid, config.tau)
    return loss, {"loss": loss.item(), "identical": loss.item(),
                  "valid_keypoints": views.valid.float().mean().item()}


MOVED_DIFFERENCE = 0.1  # colour change (0..1, any channel) that marks a pixel as re-arranged
MOVED_MARGIN = 2  # pixels around a change that count too (an object's rim, its shadow's edge)


def moved_pixels(images: Tensor, partners: Tensor) -> Tensor:
    """``(B, H, W)`` bool: where an image differs from its partner taken by the same fixed
    camera, i.e. what the operator moved; the static bin and floor match themselves in every
    frame and would let cycles close without learning anything about the objects."""
    changed = (images - partners).abs().amax(dim=1, keepdim=True) > MOVED_DIFFERENCE
    size = 2 * MOVED_MARGIN + 1
    grown = torch.nn.functional.max_pool2d(changed.float(), size, stride=1, padding=MOVED_MARGIN)
    return grown[:, 0] > 0


def ccl_loss(model: nn.Module, images: Tensor, augmenter: Augmenter,
             config: TrainConfig) -> tuple[Tensor, dict]:
    """Cycle-Correspondence Loss on triplets (A, B, A^), plus lambda * identical-view.

    B is each image's partner from the loader (``(batch, 2, 3, h, w)``: a neighbour in its
    recording, see ``partner_gap``), or else another image of the batch (the batch rolled by
    one), augmented on its own: images of one cell share objects but no labels between them.
    ``moved_keypoints``: A's keypoints only where A differs from B (see :func:`moved_pixels`).
    """
    images, partners = (images[:, 0], images[:, 1]) if images.ndim == 5 else (images, images.roll(1, dims=0))
    moved = moved_pixels(images, partners) if config.moved_keypoints else None
    views = augmented_views(images, augmenter, config.num_keypoints, source_mask=moved,
                            context_swap=config.context_swap)
    other = augmenter(partners).images
    desc = model(torch.cat([views.view_a, views.view_b, other]))
    desc_a, desc_a_hat, desc_b = desc.chunk(3)
    grid_a, grid_a_hat = views.grid_keypoints()
    cycle = cycle_correspondence_loss(desc_a, desc_b, desc_a_hat, grid_a, grid_a_hat, views.valid,
                                      config.tau, config.quantile, config.variance_scaling)
    stats = {"cycle": cycle.loss.item(), "kept_keypoints": cycle.kept.float().mean().item(),
             "uncertainty": cycle.uncertainty[views.valid].mean().item() if views.valid.any() else 0.0}
    loss = cycle.loss
    if config.lambda_identical > 0:
        identical = distributional_loss(desc_a, desc_a_hat, grid_a, grid_a_hat, views.valid, config.tau)
        loss = loss + config.lambda_identical * identical
        stats["identical"] = identical.item()
    stats["loss"] = loss.item()
    return loss, stats


def geometric_loss(model: nn.Module, batch: tuple[Tensor, ...], augmenter: Augmenter,
                   config: TrainConfig) -> tuple[Tensor, dict]:
    """NT-Xent over reprojected RGB-D correspondences of two augmented frames."""
    image_a, image_b, xy_a, xy_b, valid = batch
    aug_a, aug_b = augmenter(image_a), augmenter(image_b)
    out_size = tuple(aug_a.images.shape[-2:])
    xy_a, inside_a = map_keypoints(aug_a.homography, xy_a, out_size)
    xy_b, inside_b = map_keypoints(aug_b.homography, xy_b, out_size)
    valid = valid & inside_a & inside_b
    desc = model(torch.cat([aug_a.images, aug_b.images]))
    desc_a, desc_b = desc.chunk(2)
    grid = grid_size(out_size)
    sampled_a = sample_descriptors(desc_a, pixel_to_grid(torch.nan_to_num(xy_a), out_size, grid))
    sampled_b = sample_descriptors(desc_b, pixel_to_grid(torch.nan_to_num(xy_b), out_size, grid))
    losses = [nt_xent_loss(sampled_a[i][valid[i]], sampled_b[i][valid[i]], config.temperature)
              for i in range(valid.shape[0]) if valid[i].sum() >= 2]
    if not losses:  # no usable pair in this batch: a zero loss that still has a graph
        loss = desc.sum() * 0.0
    else:
        loss = torch.stack(losses).mean()
    return loss, {"loss": loss.item(), "correspondences": valid.sum(dim=1).float().mean().item()}


LOSSES = {
    "identical-view": identical_view_loss,
    "ccl": ccl_loss,
    "ccl+identical-view": ccl_loss,
    "geometric": geometric_loss,
}
