"""Cycle-Correspondence Loss (CCL).

Keypoints of A are matched into an unlabelled image B; the *expected descriptor* there is
matched back into A^, an augmented copy of A whose pixel mapping is known. The cycle must
return to the keypoint's known position in A^. Cycles through regions B does not show are
uncertain (wide softmax), so each error is scaled by ``1 / (1 + X)`` with X the summed
variance of both matches (detached: the network must not learn to inflate variance), and
only the q-quantile most certain keypoints contribute.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dense_descriptor_ros.matching import SoftMatch, expected_descriptor, sample_descriptors, soft_match


@dataclass
class CycleLossOutput:
    loss: Tensor  # scalar
    error: Tensor  # (B, N) cycle error in grid cells
    uncertainty: Tensor  # (B, N) detached X_i = var(A->B) + var(B->A^)
    kept: Tensor  # (B, N) bool, keypoints that contributed


def quantile_keep_mask(uncertainty: Tensor, valid: Tensor, q: float) -> Tensor:
    """Keep the fraction ``q`` of valid keypoints with the lowest uncertainty.

    uncertainty, valid ``(B, N)``; the quantile is taken over the whole batch.
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile q must be in (0, 1], got {q}")
    values = uncertainty[valid]
    if values.numel() == 0:
        return torch.zeros_like(valid)
    count = max(1, int(round(q * values.numel())))
    threshold = values.kthvalue(count).values
    return valid & (uncertainty <= threshold)


@dataclass
class Cycle:
    """Keypoints of A matched into B (``forward``) and their expected descriptors back into A^."""

    forward: SoftMatch  # location (B, N, 2) in B's grid, variance (B, N)
    back: SoftMatch  # location (B, N, 2) in A^'s grid, variance (B, N)

    @property
    def uncertainty(self) -> Tensor:
        """``(B, N)`` X_i = var(A->B) + var(B->A^), detached."""
        return (self.forward.variance + self.back.variance).detach()


def run_cycle(desc_a: Tensor, desc_b: Tensor, desc_a_hat: Tensor, xy_a: Tensor, tau: float) -> Cycle:
    """A -> B -> A^ for keypoints ``xy_a (B, N, 2)`` (grid coordinates of A)."""
    forward = soft_match(sample_descriptors(desc_a, xy_a), desc_b, tau)
    return Cycle(forward, soft_match(expected_descriptor(forward.probs, desc_b), desc_a_hat, tau))


def cycle_correspondence_loss(desc_a: Tensor, desc_b: Tensor, desc_a_hat: Tensor, xy_a: Tensor,
                              xy_a_hat: Tensor, valid: Tensor, tau: float = 0.03,
                              quantile: float = 0.35, variance_scaling: bool = True) -> CycleLossOutput:
    """CCL over a batch of triplets (A, B, A^).

    desc_* ``(B, D, h, w)`` unit descriptors at stride 8; xy_a ``(B, N, 2)`` keypoints in A and
    xy_a_hat ``(B, N, 2)`` their known positions in A^ (grid coordinates); valid ``(B, N)``.
    ``variance_scaling=False`` leaves the errors unscaled (the paper's ablation).
    """
    cycle = run_cycle(desc_a, desc_b, desc_a_hat, xy_a, tau)
    error = (cycle.back.location - xy_a_hat).norm(dim=-1)
    uncertainty = cycle.uncertainty
    kept = quantile_keep_mask(uncertainty, valid, quantile)
    weighted = error / (1.0 + uncertainty) if variance_scaling else error
    weight = kept.to(weighted.dtype)
    loss = (weighted * weight).sum() / weight.sum().clamp_min(1.0)
    return CycleLossOutput(loss, error.detach(), uncertainty, kept)
