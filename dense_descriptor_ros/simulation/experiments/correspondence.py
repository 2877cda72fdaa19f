"""Ground-truth pixel correspondences between two renders, from depth and known poses.

A query pixel in A is back-projected with A's depth. If it lies on an object that moved between
the renders (two different scenes), it is carried along with that object's pose; otherwise the
world point stays put (static scene, moving camera). It counts as visible in B only when B's
depth at the projected pixel agrees and B's mask shows the same object there, which prunes
occlusion, leaving the image and self-occlusion.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...geometry.camera import backproject, move_with_objects, project, transform_points
from ...geometry.normals import MIN_VIEW_COSINE, normals_at, seen_on_same_surface, surface_normals, view_cosine
from ..world.render import RenderedFrame

DEPTH_TOLERANCE = 0.0015  # metres, plus 0.2 % of the depth: below the 6 mm of the thinnest pack


def well_seen(frame: RenderedFrame) -> np.ndarray:
    """``(H, W)`` bool: surface seen less obliquely than ``MIN_VIEW_COSINE`` allows."""
    return view_cosine(surface_normals(frame.intrinsics, frame.depth), frame.intrinsics) >= MIN_VIEW_COSINE


def sample_object_keypoints(frame: RenderedFrame, object_id: int, count: int, rng: np.random.Generator,
                            edge_band: int = 4, seen: np.ndarray | None = None) -> np.ndarray:
    """Integer pixels ``(n, 2)`` (x, y) on ``object_id``: half within ``edge_band`` px of its
    silhouette, half further inside, none on obliquely seen surfaces; ``n < count`` when the
    visible region is too small. ``seen``: :func:`well_seen` of the frame, if already computed."""
    mask = frame.segmentation == object_id
    inside = ndimage.binary_erosion(mask, iterations=1)  # skip pixels mixing object and background
    interior = ndimage.binary_erosion(mask, iterations=edge_band + 1)
    seen = well_seen(frame) if seen is None else seen
    edge, interior = inside & ~interior & seen, interior & seen
    chosen = []
    for region, n in ((edge, count // 2), (interior, count - count // 2)):
        ys, xs = np.nonzero(region)
        take = rng.choice(len(xs), size=min(n, len(xs)), replace=False) if len(xs) else []
        chosen.extend((xs[i], ys[i]) for i in take)
    return np.asarray(chosen, dtype=float).reshape(-1, 2)


def correspondences(frame_a: RenderedFrame, frame_b: RenderedFrame, xy: np.ndarray,
                    follow_objects: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, 2)`` of A -> (targets ``(N, 2)`` in B, visible ``(N,)`` bool).

    ``follow_objects``: points on objects move with each object's pose from A to B (use for two
    different scenes); otherwise the scene is static and only the camera moved.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    cols, rows = np.round(xy[:, 0]).astype(int), np.round(xy[:, 1]).astype(int)
    h, w = frame_a.depth.shape
    if len(xy) and (cols.min() < 0 or rows.min() < 0 or cols.max() >= w or rows.max() >= h):
        raise ValueError(f"query pixels must lie inside image A ({w}x{h})")
    depth_a = frame_a.depth[rows, cols]
    ids = frame_a.segmentation[rows, cols].astype(int)
    world = transform_points(frame_a.T_world_camera, backproject(frame_a.intrinsics, xy, depth_a))
    normals = normals_at(frame_a.intrinsics, frame_a.depth, rows, cols) @ frame_a.T_world_camera[:3, :3].T
    if follow_objects:
        world, normals = move_with_objects(world, normals, ids, frame_a.object_poses, frame_b.object_poses)
    b_from_world = np.linalg.inv(frame_b.T_world_camera)
    targets, z = project(frame_b.intrinsics, transform_points(b_from_world, world))
    visible = _visible(frame_b, targets, z, ids, normals @ b_from_world[:3, :3].T)
    return targets, visible & (depth_a > 0)


def _visible(frame: RenderedFrame, targets: np.ndarray, z: np.ndarray, ids: np.ndarray,
             normals: np.ndarray) -> np.ndarray:
    """Depth, id, obliqueness and normal tests at the projected pixels (normals ``(N, 3)`` in
    this camera's frame); on slopes the depth may lie anywhere between the four pixels around
    the sub-pixel target."""
    h, w = frame.depth.shape
    finite = np.all(np.isfinite(targets), axis=1) & np.isfinite(z)
    safe = np.where(finite[:, None], targets, -10.0)
    cols, rows = np.round(safe[:, 0]).astype(int), np.round(safe[:, 1]).astype(int)
    # the project's pixel range (geometry.camera.require_pixels_inside), not the pixels' footprint
    inside = finite & (safe >= 0).all(axis=1) & (safe[:, 0] <= w - 1) & (safe[:, 1] <= h - 1)
    c, r = np.clip(cols, 0, w - 1), np.clip(rows, 0, h - 1)
    x0 = np.clip(np.floor(safe[:, 0]).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(safe[:, 1]).astype(int), 0, h - 2)
    around = np.stack([frame.depth[y0 + dy, x0 + dx] for dy in (0, 1) for dx in (0, 1)], axis=1)
    tolerance = DEPTH_TOLERANCE + 0.002 * np.nan_to_num(z)
    z_safe = np.nan_to_num(z, nan=-1.0)
    depth_ok = (np.abs(frame.depth[r, c] - z_safe) <= tolerance) | (
        (around.min(axis=1) - tolerance <= z_safe) & (z_safe <= around.max(axis=1) + tolerance)
        & (around.min(axis=1) > 0))
    same_surface = seen_on_same_surface(normals, frame.intrinsics, frame.depth, r, c)
    return inside & depth_ok & same_surface & (frame.segmentation[r, c] == ids)
