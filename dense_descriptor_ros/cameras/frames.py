"""The one frame type every camera source yields: RGB + aligned metric depth + intrinsics.

Drivers differ in units (RealSense z16 in depth units, Zivid millimetre point clouds, MuJoCo
metres with 0 for "nothing"); converting once into this form lets the nodes, the recorder and
the tests treat all cameras alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_descriptor_ros.geometry.camera import Intrinsics

MAX_MILLIMETRES = np.iinfo(np.uint16).max


class CameraFrameError(ValueError):
    """Arrays that do not form a valid RGB-D frame."""


@dataclass(frozen=True)
class CameraFrame:
    """One RGB-D capture; depth is aligned to the colour image, so both share ``frame_id``.

    rgb: (H, W, 3) uint8. depth: (H, W) float32 metres along the optical axis, NaN = invalid.
    stamp_ns: capture time on the source's clock (device, bag or simulation time).
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: Intrinsics
    stamp_ns: int
    frame_id: str

    def __post_init__(self) -> None:
        rgb, depth = self.rgb, self.depth
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise CameraFrameError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if depth.shape != rgb.shape[:2] or depth.dtype != np.float32:
            raise CameraFrameError(f"depth must be (H, W) = {rgb.shape[:2]} float32 metres aligned to "
                                   f"the colour image, got {depth.shape} {depth.dtype}")
        size = (self.intrinsics.width, self.intrinsics.height)
        if size != (rgb.shape[1], rgb.shape[0]):
            raise CameraFrameError(f"intrinsics are for {size[0]}x{size[1]} but the image is "
                                   f"{rgb.shape[1]}x{rgb.shape[0]}")
        if not self.frame_id:
            raise CameraFrameError("frame_id must name the camera's optical frame, got ''")

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    def depth_millimetres(self) -> np.ndarray:
        """Depth as ``16UC1`` millimetres, (H, W) uint16, 0 = invalid or beyond 65.535 m."""
        millimetres = np.round(self.depth * np.float32(1000.0))
        valid = np.isfinite(millimetres) & (millimetres > 0) & (millimetres <= MAX_MILLIMETRES)
        return np.where(valid, millimetres, 0).astype(np.uint16)


def invalid_to_nan(depth: np.ndarray) -> np.ndarray:
    """Metric depth with 0 / negative / inf for "no measurement" -> float32 with NaN there."""
    depth = np.asarray(depth, dtype=np.float32).copy()
    depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth
