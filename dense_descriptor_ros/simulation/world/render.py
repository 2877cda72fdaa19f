"""Offscreen rendering of a cell: RGB, metric depth, per-pixel object ids, with poses.

MuJoCo's depth pass already gives metric z along the optical axis; its segmentation pass gives
geom ids, mapped here to object instance ids (0 = bin/floor background) so masks mean the same
object in every scene.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ...geometry.camera import Intrinsics
from .backend import RenderBackendError, load_mujoco
from .camera import from_mujoco, intrinsics_from_fovy

# rendered depth is exact, so a face is told from a neighbour touching it 2 mm higher or lower
SIM_FACE_TOLERANCE = 0.002  # metres off a face's plane that still belong to it

mujoco = load_mujoco()


@dataclass
class RenderedFrame:
    """One render with its ground truth (segmentation, camera and object poses): camera pose is
    optical ``T_world_camera``; object poses are ``T_world_object``."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, 0 = nothing there
    segmentation: np.ndarray  # (H, W) uint16 object instance ids, 0 = background
    intrinsics: Intrinsics
    T_world_camera: np.ndarray  # (4, 4)
    object_poses: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (4, 4)

    @property
    def depth_or_nan(self) -> np.ndarray:
        """``depth`` with NaN where nothing is there, as the grasping code takes invalid depth."""
        return np.where(self.depth > 0, self.depth, np.nan)


class FrameRenderer:
    """Renders frames of one compiled model; ``geom_object_ids`` (ngeom,) maps geoms to object ids."""

    def __init__(self, model, width: int, height: int, geom_object_ids: np.ndarray) -> None:
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(f"render size {width}x{height} exceeds the scene's offscreen buffer "
                             f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}")
        try:
            self._renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as exc:  # the GL libraries raise many types; name the fix once
            raise RenderBackendError(f"cannot create a MuJoCo offscreen context with MUJOCO_GL="
                                     f"{os.environ.get('MUJOCO_GL')}: {exc}; try "
                                     "MUJOCO_GL=osmesa or install requirements/apt.txt") from exc
        self._model = model
        self._lookup = np.asarray(geom_object_ids, np.uint16)
        self._far = 0.999 * model.vis.map.zfar * model.stat.extent
        self.width, self.height = width, height

    def render(self, data, camera_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Intrinsics, np.ndarray]:
        """(rgb, depth, segmentation, intrinsics, T_world_camera) of camera ``camera_id`` now."""
        renderer = self._renderer
        renderer.update_scene(data, camera_id)
        rgb = renderer.render()
        renderer.enable_depth_rendering()
        depth = renderer.render()
        renderer.disable_depth_rendering()
        renderer.enable_segmentation_rendering()
        seg = renderer.render()
        renderer.disable_segmentation_rendering()
        depth = np.where(depth < self._far, depth, 0.0).astype(np.float32)
        is_geom = (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)) & (seg[..., 0] >= 0)
        ids = np.where(is_geom, self._lookup[np.clip(seg[..., 0], 0, len(self._lookup) - 1)], 0)
        intrinsics = intrinsics_from_fovy(float(self._model.cam_fovy[camera_id]), self.width, self.height)
        pose = from_mujoco(data.cam_xpos[camera_id], data.cam_xmat[camera_id])
        return rgb, depth, ids.astype(np.uint16), intrinsics, pose

    def close(self) -> None:
        self._renderer.close()
