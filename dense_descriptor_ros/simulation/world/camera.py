"""Camera poses and intrinsics of the simulated cell, in the ROS optical frame.

MuJoCo cameras look along their -z axis with y up; the rest of the project uses the ROS optical
frame (x right, y down, z forward). Poses here are always optical ``T_world_camera``; the two
conversion functions are the only place that knows MuJoCo's convention.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ...geometry.camera import Intrinsics

# Optical frame = MuJoCo camera frame with y and z flipped (a rotation of pi about x).
_OPTICAL_FROM_MUJOCO = np.diag([1.0, -1.0, -1.0])


def intrinsics_from_fovy(fovy_deg: float, width: int, height: int) -> Intrinsics:
    """Pinhole intrinsics of a MuJoCo camera (vertical field of view, square pixels, centred)."""
    if not 0.0 < fovy_deg < 180.0:
        raise ValueError(f"fovy must be in (0, 180) degrees, got {fovy_deg}")
    f = 0.5 * height / np.tan(np.radians(fovy_deg) / 2.0)
    return Intrinsics(float(f), float(f), (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))


def zoomed_fovy(fovy_deg: float, zoom: float) -> float:
    """Field of view after a focal-length zoom by ``zoom`` (> 1 magnifies)."""
    if zoom <= 0:
        raise ValueError(f"zoom must be positive, got {zoom}")
    return float(np.degrees(2.0 * np.arctan(np.tan(np.radians(fovy_deg) / 2.0) / zoom)))


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Optical ``T_world_camera`` at ``eye`` looking at ``target``; ``up`` appears up in the image."""
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    z = target - eye
    if np.linalg.norm(z) < 1e-9:
        raise ValueError("camera eye and target coincide")
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:
        raise ValueError("viewing direction is parallel to the up vector; pass another up")
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    pose[:3, 3] = eye
    return pose


def rolled(pose: np.ndarray, angle_deg: float) -> np.ndarray:
    """``pose`` rotated by ``angle_deg`` about its own optical (z) axis."""
    roll = np.eye(4)
    roll[:3, :3] = Rotation.from_euler("z", angle_deg, degrees=True).as_matrix()
    return pose @ roll


def swung_about(pose: np.ndarray, centre: np.ndarray, axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """``pose`` swung by ``angle_deg`` about the world ``axis`` through ``centre``: the camera moves
    and turns together, so it keeps looking at what it looked at."""
    axis = np.asarray(axis, float)
    swing = np.eye(4)
    swing[:3, :3] = Rotation.from_rotvec(np.radians(angle_deg) * axis / np.linalg.norm(axis)).as_matrix()
    swing[:3, 3] = np.asarray(centre, float) - swing[:3, :3] @ np.asarray(centre, float)
    return swing @ pose


def to_mujoco(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optical ``T_world_camera`` -> MuJoCo camera (position, quaternion w x y z)."""
    x, y, z, w = Rotation.from_matrix(pose[:3, :3] @ _OPTICAL_FROM_MUJOCO).as_quat()
    return pose[:3, 3].copy(), np.array([w, x, y, z])


def from_mujoco(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """MuJoCo camera position and 3x3 rotation (``data.cam_xmat``) -> optical ``T_world_camera``."""
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(rotation, float).reshape(3, 3) @ _OPTICAL_FROM_MUJOCO
    pose[:3, 3] = position
    return pose


def orbit_pose(target: np.ndarray, radius: float, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Camera on a sphere around ``target`` looking at it, image-up towards world +z."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    offset = radius * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    return look_at(np.asarray(target, float) + offset, target)


def arc_trajectory(rng: np.random.Generator, target: np.ndarray, frames: int) -> list[np.ndarray]:
    """A robot-camera sweep: an arc in azimuth and elevation around ``target`` with hand jitter."""
    if frames < 1:
        raise ValueError(f"a trajectory needs at least one frame, got {frames}")
    az0 = rng.uniform(0.0, 360.0)
    span = rng.uniform(40.0, 110.0) * rng.choice([-1.0, 1.0])
    el0, el1 = rng.uniform(45.0, 78.0, size=2)
    r0, r1 = rng.uniform(0.45, 0.7, size=2)
    poses = []
    for t in np.linspace(0.0, 1.0, frames):
        aim = np.asarray(target, float) + rng.normal(0.0, 0.01, 3)
        pose = orbit_pose(aim, r0 + t * (r1 - r0), az0 + t * span, el0 + t * (el1 - el0))
        poses.append(rolled(pose, rng.normal(0.0, 3.0)))
    return poses
