"""Random draws for the augmentations, reproducible from one ``torch.Generator``.

The generator may live on any device (training seeds one on its GPU); the draws are tiny, so
they come back as float64 CPU tensors where all augmentation parameters are computed.
"""
from __future__ import annotations

import torch
from torch import Tensor


def rand(shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Float64 CPU samples uniform in ``[0, 1)`` drawn from ``generator`` (``None``: global RNG)."""
    device = generator.device if generator is not None else "cpu"
    return torch.rand(shape, generator=generator, device=device, dtype=torch.float64).cpu()


def uniform(shape: tuple[int, ...], low: float, high: float,
            generator: torch.Generator | None) -> Tensor:
    """Float64 CPU samples uniform in ``[low, high]`` (``low == high`` allowed)."""
    return low + (high - low) * rand(shape, generator)
