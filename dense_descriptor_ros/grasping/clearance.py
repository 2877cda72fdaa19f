"""Is there room for the fingers? Free space around a parallel grasp, read from depth.

The fingers go down beside the object, ``finger_depth`` below the grasped surface, each a block
``finger_thickness`` thick (outwards, from where the jaws open to) and ``finger_width`` wide. A
finger collides when something lies above its tip: along the camera ray to a point of the
fingertip, the depth image sees a surface nearer than that point, outside the grasp width. A
surface seen within the width is what the jaws close on: viewed at a slant, the grasped product
itself hides the space beside it, where the finger goes down. That is exact for what the camera
sees and ignores overhangs it cannot see; pixels without depth are left out, and when none of a
finger's samples has depth it counts as blocked.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_descriptor_ros.geometry.camera import Intrinsics, backproject, project
from dense_descriptor_ros.grasping.pose import Pose


@dataclass(frozen=True)
class FingerClearance:
    """Finger size and how it is checked (metres): ``open_extra`` is how much wider than the grasp
    width the jaws open on the way down (the executor's ``open_margin``); a finger is blocked when
    more than ``max_blocked`` of its tip samples lie under a surface by more than ``tolerance``,
    that surface lying more than ``tolerance`` outside the grasp width (within it, it is what the
    jaws close on). ``finger_depth`` is the executor's; 0 turns the check off."""

    finger_depth: float = 0.02
    finger_thickness: float = 0.008
    finger_width: float = 0.02
    open_extra: float = 0.01
    tolerance: float = 0.003
    max_blocked: float = 0.1
    samples: int = 5


def blocked_fingers(pose_camera: Pose, width: float, depth: np.ndarray, intrinsics: Intrinsics,
                    config: FingerClearance) -> list[float]:
    """Blocked fraction of each finger's tip ``[minus y, plus y]`` for a grasp at ``pose_camera``
    (tool z into the surface, y the closing axis) opening ``width`` metres; depth ``(H, W)``
    metres, NaN invalid. Empty when the check is off (``finger_depth`` 0)."""
    if config.finger_depth <= 0:
        return []
    inner = (width + config.open_extra) / 2
    along = np.linspace(inner, inner + config.finger_thickness, config.samples)
    across = np.linspace(-config.finger_width / 2, config.finger_width / 2, config.samples)
    tip = pose_camera.position + config.finger_depth * pose_camera.axis(2)
    fractions = []
    for side in (-1.0, 1.0):
        s, t = np.meshgrid(side * along, across)
        points = tip + s.reshape(-1, 1) * pose_camera.axis(1) + t.reshape(-1, 1) * pose_camera.axis(0)
        pixels, _ = project(intrinsics, points)
        xs, ys = np.rint(pixels).astype(int).T
        inside = (xs >= 0) & (xs < intrinsics.width) & (ys >= 0) & (ys < intrinsics.height) & (points[:, 2] > 0)
        seen = np.full(len(points), np.nan)
        seen[inside] = depth[ys[inside], xs[inside]]
        known = np.isfinite(seen)
        if not known.any():
            fractions.append(1.0)
            continue
        above = seen[known] < points[known, 2] - config.tolerance
        # what the jaws close on may hide the view beside it: a surface seen within the grasp width is no obstacle
        surface = backproject(intrinsics, np.stack([xs, ys], -1)[known], seen[known])
        grasped = np.abs((surface - pose_camera.position) @ pose_camera.axis(1)) < width / 2 + config.tolerance
        fractions.append(float(np.mean(above & ~grasped)))
    return fractions
