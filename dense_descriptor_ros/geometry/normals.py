"""Surface normals from a depth image, and how squarely each pixel's surface faces the camera.

Used wherever a correspondence must stay on the same, well-seen surface: a point seen at a
grazing angle spans many millimetres, and near a crease another face may sit at the same depth.
"""
from __future__ import annotations

import numpy as np

from .camera import Intrinsics, backproject, depth_image_to_points, known_depth

# Surfaces seen more obliquely than this (angle between normal and ray, cosine) are not used:
# there a pixel spans many millimetres and the texture is smeared, so no point is well defined.
MIN_VIEW_COSINE = 0.35
# A point keeps its surface from one view to the other: near a box's crease, the other view
# may show another face there.
MIN_NORMAL_AGREEMENT = 0.8


def normals_at(intrinsics: Intrinsics, depth: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(N, 3)`` camera-frame unit normals of a depth image (metres) at pixels ``(rows, cols)``,
    facing the camera; NaN where unknown.

    Each derivative takes the smaller one-sided difference, so depth edges do not bend normals.
    Only the queried pixels and their four neighbours are read: a training pair's few thousand
    correspondences need no whole-image pass (that pass was most of a pair's loading time)."""
    rows, cols = np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)
    z = np.pad(known_depth(depth), 1, constant_values=np.nan)  # no neighbour beyond the border

    def point(dr: int, dc: int) -> np.ndarray:
        r, c = rows + dr, cols + dc
        return backproject(intrinsics, np.stack([c, r], axis=-1), z[r + 1, c + 1])

    centre = point(0, 0)

    def smaller_step(after: np.ndarray, before: np.ndarray) -> np.ndarray:
        forward, backward = after - centre, centre - before
        use_forward = np.nan_to_num(np.linalg.norm(forward, axis=-1), nan=np.inf) <= \
            np.nan_to_num(np.linalg.norm(backward, axis=-1), nan=np.inf)
        return np.where(use_forward[..., None], forward, backward)

    normal = np.cross(smaller_step(point(0, 1), point(0, -1)), smaller_step(point(1, 0), point(-1, 0)))
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-12
    return np.where(np.sum(normal * centre, axis=-1, keepdims=True) > 0, -normal, normal)


def surface_normals(intrinsics: Intrinsics, depth: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` :func:`normals_at` every pixel of a depth image."""
    h, w = depth.shape
    rows, cols = np.mgrid[0:h, 0:w]
    return normals_at(intrinsics, depth, rows.ravel(), cols.ravel()).reshape(h, w, 3)


def _facing(normals: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Cosine between normals and the rays back to the camera (0 where the normal is unknown)."""
    rays = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    return np.nan_to_num(-np.sum(normals * rays, axis=-1), nan=0.0)


def view_cosine(normals: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """``(H, W)`` cosine between surface normals ``(H, W, 3)`` and the ray back to the camera."""
    h, w = normals.shape[:2]
    return _facing(normals, depth_image_to_points(intrinsics, np.ones((h, w))))


def seen_on_same_surface(expected: np.ndarray, intrinsics: Intrinsics, depth: np.ndarray,
                         rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: at pixels ``(rows, cols)`` of a depth image, the surface is well seen and
    agrees with the ``expected (N, 3)`` camera-frame normals."""
    normals = normals_at(intrinsics, depth, rows, cols)
    rays = backproject(intrinsics, np.stack([cols, rows], axis=-1), np.ones(len(normals)))
    well_seen = _facing(normals, rays) >= MIN_VIEW_COSINE
    agreement = np.nan_to_num(np.sum(normals * expected, axis=-1))
    return well_seen & (agreement >= MIN_NORMAL_AGREEMENT)
