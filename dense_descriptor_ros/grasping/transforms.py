"""Where the camera is: ``T_target_camera`` behind a small interface.

tf2_ros is not on PyPI, so nodes ask a :class:`CameraPoseSource`; the implementation here is a
static, calibrated camera pose given as a parameter (16 row-major values of the 4x4 matrix, or
7 values ``x y z qx qy qz qw``). A tf2 lookup can implement the same protocol where tf2 exists.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from scipy.spatial.transform import Rotation


class TransformUnavailableError(RuntimeError):
    """No transform between the requested frames."""


def transform_from_values(values: Sequence[float]) -> np.ndarray:
    """16 row-major values or ``x y z qx qy qz qw`` -> a rigid 4x4 transform."""
    values = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"camera pose values must be finite, got {values.tolist()}")
    if values.size == 7:
        if np.linalg.norm(values[3:]) < 1e-9:
            raise ValueError("camera pose quaternion (qx qy qz qw) must not be zero")
        transform = np.eye(4)
        transform[:3, :3] = Rotation.from_quat(values[3:]).as_matrix()
        transform[:3, 3] = values[:3]
        return transform
    if values.size == 16:
        transform = values.reshape(4, 4)
        rotation = transform[:3, :3]
        if (not np.allclose(transform[3], [0, 0, 0, 1]) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4)
                or np.linalg.det(rotation) < 0):
            raise ValueError("a 16-value camera pose must be a rigid 4x4 transform (orthonormal "
                             f"rotation, last row 0 0 0 1), got {values.tolist()}")
        return transform.copy()
    raise ValueError(f"a camera pose needs 16 values (4x4 row-major) or 7 (x y z qx qy qz qw), "
                     f"got {values.size}")


class CameraPoseSource(Protocol):
    """Anything that can say where the camera is in a target frame."""

    def lookup(self, target_frame: str, camera_frame: str) -> np.ndarray:
        """``T_target_camera (4, 4)``; raises TransformUnavailableError when unknown."""


class StaticCameraPose:
    """A calibrated, fixed camera: one ``T_target_camera`` for ``camera_frame`` ("" = any frame)."""

    def __init__(self, transform: np.ndarray, target_frame: str, camera_frame: str = "") -> None:
        self.transform = transform_from_values(np.asarray(transform, dtype=float).reshape(-1))
        self.target_frame = target_frame
        self.camera_frame = camera_frame

    def lookup(self, target_frame: str, camera_frame: str) -> np.ndarray:
        if target_frame != self.target_frame or (self.camera_frame and camera_frame != self.camera_frame):
            raise TransformUnavailableError(
                f"no transform from {camera_frame!r} to {target_frame!r}: the static camera pose maps "
                f"{self.camera_frame or 'any camera frame'!r} to {self.target_frame!r}")
        return self.transform.copy()
