"""Several grasp candidates from one heatmap: its top-k peaks (``Heatmap.peaks``) lifted to poses.

The best pixel alone gives no fallback when the executor refuses it (outside the workspace,
no depth); the next peaks are the alternatives shown in RViz and offered downstream.
"""
from __future__ import annotations

import numpy as np

from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.suction import SuctionConfig
from dense_descriptor_ros.grasping.surface import surface_patch
from dense_descriptor_ros.grasping.workspace import place_in_target


def candidate_poses(pixels: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, *,
                    T_target_camera: np.ndarray | None = None, target_frame: str = "target",
                    config: SuctionConfig = SuctionConfig()) -> list[Pose]:
    """Suction approach poses at candidate ``pixels (n, 2)`` of ``depth (H, W)`` metres; pixels
    without valid depth or a surface normal are left out (candidates are shown, not executed)."""
    poses = []
    for pixel in np.asarray(pixels, dtype=float).reshape(-1, 2):
        patch = surface_patch(intrinsics, depth, pixel, point_radius=config.point_radius,
                              normal_radius=config.normal_radius, depth_tolerance=config.depth_tolerance)
        if patch is None or patch.normal is None:
            continue
        pose = Pose.from_axes(patch.point, approach_rotation(-patch.normal), "camera")
        poses.append(place_in_target(pose, T_target_camera, target_frame, None)[0])
    return poses
