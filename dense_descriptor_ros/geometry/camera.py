"""Pinhole camera model: projection, back-projection and rigid transforms (numpy and torch).

Camera frame as in ROS optical frames: x right, y down, z forward (metres).
Poses are 4x4 ``T_world_camera`` matrices mapping camera-frame points into the world.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class PixelOutsideImageError(ValueError):
    """A pixel coordinate that does not lie inside the image it refers to."""


def require_pixels_inside(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return pixels ``(N, 2)`` as float, or raise when any lies outside ``width`` x ``height``."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    inside = (np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] <= width - 1)
              & (xy[:, 1] >= 0) & (xy[:, 1] <= height - 1))
    if not inside.all():
        bad = xy[~inside][0]
        raise PixelOutsideImageError(
            f"pixel ({bad[0]:g}, {bad[1]:g}) is outside the {width}x{height} image "
            f"(expected 0 <= x <= {width - 1} and 0 <= y <= {height - 1})")
    return xy


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> "Intrinsics":
        k = np.asarray(k, dtype=float).reshape(3, 3)
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), int(width), int(height))

    def scaled(self, width: int, height: int) -> "Intrinsics":
        """Intrinsics of the same camera resized to ``width`` x ``height`` (pixel centres kept)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                          (self.cy + 0.5) * sy - 0.5, width, height)

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                "width": self.width, "height": self.height}


def backproject(intrinsics: Intrinsics, xy: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Pixels ``(N, 2)`` with depths ``(N,)`` (metres) -> camera-frame points ``(N, 3)``."""
    xy = np.asarray(xy, dtype=float)
    z = np.asarray(depth, dtype=float)
    x = (xy[:, 0] - intrinsics.cx) * z / intrinsics.fx
    y = (xy[:, 1] - intrinsics.cy) * z / intrinsics.fy
    return np.stack([x, y, z], axis=-1)


def project(intrinsics: Intrinsics, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame points ``(N, 3)`` -> ``(pixels (N, 2), depth (N,))``; z <= 0 gives NaN pixels."""
    points = np.asarray(points, dtype=float)
    z = points[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(z > 0, z, np.nan)
        x = intrinsics.fx * points[:, 0] / safe + intrinsics.cx
        y = intrinsics.fy * points[:, 1] / safe + intrinsics.cy
    return np.stack([x, y], axis=-1), z


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to points ``(N, 3)``."""
    transform = np.asarray(transform, dtype=float)
    return np.asarray(points, dtype=float) @ transform[:3, :3].T + transform[:3, 3]


def move_with_objects(points: np.ndarray, normals: np.ndarray, ids: np.ndarray, poses_a: dict,
                      poses_b: dict) -> tuple[np.ndarray, np.ndarray]:
    """World points and normals ``(N, 3)`` on objects ``ids (N,)`` carried from scene A to scene
    B by each object's pose (``T_world_object`` by id in ``poses_a`` / ``poses_b``); points on
    anything without a pose in both scenes become NaN: they have nothing to correspond to."""
    points, normals = np.array(points, dtype=float), np.array(normals, dtype=float)
    for object_id in np.unique(ids):
        here = ids == object_id
        if object_id in poses_a and object_id in poses_b:
            motion = poses_b[object_id] @ np.linalg.inv(poses_a[object_id])
            points[here] = transform_points(motion, points[here])
            normals[here] = normals[here] @ motion[:3, :3].T
        else:
            points[here] = np.nan
    return points, normals


def known_depth(depth: np.ndarray) -> np.ndarray:
    """Depth (metres) as float with NaN wherever it is unknown: NaN, inf, zero or negative."""
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(float)


def depth_image_to_points(intrinsics: Intrinsics, depth: np.ndarray) -> np.ndarray:
    """Depth image ``(H, W)`` metres -> organised point image ``(H, W, 3)``; invalid depth -> NaN."""
    h, w = depth.shape
    ys, xs = np.mgrid[0:h, 0:w]
    z = known_depth(depth)
    pts = backproject(intrinsics, np.stack([xs.ravel(), ys.ravel()], -1), z.ravel())
    return pts.reshape(h, w, 3)
