"""6D oriented parallel grasp from two annotated axis keypoints (paper IV-E).

The operator marks two points per object (``axis_a``, ``axis_b``) across which the fingers
should close. In a new image both are found (best match of their descriptors), lifted to 3D
with depth; the gripper closes along the 3D segment between them, centred on its midpoint,
approaching along the surface normal there.

Tool frame: z = approach (into the surface), y = closing axis (a -> b), x = y cross z.
The pose sits on the surface at the midpoint; the executor adds its own grasp depth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from dense_descriptor_ros.geometry.camera import Intrinsics, project
from dense_descriptor_ros.grasping.heatmap import DEFAULT_ETA, Heatmap, keypoint_heatmaps
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.surface import SurfaceSampling
from dense_descriptor_ros.grasping.workspace import (Refusable, RejectReason, Rejection, WorkspaceBox,
                                                     check_confidence, place_in_target)


@dataclass(frozen=True)
class ParallelGripperConfig(SurfaceSampling):
    """Gripper limits and thresholds (metres, pixels); confidences are per-keypoint ``h_j``."""

    max_opening: float = 0.085
    margin: float = 0.01
    min_confidence: float = 0.3
    eta: float = DEFAULT_ETA
    min_separation: float = 0.005


@dataclass(frozen=True, eq=False)
class ParallelGrasp(Refusable):
    """A parallel-jaw grasp, or the reason there is none.

    ``pixels (2, 2)`` and ``confidences (2,)`` of the two keypoints always; ``points_camera
    (2, 3)`` and ``width`` once measured; ``pose_camera`` / ``pose_target`` only when ``ok``.
    """

    pixels: np.ndarray
    confidences: np.ndarray
    rejection: Rejection | None = None
    points_camera: np.ndarray | None = None
    width: float | None = None
    pose_camera: Pose | None = None
    pose_target: Pose | None = None


def oriented_grasp(descriptors: Tensor, axis_keypoints: Tensor, depth: np.ndarray,
                   intrinsics: Intrinsics, *, T_target_camera: np.ndarray | None = None,
                   target_frame: str = "target", workspace: WorkspaceBox | None = None,
                   config: ParallelGripperConfig = ParallelGripperConfig()) -> ParallelGrasp:
    """Parallel grasp across the object's two axis keypoints.

    ``descriptors (1, D, h, w)`` of the new image, ``axis_keypoints (2, D)`` (rows a, b),
    ``depth (H, W)`` metres aligned with the image (NaN = invalid), ``T_target_camera (4, 4)``
    maps camera points to the target frame, where ``workspace`` is checked.
    """
    if axis_keypoints.ndim != 2 or axis_keypoints.shape[0] != 2:
        raise ValueError(f"expected the two axis keypoint descriptors as (2, D), "
                         f"got {tuple(axis_keypoints.shape)}")
    image_size = (intrinsics.height, intrinsics.width)
    if tuple(depth.shape) != image_size:
        raise ValueError(f"depth image of shape {depth.shape} does not match the camera's "
                         f"{intrinsics.width}x{intrinsics.height} intrinsics")
    maps = keypoint_heatmaps(descriptors, axis_keypoints, config.eta)
    found = [Heatmap(grid, image_size).best() for grid in maps]
    pixels = np.stack([pixel for pixel, _ in found])
    confidences = np.array([confidence for _, confidence in found])

    def rejected(reason: RejectReason, detail: str, **measured: object) -> ParallelGrasp:
        return ParallelGrasp(pixels, confidences, Rejection(reason, detail), **measured)

    rejection = check_confidence(float(confidences.min()), config.min_confidence, "axis keypoint")
    if rejection:
        return ParallelGrasp(pixels, confidences, rejection)
    lifted = []
    for role, pixel in zip(("axis_a", "axis_b"), pixels):
        patch = config.patch(intrinsics, depth, pixel)
        if patch is None:
            return rejected(RejectReason.INVALID_DEPTH, f"no valid depth within {config.point_radius} "
                            f"px of keypoint {role} at ({pixel[0]:.1f}, {pixel[1]:.1f})")
        lifted.append(patch.point)
    points = np.stack(lifted)
    separation = float(np.linalg.norm(points[1] - points[0]))
    if separation < config.min_separation:
        return rejected(RejectReason.DEGENERATE, f"the keypoints are {separation * 1000:.1f} mm apart, "
                        f"less than {config.min_separation * 1000:.1f} mm", points_camera=points)
    closing = (points[1] - points[0]) / separation
    width = separation + config.margin
    if width > config.max_opening:
        return rejected(RejectReason.TOO_WIDE, f"grasp width {width * 1000:.1f} mm exceeds the "
                        f"maximum opening {config.max_opening * 1000:.1f} mm",
                        points_camera=points, width=width)
    centre = points.mean(axis=0)
    centre_pixel = np.clip(project(intrinsics, centre[None])[0][0], 0,
                           [intrinsics.width - 1, intrinsics.height - 1])
    patch = config.patch(intrinsics, depth, centre_pixel)
    if patch is None or patch.normal is None:
        return rejected(RejectReason.NO_SURFACE, f"no surface normal at the grasp centre pixel "
                        f"({centre_pixel[0]:.1f}, {centre_pixel[1]:.1f})",
                        points_camera=points, width=width)
    approach = -(patch.normal - np.dot(patch.normal, closing) * closing)
    if np.linalg.norm(approach) < 0.1:
        return rejected(RejectReason.DEGENERATE, "the surface normal is almost parallel to the "
                        "closing axis", points_camera=points, width=width)
    pose_camera = Pose.from_axes(centre, approach_rotation(approach, closing), "camera")
    pose_target, rejection = place_in_target(pose_camera, T_target_camera, target_frame, workspace)
    if rejection:
        return ParallelGrasp(pixels, confidences, rejection, points, width)
    return ParallelGrasp(pixels, confidences, None, points, width, pose_camera, pose_target)
