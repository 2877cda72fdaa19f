"""Several grasp candidates from one heatmap: its top-k peaks, kept apart from each other.

The best pixel alone gives no fallback when the executor refuses it (outside the workspace,
no depth); the next peaks at least ``min_distance`` pixels away are the alternatives shown in
RViz and offered downstream.
"""
from __future__ import annotations

import numpy as np
import torch

from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.grasping.heatmap import Heatmap
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.suction import SuctionConfig
from dense_descriptor_ros.grasping.surface import surface_patch
from dense_descriptor_ros.grasping.workspace import place_in_target
from dense_descriptor_ros.matching import grid_to_pixel


def top_k_pixels(heatmap: Heatmap, k: int, min_distance: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k`` peaks of ``heatmap``: pixels ``(n, 2)`` (x, y) and values ``(n,)``, best first.

    Greedy non-maximum suppression on the descriptor grid: a cell is taken when it lies at least
    ``min_distance`` image pixels from every cell taken before. The first is ``heatmap.best()``.
    """
    if k < 1 or min_distance < 0:
        raise ValueError(f"need k >= 1 and min_distance >= 0, got k={k}, min_distance={min_distance}")
    h, w = heatmap.grid.shape
    values = heatmap.grid.reshape(-1).float()
    order = torch.argsort(values, descending=True, stable=True)
    cells = torch.stack([order % w, order // w], dim=-1).float()
    pixels = grid_to_pixel(cells, heatmap.image_size, (h, w)).numpy()
    limits = np.array([heatmap.image_size[1] - 1, heatmap.image_size[0] - 1], dtype=float)
    pixels = np.clip(pixels, 0.0, limits)
    taken: list[int] = []
    for index, pixel in enumerate(pixels):
        if all(np.hypot(*(pixel - pixels[t])) >= min_distance for t in taken):
            taken.append(index)
            if len(taken) == k:
                break
    return pixels[taken], values[order[taken]].numpy().astype(float)


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
