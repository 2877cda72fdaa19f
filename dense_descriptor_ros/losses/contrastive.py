"""NT-Xent contrastive loss over geometric correspondences (the supervised baseline)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent_loss(desc_a: Tensor, desc_b: Tensor, temperature: float = 0.07) -> Tensor:
    """Symmetric InfoNCE: row i of ``desc_a (N, D)`` must pick row i of ``desc_b (N, D)``.

    Both inputs are unit descriptors of corresponding points; every other row is a negative.
    """
    if desc_a.shape != desc_b.shape or desc_a.ndim != 2:
        raise ValueError(f"expected two (N, D) tensors of one shape, got {tuple(desc_a.shape)} "
                         f"and {tuple(desc_b.shape)}")
    logits = desc_a @ desc_b.T / temperature
    target = torch.arange(desc_a.shape[0], device=desc_a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
