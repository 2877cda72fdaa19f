"""3D points and surface normals from an aligned depth image, robust to holes.

Depth sensors leave holes (0 or NaN) and flying pixels at edges, so a grasp point never
trusts one pixel: its depth is the median of the valid depths in a small window, and the
normal is a least-squares plane through the back-projected valid points of a patch whose
depths agree with that median.

Depth images are ``(H, W)`` float metres with NaN for invalid pixels (see :func:`depth_in_metres`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dense_descriptor_ros.geometry.camera import Intrinsics, backproject, known_depth, require_pixels_inside


def depth_in_metres(depth: np.ndarray, depth_scale: float = 0.001) -> np.ndarray:
    """Any depth image -> ``(H, W)`` float64 metres with NaN where invalid.

    Integer images (16UC1, millimetres by default) are scaled by ``depth_scale``; float
    images (32FC1) are taken as metres. Zero, negative, NaN and inf become NaN.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"expected a depth image of shape (H, W), got {depth.shape}")
    if np.issubdtype(depth.dtype, np.integer):
        metres = depth.astype(float) * depth_scale
    elif np.issubdtype(depth.dtype, np.floating):
        metres = depth.astype(float)
    else:
        raise ValueError(f"depth must be an integer (millimetres) or float (metres) image, "
                         f"got dtype {depth.dtype}")
    return known_depth(metres)


