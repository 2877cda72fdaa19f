"""Colour overlay of a heatmap on its camera image, for operators (rqt_image_view, RViz).

Values are mapped through a perceptual colour map and alpha-blended onto the image, so the
clicked-on overlay shows both the scene and where the preferences match.
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps

COLOUR_MAP = "inferno"
_LUT = (colormaps[COLOUR_MAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)


def colourize(values: np.ndarray) -> np.ndarray:
    """Values ``(H, W)`` in [0, 1] (NaN -> 0, clipped) -> RGB ``(H, W, 3)`` uint8."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"expected heatmap values of shape (H, W), got {values.shape}")
    index = np.rint(np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * 255.0).astype(np.intp)
    return _LUT[index]


def heatmap_overlay(rgb: np.ndarray, values: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """RGB ``(H, W, 3)`` uint8 blended with the colourized ``values (H, W)``: ``(H, W, 3)`` uint8."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB image (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if np.shape(values) != rgb.shape[:2]:
        raise ValueError(f"heatmap of shape {np.shape(values)} does not match the {rgb.shape[:2]} image; "
                         "upsample it first (Heatmap.upsampled)")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    blended = (1.0 - alpha) * rgb + alpha * colourize(values)
    return np.rint(blended).astype(np.uint8)
