"""Which recorded frames are worth training on: drop blurry ones and near-duplicates.

A robot cell camera records long static stretches (the same view again and again) and motion
blur while the arm moves; both add nothing but bias to an unordered training set.

* sharpness: variance of the Laplacian of the grey image (0..255 levels); blurry frames score
  low (a Gaussian blur of sigma 1 divides it by ~10 on natural images). Its scale depends on the
  image size and the heap's texture (a sharp simulated heap scores 594 at 320x240, 319 at
  640x480, 172 at 1280x720; blurred with sigma 1: 53, 30, 16), so a frame is judged against the
  running median of the recording's own recent frames, with a low absolute floor for the first
  frames and featureless ones;
* change: mean absolute grey difference to the last *kept* frame, both block-averaged to about
  ``CHANGE_GRID`` pixels on the long side so sensor noise averages out.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy import ndimage

GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
CHANGE_GRID = 64
DEFAULT_MIN_CHANGE = 2.0
DEFAULT_MIN_SHARPNESS = 10.0
DEFAULT_RELATIVE_SHARPNESS = 0.35  # of the running median: blur of sigma 1 scores ~0.1, 9 px motion ~0.25
SHARPNESS_WINDOW = 61  # frames (2 s at 30 Hz): a burst of blur shorter than half of it leaves the median
MIN_HISTORY = 3  # frames before the relative rule applies


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
    """Stateful filter over a frame stream: sharpness first (below ``min_sharpness``, or below
    ``relative_sharpness`` times the median of the last frames), then change to the last kept."""

    min_change: float = DEFAULT_MIN_CHANGE
    min_sharpness: float = DEFAULT_MIN_SHARPNESS
    relative_sharpness: float = DEFAULT_RELATIVE_SHARPNESS

    def __post_init__(self) -> None:
        if min(self.min_change, self.min_sharpness, self.relative_sharpness) < 0 or self.relative_sharpness >= 1:
            raise ValueError(f"thresholds must be >= 0 (relative_sharpness below 1), got min_change="
                             f"{self.min_change}, min_sharpness={self.min_sharpness}, "
                             f"relative_sharpness={self.relative_sharpness}")
        self._last_kept: np.ndarray | None = None
        self._recent_sharpness: deque[float] = deque(maxlen=SHARPNESS_WINDOW)

    def blurry(self, score: float) -> bool:
        """Below the floor, or well below what this recording's recent frames score."""
        recent = self._recent_sharpness
        typical = float(np.median(recent)) if len(recent) >= MIN_HISTORY else 0.0
        recent.append(score)
        return score < max(self.min_sharpness, self.relative_sharpness * typical)

    def judge(self, rgb: np.ndarray) -> Verdict:
        """Classify the next ``(H, W, 3)`` frame; a kept frame becomes the new reference."""
        grey_image = grey(rgb)
        if self.blurry(sharpness(grey_image)):
            return Verdict.BLURRY
        thumb = thumbnail(grey_image)
        if self._last_kept is not None and change(thumb, self._last_kept) < self.min_change:
            return Verdict.DUPLICATE
        self._last_kept = thumb
        return Verdict.KEPT
