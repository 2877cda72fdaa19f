"""Distributional correspondence loss (identical-view pretraining, paper eq. 5/10)."""
from __future__ import annotations

from torch import Tensor

from dense_descriptor_ros.matching import sample_descriptors, soft_match


def distributional_loss(desc_a: Tensor, desc_b: Tensor, xy_a: Tensor, xy_b: Tensor,
                        valid: Tensor, tau: float) -> Tensor:
    """L2 distance between the spatial expectation of each match and its true location.

    desc_a, desc_b ``(B, D, h, w)``; xy_a, xy_b ``(B, N, 2)`` grid coordinates of known
    correspondences; valid ``(B, N)`` bool. Returns the mean error (grid cells) over valid
    keypoints, 0 (with a graph) when none is valid.
    """
    queries = sample_descriptors(desc_a, xy_a)
    match = soft_match(queries, desc_b, tau)
    error = (match.location - xy_b).norm(dim=-1)
    weight = valid.to(error.dtype)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)
