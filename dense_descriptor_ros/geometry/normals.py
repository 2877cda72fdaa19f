"""Surface normals from a depth image, and how squarely each pixel's surface faces the camera.

Used wherever a correspondence must stay on the same, well-seen surface: a point seen at a
grazing angle spans many millimetres, and near a crease another face may sit at the same depth.
"""
from __future__ import annotations

import numpy as np

from .camera import Intrinsics, depth_image_to_points

# Surfaces seen more obliquely than this (angle between normal and ray, cosine) are not used:
# there a pixel spans many millimetres and the texture is smeared, so no point is well defined.
MIN_VIEW_COSINE = 0.35
# A point keeps its surface from one view to the other: near a box's crease, the other view
# may show another face there.
MIN_NORMAL_AGREEMENT = 0.8


def surface_normals(intrinsics: Intrinsics, depth: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` camera-frame unit normals of a depth image (metres), facing the camera;
    NaN where unknown.

    Each derivative takes the smaller one-sided difference, so depth edges do not bend normals."""
    points = depth_image_to_points(intrinsics, depth)

    def smaller_step(axis: int) -> np.ndarray:
        forward = np.diff(points, axis=axis, append=np.nan)
        backward = np.diff(points, axis=axis, prepend=np.nan)
        use_forward = np.nan_to_num(np.linalg.norm(forward, axis=-1), nan=np.inf) <= \
            np.nan_to_num(np.linalg.norm(backward, axis=-1), nan=np.inf)
        return np.where(use_forward[..., None], forward, backward)

    normal = np.cross(smaller_step(1), smaller_step(0))
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-12
    return np.where(np.sum(normal * points, axis=-1, keepdims=True) > 0, -normal, normal)


def view_cosine(normals: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """``(H, W)`` cosine between surface normals ``(H, W, 3)`` and the ray back to the camera."""
    h, w = normals.shape[:2]
    rays = depth_image_to_points(intrinsics, np.ones((h, w)))
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    return np.nan_to_num(-np.sum(normals * rays, axis=-1), nan=0.0)


def seen_on_same_surface(expected: np.ndarray, normals: np.ndarray, intrinsics: Intrinsics,
                         rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: at pixels ``(rows, cols)`` of an image with ``normals (H, W, 3)``, the
    surface is well seen and agrees with the ``expected (N, 3)`` camera-frame normals."""
    well_seen = view_cosine(normals, intrinsics)[rows, cols] >= MIN_VIEW_COSINE
    agreement = np.nan_to_num(np.sum(normals[rows, cols] * expected, axis=-1))
    return well_seen & (agreement >= MIN_NORMAL_AGREEMENT)
