"""Colour jitter with torchvision ``ColorJitter`` semantics, written in plain torch.

Photometric changes move no pixel, so they need no correspondence bookkeeping; they exist to
make descriptors invariant to lighting and white balance. Every function takes RGB images
``(B, 3, H, W)`` in [0, 1] and a per-image factor ``(B,)``, and returns images clamped to [0, 1].
"""
from __future__ import annotations

import torch
from torch import Tensor

from dense_descriptor_ros.augmentation.sampling import rand

# ITU-R BT.601 luma weights; they sum to one, so a grey image is its own greyscale.
LUMA = (0.299, 0.587, 0.114)


def _check_images(images: Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"expected float RGB images of shape (B, 3, H, W), got "
                         f"{tuple(images.shape)} {images.dtype}")


def _per_image(factor: Tensor, images: Tensor) -> Tensor:
    """``(B,)`` factors -> ``(B, 1, 1, 1)`` on the images' device and dtype."""
    return factor.to(device=images.device, dtype=images.dtype).view(-1, 1, 1, 1)


def grayscale(images: Tensor) -> Tensor:
    """Luma of ``(B, 3, H, W)`` RGB images: ``(B, 1, H, W)``."""
    weights = images.new_tensor(LUMA).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _blend(images: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """``factor * images + (1 - factor) * other``, clamped: torchvision's ``_blend``."""
    f = _per_image(factor, images)
    return (f * images + (1 - f) * other).clamp(0, 1)


def adjust_brightness(images: Tensor, factor: Tensor) -> Tensor:
    """Scale every channel by ``factor (B,)`` (0 gives black, 1 the original)."""
    return (images * _per_image(factor, images)).clamp(0, 1)


def adjust_contrast(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the image's mean grey level (0 gives flat grey, 1 the original)."""
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(images, mean, factor)


def adjust_saturation(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the greyscale image (0 gives grey, 1 the original)."""
    return _blend(images, grayscale(images), factor)


def rgb_to_hsv(images: Tensor) -> Tensor:
    """``(B, 3, H, W)`` RGB -> HSV, every channel in [0, 1] (hue as a fraction of a turn)."""
    r, g, b = images.unbind(dim=1)
    value = torch.maximum(torch.maximum(r, g), b)
    chroma = value - torch.minimum(torch.minimum(r, g), b)
    saturation = chroma / value.clamp_min(1e-12)  # 0 for black
    # hue sector by the largest channel: red 0, green 1/3, blue 2/3 of a turn; grey gets hue 0
    numerator = torch.where(value == r, g - b, torch.where(value == g, b - r, r - g))
    offset = torch.where(value == r, 0.0, torch.where(value == g, 2.0, 4.0))
    hue = torch.remainder((numerator / chroma.clamp_min(1e-12) + offset) / 6, 1.0)
    return torch.stack([hue, saturation, value], dim=1)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_hsv`: ``(B, 3, H, W)`` HSV -> RGB.

    Closed form per channel (no six-sector table): channel ``n`` in (5, 3, 1) for (R, G, B) is
    ``v - v * s * clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + 6 * hue) mod 6``.
    """
    hue, saturation, value = hsv.split(1, dim=1)
    k = torch.remainder(hsv.new_tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1) + hue * 6, 6)
    return value - value * saturation * torch.minimum(k, 4 - k).clamp(0, 1)


def adjust_hue(images: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue by ``shift (B,)`` turns (in [-0.5, 0.5]); grey pixels stay as they are."""
    hsv = rgb_to_hsv(images)
    hsv[:, :1] = torch.remainder(hsv[:, :1] + _per_image(shift, images), 1.0)
    return hsv_to_rgb(hsv).clamp(0, 1)


def _factor_range(name: str, strength: float) -> tuple[float, float]:
    if strength < 0:
        raise ValueError(f"colour jitter {name} must be >= 0, got {strength}")
    return max(0.0, 1.0 - strength), 1.0 + strength


def color_jitter(images: Tensor, brightness: float, contrast: float, saturation: float, hue: float,
                 generator: torch.Generator | None = None) -> Tensor:
    """Random brightness, contrast, saturation and hue, each image with its own draw.

    As torchvision's ``ColorJitter``: factors uniform in ``[max(0, 1 - s), 1 + s]``, hue shift
    uniform in ``[-hue, hue]`` (``0 <= hue <= 0.5``), the four operations in a random order per
    image, a strength of 0 skipping its operation. ``images (B, 3, H, W)`` in [0, 1] -> same shape.
    Random numbers come from ``generator`` (on any device) and are drawn in a fixed amount
    per image, so a seeded generator gives the same result every time.
    """
    _check_images(images)
    if not 0 <= hue <= 0.5:
        raise ValueError(f"colour jitter hue must be in [0, 0.5], got {hue}")
    ranges = [_factor_range("brightness", brightness), _factor_range("contrast", contrast),
              _factor_range("saturation", saturation), (-hue, hue)]
    batch = images.shape[0]
    low = torch.tensor([r[0] for r in ranges], dtype=torch.float64)
    high = torch.tensor([r[1] for r in ranges], dtype=torch.float64)
    factors = low + (high - low) * rand((batch, 4), generator)
    order = rand((batch, 4), generator).argsort(dim=1)
    operations = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
    active = [brightness > 0, contrast > 0, saturation > 0, hue > 0]
    out = images.clone()
    for step in range(4):
        for index, operation in enumerate(operations):
            chosen = (order[:, step] == index).nonzero().squeeze(1)
            if active[index] and chosen.numel():
                where = chosen.to(images.device)
                out[where] = operation(out[where], factors[chosen, index])
    return out
