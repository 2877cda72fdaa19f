"""The flat face of a product around a pixel, outlined in depth.

Descriptor matches find an annotated face to about one stride-8 cell, which is as coarse as the
few centimetres across a box's narrow side; the face's own outline in the depth image is exact.
A face is the connected set of pixels that lie on the plane fitted at a seed pixel (within a
tolerance), up to a radius from the seed point, grown again on the plane fitted to that set (a
small patch's normal is a little off, which a long face would feel at its far end). Its width
across any in-plane direction is measured like callipers, between the 1st and 99th percentile
of the points' positions, so a few flying pixels at the edges do not widen it. Across a side,
a face's pixels spread evenly over its width, so that range is 98% of the width, and the span is
widened to match (unwidened, a 40 mm side read 0.8-1.5 mm narrow, a 120 mm side 2.5 mm).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dense_descriptor_ros.geometry.camera import Intrinsics, backproject
from dense_descriptor_ros.grasping.surface import SurfaceSampling

SPAN_PERCENTILES = (1.0, 99.0)
SPAN_FRACTION = (SPAN_PERCENTILES[1] - SPAN_PERCENTILES[0]) / 100  # of evenly spread points
OPENING = np.ones((3, 3), bool)  # on-plane runs narrower than this are no part of a face


@dataclass(frozen=True, eq=False)
class PlanarFace:
    """``points (M, 3)`` of one flat face (camera frame), its unit ``normal (3,)`` facing the
    camera and a point ``origin (3,)`` on its plane (where it was seeded)."""

    points: np.ndarray
    normal: np.ndarray
    origin: np.ndarray

    def in_plane(self, direction: np.ndarray) -> np.ndarray:
        """``direction (3,)`` projected onto the face's plane, unit length (zero if normal to it)."""
        flat = np.asarray(direction, float) - np.dot(direction, self.normal) * self.normal
        length = np.linalg.norm(flat)
        return flat / length if length > 1e-12 else flat

    def span(self, direction: np.ndarray) -> tuple[float, float]:
        """Robust lowest and highest offset of the face's edges from ``origin`` along unit
        ``direction`` (across a side of the face)."""
        offsets = (self.points - self.origin) @ direction
        low, high = np.percentile(offsets, SPAN_PERCENTILES)
        middle, half = (low + high) / 2, (high - low) / 2 / SPAN_FRACTION
        return float(middle - half), float(middle + half)

    def narrowest(self, step_deg: float = 1.0) -> np.ndarray:
        """The in-plane unit direction across which the face is narrowest (a rectangle's short
        side; either side of a square)."""
        u = self.in_plane(np.array([1.0, 0.0, 0.0]))
        if not u.any():
            u = self.in_plane(np.array([0.0, 1.0, 0.0]))
        v = np.cross(self.normal, u)
        angles = np.radians(np.arange(0.0, 180.0, step_deg))
        directions = np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v
        offsets = (self.points - self.origin) @ directions.T
        low, high = np.percentile(offsets, SPAN_PERCENTILES, axis=0)
        return directions[int(np.argmin(high - low))]


@dataclass(frozen=True)
class FaceSegmentation(SurfaceSampling):
    """How a face is grown from its seed pixel (metres, pixels)."""

    face_tolerance: float = 0.004
    face_radius: float = 0.12
    min_face_pixels: int = 30


def planar_face(intrinsics: Intrinsics, depth: np.ndarray, xy: np.ndarray,
                config: FaceSegmentation = FaceSegmentation()) -> PlanarFace | None:
    """The flat face through pixel ``xy (2,)`` of ``depth (H, W)`` metres (NaN = invalid).

    None when the pixel has no surface normal or the face has fewer than ``min_face_pixels``
    pixels (a curved or tiny surface).
    """
    patch = config.patch(intrinsics, depth, xy)
    if patch is None or patch.normal is None:
        return None
    height, width = depth.shape
    reach = int(np.ceil(intrinsics.fx * config.face_radius / patch.point[2]))
    cx, cy = (int(v) for v in np.rint(xy))
    x0, x1, y0, y1 = max(cx - reach, 0), min(cx + reach + 1, width), max(cy - reach, 0), min(cy + reach + 1, height)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    window = depth[y0:y1, x0:x1]
    valid = np.isfinite(window)
    points = np.full(window.shape + (3,), np.nan)
    points[valid] = backproject(intrinsics, np.stack([xs[valid], ys[valid]], -1).astype(float), window[valid])
    seed = (slice(max(cy - config.point_radius, y0) - y0, cy + config.point_radius + 1 - y0),
            slice(max(cx - config.point_radius, x0) - x0, cx + config.point_radius + 1 - x0))
    origin, normal = patch.point, patch.normal
    for _ in range(2):  # grow on the seed patch's plane, then once more on the face's own fit
        face_points = _connected_on_plane(points, seed, origin, normal, config)
        if face_points is None or len(face_points) < config.min_face_pixels:
            return None
        centroid = face_points.mean(axis=0)
        normal = np.linalg.svd(face_points - centroid, full_matrices=False)[2][2]
        normal = normal if np.dot(normal, -centroid) > 0 else -normal
        origin = patch.point + np.dot(centroid - patch.point, normal) * normal
    return PlanarFace(face_points, normal, origin)


def _connected_on_plane(points: np.ndarray, seed: tuple[slice, slice], origin: np.ndarray, normal: np.ndarray,
                        config: FaceSegmentation) -> np.ndarray | None:
    """Points ``(M, 3)`` of the connected region of ``points (h, w, 3)`` (NaN = no depth) within
    ``face_tolerance`` of the plane and ``face_radius`` of ``origin`` that covers most of ``seed``.

    Regions are told apart after an ``OPENING``: a run of on-plane pixels narrower than it (a bin
    rim seen edge-on at the height of a box top touching the wall) neither joins two regions nor
    stays attached to one, where it had stretched a 40 mm face to 102 mm. The region's own edge
    pixels, which the opening trims, are given back."""
    offset = points - origin
    with np.errstate(invalid="ignore"):
        on_plane = ((np.abs(offset @ normal) <= config.face_tolerance)
                    & (np.linalg.norm(offset, axis=-1) <= config.face_radius))
    labels, _ = ndimage.label(ndimage.binary_opening(on_plane, OPENING))
    seeds = labels[seed]
    if not seeds.any():
        return None
    core = labels == np.bincount(seeds[seeds > 0]).argmax()
    return points[ndimage.binary_dilation(core, OPENING) & on_plane]
