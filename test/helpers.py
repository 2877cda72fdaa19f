"""Small builders shared by the tests: tiny models and one-hot descriptor fields."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from dense_descriptor_ros.model import DescriptorNet, ModelConfig


def tiny_model(seed: int = 0, descriptor_dim: int = 16) -> DescriptorNet:
    torch.manual_seed(seed)
    return DescriptorNet(ModelConfig(backbone="resnet18", descriptor_dim=descriptor_dim, width=8))


def one_hot_field(h: int, w: int, batch: int = 1) -> torch.Tensor:
    """A perfect descriptor image: every cell its own orthogonal unit vector, ``(B, h*w, h, w)``."""
    field = torch.eye(h * w).reshape(h * w, h, w)
    return field.unsqueeze(0).repeat(batch, 1, 1, 1)


def smooth_field(h: int, w: int, dim: int = 8, seed: int = 0) -> torch.Tensor:
    """A random but spatially smooth unit descriptor image ``(1, dim, h, w)``."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, dim, max(2, h // 3), max(2, w // 3), generator=g)
    return F.normalize(F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False), dim=1)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run on ``count`` threads whatever earlier test modules set: float sums run in another
    order on another thread count, and a short training run follows that order."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
