"""6D poses: a position and a unit quaternion (x, y, z, w, ROS order), in a named frame.

The grasp modules return poses in the camera frame and, given ``T_target_camera``, in a
target frame (robot base, world); this type converts between the two and to 4x4 matrices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation


@dataclass(frozen=True, eq=False)
class Pose:
    """``position (3,)`` metres and ``orientation (4,)`` quaternion x, y, z, w in ``frame``.

    The orientation's columns are the tool axes expressed in ``frame``; grasps use
    z = approach direction (into the surface).
    """

    position: np.ndarray
    orientation: np.ndarray
    frame: str = "camera"

    def __post_init__(self) -> None:
        position = np.asarray(self.position, dtype=float).reshape(-1)
        quat = np.asarray(self.orientation, dtype=float).reshape(-1)
        if position.shape != (3,) or quat.shape != (4,):
            raise ValueError(f"a pose needs a position of 3 values and a quaternion of 4, got "
                             f"{position.shape[0]} and {quat.shape[0]}")
        norm = np.linalg.norm(quat)
        if not np.all(np.isfinite(position)) or not np.isfinite(norm) or norm < 1e-9:
            raise ValueError(f"pose values must be finite with a non-zero quaternion, got "
                             f"position {position.tolist()} and quaternion {quat.tolist()}")
        object.__setattr__(self, "position", position)
        object.__setattr__(self, "orientation", quat / norm)

    @classmethod
    def from_axes(cls, position: np.ndarray, rotation: np.ndarray, frame: str = "camera") -> "Pose":
        """Pose from a position and a 3x3 rotation whose columns are the tool x, y, z axes."""
        return cls(position, Rotation.from_matrix(np.asarray(rotation, dtype=float)).as_quat(), frame)

    @classmethod
    def from_matrix(cls, transform: np.ndarray, frame: str = "camera") -> "Pose":
        """Pose from a 4x4 homogeneous transform (tool -> ``frame``)."""
        transform = np.asarray(transform, dtype=float)
        return cls.from_axes(transform[:3, 3], transform[:3, :3], frame)

    @property
    def rotation(self) -> Rotation:
        return Rotation.from_quat(self.orientation)

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 transform tool -> ``frame``."""
        transform = np.eye(4)
        transform[:3, :3] = self.rotation.as_matrix()
        transform[:3, 3] = self.position
        return transform

    def axis(self, index: int) -> np.ndarray:
        """Tool axis ``index`` (0 = x, 1 = y, 2 = z) as a unit vector ``(3,)`` in ``frame``."""
        return self.rotation.as_matrix()[:, index]

    def transformed(self, transform: np.ndarray, frame: str) -> "Pose":
        """This pose seen from ``frame``, given the 4x4 ``T_frame_self.frame``."""
        transform = np.asarray(transform, dtype=float)
        if transform.shape != (4, 4):
            raise ValueError(f"expected a 4x4 transform, got shape {transform.shape}")
        return Pose.from_matrix(transform @ self.matrix, frame)

    def to_dict(self) -> dict:
        """Plain values for JSON and logs."""
        return {"frame": self.frame, "position": self.position.tolist(),
                "orientation_xyzw": self.orientation.tolist()}


def approach_rotation(approach: np.ndarray, closing: np.ndarray | None = None) -> np.ndarray:
    """Rotation ``(3, 3)`` whose columns are the tool x, y, z axes, with z = ``approach (3,)``.

    With ``closing (3,)`` (orthogonal to ``approach``) y = closing, x = y cross z. Without it
    (symmetric tools) x is the frame's x axis projected onto the plane normal to ``approach``
    (its y axis when the approach is close to x), so the roll is repeatable.
    """
    z = np.asarray(approach, dtype=float) / np.linalg.norm(approach)
    if closing is not None:
        y = np.asarray(closing, dtype=float) / np.linalg.norm(closing)
        return np.stack([np.cross(y, z), y, z], axis=1)
    reference = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = reference - np.dot(reference, z) * z
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)
