"""Which recorded frames are worth training on: drop blurry ones and near-duplicates.

A robot cell camera records long static stretches (the same view again and again) and motion
blur while the arm moves; both add nothing but bias to an unordered training set.

* sharpness: variance of the Laplacian of the grey image (0..255 levels); blurry frames score
  low (a Gaussian blur of sigma 1 divides it by ~10 on natural images);
* change: mean absolute grey difference to the last *kept* frame, both block-averaged to about
  ``CHANGE_GRID`` pixels on the long side so sensor noise averages out.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy import ndimage

GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
CHANGE_GRID = 64
DEFAULT_MIN_CHANGE = 2.0
DEFAULT_MIN_SHARPNESS = 50.0


class Verdict(str, Enum):
    KEPT = "kept"
    DUPLICATE = "duplicate"
    BLURRY = "blurry"


def grey(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` float32 luma in 0..255."""
    return rgb[..., :3].astype(np.float32) @ GREY_WEIGHTS


def sharpness(grey_image: np.ndarray) -> float:
    """Variance of the Laplacian of a ``(H, W)`` grey image: high for sharp, low for blurry."""
    return float(ndimage.laplace(grey_image).var())


def thumbnail(grey_image: np.ndarray, grid: int = CHANGE_GRID) -> np.ndarray:
    """Block-average ``(H, W)`` down by an integer factor to about ``grid`` px on the long side."""
    factor = max(1, max(grey_image.shape) // grid)
    h, w = (grey_image.shape[0] // factor) * factor, (grey_image.shape[1] // factor) * factor
    blocks = grey_image[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3))


def change(thumb_a: np.ndarray, thumb_b: np.ndarray) -> float:
    """Mean absolute grey-level difference of two thumbnails (inf if their sizes differ)."""
    if thumb_a.shape != thumb_b.shape:
        return float("inf")
    return float(np.abs(thumb_a - thumb_b).mean())


@dataclass
class FrameFilter:
    """Stateful filter over a frame stream: sharpness first, then change to the last kept."""

    min_change: float = DEFAULT_MIN_CHANGE
    min_sharpness: float = DEFAULT_MIN_SHARPNESS

    def __post_init__(self) -> None:
        if self.min_change < 0 or self.min_sharpness < 0:
            raise ValueError(f"thresholds must be >= 0, got min_change={self.min_change}, "
                             f"min_sharpness={self.min_sharpness}")
        self._last_kept: np.ndarray | None = None

    def judge(self, rgb: np.ndarray) -> Verdict:
        """Classify the next ``(H, W, 3)`` frame; a kept frame becomes the new reference."""
        grey_image = grey(rgb)
        if sharpness(grey_image) < self.min_sharpness:
            return Verdict.BLURRY
        thumb = thumbnail(grey_image)
        if self._last_kept is not None and change(thumb, self._last_kept) < self.min_change:
            return Verdict.DUPLICATE
        self._last_kept = thumb
        return Verdict.KEPT
