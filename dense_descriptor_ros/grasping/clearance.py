"""Is there room for the gripper? Free space along a parallel grasp's path, read from depth.

The gripper is two fingers and the palm above them, boxes in the tool frame, that come down
the tool z from ``approach`` back to where the fingertips are ``finger_depth`` below the grasped
surface; the jaws are open ``open_extra`` wider than the grasp. A part collides where the camera
sees a surface in front of a point of it, along the ray to that point: the point is inside
something or under it, and an overhead camera cannot see under a product (taken as solid). What
the camera cannot see at all (no depth) is left out; a part none of whose points has depth
counts as blocked.

The grasped product is no obstacle: a surface between the jaws and below the grasped face is
what they close on (seen at a slant, it hides the space beside it where a finger goes down).

Each part is checked grown by ``safety`` (outwards, not towards the grasped product): the heap
moves a little as the fingers come down, and a finger that only grazes a neighbour in the
image pushes it in the cell. A part is blocked where its footprint is: the share of its
columns along the approach in which any point collides. Near the tips a few may be blocked
(``max_blocked_tip``: depth is noisy at the edges where the tips go), elsewhere none by default
(``max_blocked``): a palm edge that meets a bin wall is 2% of the palm's footprint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_descriptor_ros.geometry.camera import Intrinsics, backproject, project
from dense_descriptor_ros.grasping.gripper import PARALLEL_JAW
from dense_descriptor_ros.grasping.pose import Pose

TIP_HEIGHT = 0.006  # the lowest part of a finger, checked with the tips' allowance


@dataclass(frozen=True)
class GripperClearance:
    """The gripper's body (metres: fingers ``finger_thickness`` along the closing axis,
    ``finger_width`` across it, ``finger_length`` long; the palm ``palm_length`` x
    ``palm_width`` x ``palm_height`` along tool x, y, z, on top of the fingers) and how its room
    is checked: ``finger_depth`` and ``open_extra`` (the executor's ``open_margin``) are the
    executor's, ``approach`` its straight path in; ``finger_depth`` 0 turns the check off."""

    finger_depth: float = PARALLEL_JAW.finger_depth
    finger_thickness: float = PARALLEL_JAW.finger_thickness
    finger_width: float = PARALLEL_JAW.finger_width
    finger_length: float = PARALLEL_JAW.finger_length
    palm_length: float = PARALLEL_JAW.palm_length
    palm_width: float = PARALLEL_JAW.palm_width
    palm_height: float = PARALLEL_JAW.palm_height
    approach: float = 0.10
    open_extra: float = PARALLEL_JAW.open_margin
    safety: float = 0.004
    tolerance: float = 0.003
    max_blocked_tip: float = 0.1
    max_blocked: float = 0.0
    sample_step: float = 0.004


def gripper_parts(width: float, config: GripperClearance) -> dict[str, np.ndarray]:
    """Sample points ``(columns, points per column, 3)`` of each part, grown by ``safety``, in
    the grasp frame (origin on the grasped surface, z into it, y the closing axis; a column runs
    along z) over the whole approach: ``fingertip a/b`` (finger a at minus y), ``finger a/b``
    (the rest of each finger) and ``palm``."""
    grow, tip = config.safety, config.finger_depth
    inner = (width + config.open_extra) / 2
    top = tip - config.finger_length  # the fingers' upper end, the palm's underside
    x = config.finger_width / 2 + grow
    parts = {}
    for name, side in (("a", -1.0), ("b", 1.0)):
        y = sorted((side * inner, side * (inner + config.finger_thickness + grow)))
        parts[f"fingertip {name}"] = _grid((-x, x), y, (tip - TIP_HEIGHT, tip), config.sample_step)
        parts[f"finger {name}"] = _grid((-x, x), y, (top - config.approach, tip - TIP_HEIGHT), config.sample_step)
    palm_x, palm_y = config.palm_length / 2 + grow, config.palm_width / 2 + grow
    parts["palm"] = _grid((-palm_x, palm_x), (-palm_y, palm_y),
                          (top - config.palm_height - config.approach, top), config.sample_step)
    return parts


def _grid(x: tuple[float, float], y: tuple[float, float], z: tuple[float, float], step: float) -> np.ndarray:
    """Points ``(columns, per column, 3)`` filling the box ``x`` x ``y`` x ``z`` at about
    ``step`` spacing, in columns along z."""
    axes = [np.linspace(low, high, max(2, int(np.ceil((high - low) / step)) + 1)) for low, high in (x, y, z)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes[2]), 3)


def blocked_parts(pose_camera: Pose, width: float, depth: np.ndarray, intrinsics: Intrinsics,
                  config: GripperClearance) -> dict[str, float]:
    """Blocked share of each part's columns (:func:`gripper_parts`) of a grasp at ``pose_camera`` (on
    the surface, tool z into it, y the closing axis) opening ``width`` metres; depth ``(H, W)``
    metres, NaN invalid. Empty when the check is off (``finger_depth`` 0)."""
    if config.finger_depth <= 0:
        return {}
    parts = gripper_parts(width, config)
    rotation = pose_camera.rotation.as_matrix()
    local = np.concatenate([samples.reshape(-1, 3) for samples in parts.values()])
    points = pose_camera.position + local @ rotation.T
    pixels, _ = project(intrinsics, points)
    inside = np.isfinite(pixels).all(axis=1)
    xs, ys = np.zeros(len(points), int), np.zeros(len(points), int)
    xs[inside], ys[inside] = np.rint(pixels[inside]).astype(int).T
    inside &= (xs >= 0) & (xs < intrinsics.width) & (ys >= 0) & (ys < intrinsics.height)
    seen = np.full(len(points), np.nan)
    seen[inside] = depth[ys[inside], xs[inside]]
    known = np.isfinite(seen)
    blocked = np.zeros(len(points), bool)
    surface = (backproject(intrinsics, np.stack([xs, ys], -1)[known], seen[known]) - pose_camera.position) @ rotation
    grasped = (np.abs(surface[:, 1]) < width / 2 + config.tolerance) & (surface[:, 2] > -config.tolerance)
    blocked[known] = (seen[known] < points[known, 2] - config.tolerance) & ~grasped
    fractions, start = {}, 0
    for name, samples in parts.items():
        columns = slice(start, start + samples.shape[0] * samples.shape[1])
        seen_column = known[columns].reshape(samples.shape[:2]).any(axis=1)
        hit_column = blocked[columns].reshape(samples.shape[:2]).any(axis=1)
        fractions[name] = float(hit_column[seen_column].mean()) if seen_column.any() else 1.0
        start += samples.shape[0] * samples.shape[1]
    return fractions


def worst_blocked(fractions: dict[str, float], config: GripperClearance) -> str | None:
    """Why the gripper has no room (the most blocked part over its allowance), or None."""

    def allowed(name: str) -> float:
        return config.max_blocked_tip if name.startswith("fingertip") else config.max_blocked

    over = [name for name, blocked in fractions.items() if blocked > allowed(name)]
    if not over:
        return None
    name = max(over, key=fractions.get)
    where = (f"{config.finger_depth * 1000:.0f} mm below the surface" if name.startswith("fingertip")
             else "on its way in")
    return (f"{fractions[name]:.0%} of {name} ({where}, grown {config.safety * 1000:.0f} mm) lies under "
            f"something the camera sees (at most {allowed(name):.0%} allowed)")
