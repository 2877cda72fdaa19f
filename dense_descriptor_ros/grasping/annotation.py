"""Turning an operator's click into a stored keypoint: which pixel, which descriptor.

Clicks come as 3D points (RViz *Publish Point*, in the camera or the target frame) or as pixels
(rqt_image_view on the overlay). Either way the keypoint is a pixel of one camera frame whose
descriptor is sampled from that frame's stride-8 descriptor grid, bilinearly, exactly as
``describe_pixels`` samples it when the database re-embeds the stored image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dense_descriptor_ros.geometry.camera import Intrinsics, project, transform_points
from dense_descriptor_ros.grasping.keypoint_db import AXIS_ROLES
from dense_descriptor_ros.geometry.camera import PixelOutsideImageError, require_pixels_inside
from dense_descriptor_ros.matching import pixel_to_grid, sample_descriptors


class ClickError(ValueError):
    """A click that cannot be turned into a pixel of the current frame."""


def point_in_camera(point: np.ndarray, frame: str, camera_frame: str,
                    T_target_camera: np.ndarray | None, target_frame: str) -> np.ndarray:
    """A clicked ``point (3,)`` in ``frame`` (the camera or the target frame) -> camera frame ``(3,)``."""
    point = np.asarray(point, dtype=float).reshape(3)
    if frame == camera_frame:
        return point
    if frame == target_frame and T_target_camera is not None:
        return transform_points(np.linalg.inv(T_target_camera), point[None])[0]
    known = [camera_frame] + ([target_frame] if T_target_camera is not None else [])
    raise ClickError(f"clicked point is in frame {frame!r}; expected one of {known} "
                     "(set RViz's fixed frame to one of them)")


def pixel_from_point(point_camera: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Camera-frame ``point (3,)`` -> the pixel ``(2,)`` it projects to; refuses points behind the
    camera or outside the image."""
    pixels, depth = project(intrinsics, np.asarray(point_camera, dtype=float).reshape(1, 3))
    if not depth[0] > 0:
        raise ClickError(f"clicked point {np.round(point_camera, 3).tolist()} is behind the camera "
                         f"(z = {depth[0]:.3f} m)")
    return pixel_in_image(pixels[0], intrinsics.width, intrinsics.height)


def pixel_in_image(pixel: np.ndarray, width: int, height: int) -> np.ndarray:
    """``pixel (2,)`` as float, or a ClickError saying it lies outside the image."""
    try:
        return require_pixels_inside(pixel, width, height)[0]
    except PixelOutsideImageError as exc:
        raise ClickError(f"click outside the image: {exc}") from exc


def descriptor_at(descriptors: Tensor, pixel: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Unit descriptor ``(D,)`` float32 at ``pixel (2,)`` of an ``(H, W)`` image whose stride-8
    descriptors are ``(1, D, h, w)``."""
    if descriptors.ndim != 4 or descriptors.shape[0] != 1:
        raise ValueError(f"expected descriptors of shape (1, D, h, w), got {tuple(descriptors.shape)}")
    xy = torch.as_tensor(np.asarray(pixel, dtype=np.float32).reshape(1, 2))
    cells = pixel_to_grid(xy, image_size, tuple(descriptors.shape[-2:]))
    return sample_descriptors(descriptors.float(), cells[None])[0, 0].numpy().astype(np.float32)


@dataclass
class AxisClicks:
    """The two axis keypoints of an oriented grasp, clicked in sequence (a, then b).

    Both pixels are stored with the first click's frame (one image per axis pair, as the
    database keeps it): the camera is fixed, so the second click's pixel is valid in it.
    """

    pixels: list[np.ndarray] = field(default_factory=list)
    frame: Any = None

    @property
    def next_role(self) -> str:
        return AXIS_ROLES[len(self.pixels)]

    def add(self, pixel: np.ndarray, frame: Any) -> tuple[np.ndarray, Any] | None:
        """Record a click; after the second returns ``(pixels (2, 2), first frame)`` and resets."""
        if not self.pixels:
            self.frame = frame
        self.pixels.append(np.asarray(pixel, dtype=float).reshape(2))
        if len(self.pixels) < len(AXIS_ROLES):
            return None
        done = (np.stack(self.pixels), self.frame)
        self.reset()
        return done

    def reset(self) -> None:
        self.pixels, self.frame = [], None
