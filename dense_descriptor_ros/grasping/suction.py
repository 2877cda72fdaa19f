"""Suction grasp at the best pixel of a preference heatmap.

The cup approaches along the inverted surface normal, so the tool frame is: z = -normal (into
the surface), x = the camera's x axis projected onto the surface plane (a fixed, repeatable
roll; a suction cup is symmetric about z), y = z cross x.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.grasping.heatmap import Heatmap
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.surface import SurfaceSampling
from dense_descriptor_ros.grasping.workspace import (Refusable, RejectReason, Rejection, WorkspaceBox,
                                                     check_confidence, place_in_target)


@dataclass(frozen=True)
class SuctionConfig(SurfaceSampling):
    """Thresholds of a suction grasp (metres, pixels)."""

    min_confidence: float = 0.1


@dataclass(frozen=True, eq=False)
class SuctionGrasp(Refusable):
    """A suction grasp, or the reason there is none.

    ``pixel (2,)`` and ``confidence`` always; ``point_camera (3,)`` and ``normal_camera (3,)``
    once they were measured; ``pose_camera`` / ``pose_target`` only when ``ok``.
    """

    pixel: np.ndarray
    confidence: float
    rejection: Rejection | None = None
    point_camera: np.ndarray | None = None
    normal_camera: np.ndarray | None = None
    pose_camera: Pose | None = None
    pose_target: Pose | None = None


def suction_grasp(heatmap: Heatmap, depth: np.ndarray, intrinsics: Intrinsics, *,
                  T_target_camera: np.ndarray | None = None, target_frame: str = "target",
                  workspace: WorkspaceBox | None = None,
                  config: SuctionConfig = SuctionConfig()) -> SuctionGrasp:
    """Suction grasp at the heatmap's best pixel.

    ``depth (H, W)`` metres aligned with the image (NaN = invalid, see ``depth_in_metres``);
    ``T_target_camera (4, 4)`` maps camera points to the target frame; ``workspace`` is checked
    in the target frame (the camera frame when no transform is given).
    """
    pixel, confidence = heatmap.best()
    if tuple(depth.shape) != heatmap.image_size:
        raise ValueError(f"depth image of shape {depth.shape} is not aligned with the "
                         f"{heatmap.image_size} image the heatmap was made for")
    rejection = check_confidence(confidence, config.min_confidence, "heatmap")
    if rejection:
        return SuctionGrasp(pixel, confidence, rejection)
    patch = config.patch(intrinsics, depth, pixel)
    if patch is None:
        return SuctionGrasp(pixel, confidence, Rejection(
            RejectReason.INVALID_DEPTH, f"no valid depth within {config.point_radius} px of "
                                        f"pixel ({pixel[0]:.1f}, {pixel[1]:.1f})"))
    if patch.normal is None:
        return SuctionGrasp(pixel, confidence, Rejection(
            RejectReason.NO_SURFACE, f"too few valid depth pixels around ({pixel[0]:.1f}, "
                                     f"{pixel[1]:.1f}) to fit a surface plane"), patch.point)
    pose_camera = Pose.from_axes(patch.point, approach_rotation(-patch.normal), "camera")
    pose_target, rejection = place_in_target(pose_camera, T_target_camera, target_frame, workspace)
    if rejection:
        return SuctionGrasp(pixel, confidence, rejection, patch.point, patch.normal)
    return SuctionGrasp(pixel, confidence, None, patch.point, patch.normal, pose_camera, pose_target)