def _window(depth: np.ndarray, xy: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(M, 2)`` and depths ``(M,)`` of the valid pixels near ``xy``."""
    height, width = depth.shape
    cx, cy = (int(v) for v in np.rint(xy))
    x0, x1 = max(cx - radius, 0), min(cx + radius + 1, width)
    y0, y1 = max(cy - radius, 0), min(cy + radius + 1, height)
    patch = depth[y0:y1, x0:x1]
    ys, xs = np.nonzero(np.isfinite(patch))
    return np.stack([xs + x0, ys + y0], axis=-1).astype(float), patch[ys, xs]


def _check_image(intrinsics: Intrinsics, depth: np.ndarray, xy: np.ndarray) -> np.ndarray:
    if depth.ndim != 2 or depth.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(f"depth image of shape {depth.shape} does not match the camera's "
                         f"{intrinsics.width}x{intrinsics.height} intrinsics (expected "
                         f"({intrinsics.height}, {intrinsics.width}))")
    return require_pixels_inside(xy, intrinsics.width, intrinsics.height)[0]


def robust_depth(depth: np.ndarray, xy: np.ndarray, radius: int = 2) -> float:
    """Median of the valid depths in the ``(2 radius + 1)^2`` window at pixel ``xy``; NaN if none."""
    _, values = _window(depth, np.asarray(xy, dtype=float), radius)
    return float(np.median(values)) if values.size else float("nan")


@dataclass(frozen=True, eq=False)
class SurfacePatch:
    """A local plane: ``point (3,)`` on the surface at the pixel, unit ``normal (3,)`` facing
    the camera (or None when the patch could not support a plane), fit ``rms`` in metres and the
    number of ``points`` the plane went through."""

    point: np.ndarray
    normal: np.ndarray | None
    rms: float
    points: int


@dataclass(frozen=True)
class SurfaceSampling:
    """How a grasp point and its surface normal are read from depth (pixels, metres)."""

    point_radius: int = 2
    normal_radius: int = 7
    depth_tolerance: float = 0.02

    def patch(self, intrinsics: Intrinsics, depth: np.ndarray, xy: np.ndarray) -> "SurfacePatch | None":
        return surface_patch(intrinsics, depth, xy, point_radius=self.point_radius,
                             normal_radius=self.normal_radius, depth_tolerance=self.depth_tolerance)


def surface_patch(intrinsics: Intrinsics, depth: np.ndarray, xy: np.ndarray, *,
                  point_radius: int = 2, normal_radius: int = 7, depth_tolerance: float = 0.02,
                  min_points: int = 8) -> SurfacePatch | None:
    """Surface point and normal at pixel ``xy (2,)`` of ``depth (H, W)`` metres (NaN = invalid).

    Returns None when no valid depth lies within ``point_radius`` of the pixel. The normal uses
    the valid pixels within ``normal_radius`` whose depth is within ``depth_tolerance`` of the
    point's (so a patch straddling an object edge fits the object, not the background), fits a
    plane by SVD, drops points more than 3 robust sigmas off it, and fits again; ``normal`` is
    None when fewer than ``min_points`` remain or they are collinear.
    """
    xy = _check_image(intrinsics, depth, xy)
    z = robust_depth(depth, xy, point_radius)
    if not np.isfinite(z):
        return None
    point = backproject(intrinsics, xy[None], np.array([z]))[0]
    pixels, depths = _window(depth, xy, normal_radius)
    keep = np.abs(depths - z) <= depth_tolerance
    points = backproject(intrinsics, pixels[keep], depths[keep])
    fit = _fit_plane(points, min_points)
    if fit is not None:
        sigma = 1.4826 * np.median(fit[1])  # robust residual scale
        fit = _fit_plane(points[fit[1] <= max(3.0 * sigma, 1e-4)], min_points) or fit
    if fit is None:
        return SurfacePatch(point=point, normal=None, rms=float("nan"), points=0)
    normal, residual = fit
    return SurfacePatch(point=point, normal=normal, rms=float(np.sqrt(np.mean(residual ** 2))),
                        points=len(residual))


def footprint_on_plane(intrinsics: Intrinsics, depth: np.ndarray, xy: np.ndarray, patch: SurfacePatch,
                       radius: float, tolerance: float) -> float:
    """Fraction of a ``radius`` (metres) disc around pixel ``xy`` whose depth lies within
    ``tolerance`` (metres) of ``patch``'s plane; invalid depth counts as off the plane.

    This is whether a suction cup can seal: its rim must rest on one flat face, not straddle
    an edge, a gap or a neighbour. The disc is drawn in the image with the radius the cup has
    at the point's depth; a tilted face makes the true footprint smaller, so this is strict.
    """
    if patch.normal is None:
        return 0.0
    xy = _check_image(intrinsics, depth, xy)
    pixel_radius = _pixels_across(intrinsics, radius, patch)
    cx, cy = (int(v) for v in np.rint(xy))
    ys, xs = np.mgrid[cy - pixel_radius:cy + pixel_radius + 1, cx - pixel_radius:cx + pixel_radius + 1]
    disc = (xs - cx) ** 2 + (ys - cy) ** 2 <= pixel_radius ** 2
    close = disc & _on_plane(intrinsics, depth, xs, ys, patch, tolerance)
    return float(close.sum() / disc.sum())


def seal_centre(intrinsics: Intrinsics, depth: np.ndarray, xy: np.ndarray, patch: SurfacePatch,
                search: float, tolerance: float) -> np.ndarray:
    """The pixel within ``search`` metres of pixel ``xy`` that lies deepest inside the flat face
    under it: farthest from where the face ends (depth off ``patch``'s plane by more than
    ``tolerance`` metres, or unknown), the nearest to ``xy`` among equals; ``xy`` itself when it
    is on no face.

    Descriptors place a grasp to a few pixels; on a small face that is the difference between a
    cup sealing and its rim hanging over the edge. The face is read from depth alone, in a window
    reaching twice ``search`` beyond the search disc (farther depth does not count).
    """
    xy = _check_image(intrinsics, depth, xy)
    if patch.normal is None or search <= 0:
        return xy
    reach = _pixels_across(intrinsics, search, patch)
    height, width = depth.shape
    cx, cy = (int(v) for v in np.rint(xy))
    x0, x1 = max(cx - 3 * reach, 0), min(cx + 3 * reach + 1, width)
    y0, y1 = max(cy - 3 * reach, 0), min(cy + 3 * reach + 1, height)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    on_plane = _on_plane(intrinsics, depth, xs, ys, patch, tolerance)
    if not on_plane[cy - y0, cx - x0]:
        return xy
    faces, _ = ndimage.label(on_plane)
    face = faces == faces[cy - y0, cx - x0]
    depth_inside = ndimage.distance_transform_edt(np.pad(face, 1))[1:-1, 1:-1]
    offset = np.hypot(xs - xy[0], ys - xy[1])
    score = np.where(offset <= reach, depth_inside - 1e-3 * offset, -np.inf)
    row, col = np.unravel_index(np.argmax(score), score.shape)
    return np.array([xs[row, col], ys[row, col]], dtype=float)


def _pixels_across(intrinsics: Intrinsics, metres: float, patch: SurfacePatch) -> int:
    """How many pixels (at least one) ``metres`` span at ``patch``'s depth."""
    return max(1, int(np.ceil(intrinsics.fx * metres / patch.point[2])))


def _on_plane(intrinsics: Intrinsics, depth: np.ndarray, xs: np.ndarray, ys: np.ndarray, patch: SurfacePatch,
              tolerance: float) -> np.ndarray:
    """Whether each pixel ``(xs, ys)`` (integer grids, any may lie outside the image) has known
    depth within ``tolerance`` metres of ``patch``'s plane."""
    height, width = depth.shape
    known = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    values = np.full(xs.shape, np.nan)
    values[known] = depth[ys[known], xs[known]]
    known &= np.isfinite(values)
    points = backproject(intrinsics, np.stack([xs[known], ys[known]], -1).astype(float), values[known])
    close = np.zeros(xs.shape, dtype=bool)
    close[known] = np.abs((points - patch.point) @ patch.normal) <= tolerance
    return close


def _fit_plane(points: np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Least-squares plane through ``points (M, 3)``: ``(unit normal facing the camera origin (3,),
    absolute residuals (M,))``, or None for too few or collinear points."""
    if len(points) < min_points:
        return None
    centroid = points.mean(axis=0)
    _, singular, vt = np.linalg.svd(points - centroid, full_matrices=False)
    if singular[1] < 0.05 * singular[0]:
        return None
    normal = vt[2] if np.dot(vt[2], -centroid) > 0 else -vt[2]
    return normal, np.abs((points - centroid) @ normal)
