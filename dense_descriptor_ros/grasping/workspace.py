"""Where a grasp may go, and why a grasp was refused.

A grasp module never hands out a pose it would not execute: every refusal is a
:class:`Rejection` carrying one of the fixed :class:`RejectReason` values (for counting and
tests) plus a sentence with the numbers (for logs and operators).
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from dense_descriptor_ros.grasping.pose import Pose


class RejectReason(str, enum.Enum):
    """Why no grasp was produced; the values are stable strings."""

    LOW_CONFIDENCE = "low confidence"
    INVALID_DEPTH = "invalid depth"
    NO_SURFACE = "no surface normal"
    NO_SEAL = "no flat footprint for the cup"
    OUTSIDE_WORKSPACE = "outside workspace"
    TOO_WIDE = "wider than gripper opening"
    NO_ROOM = "no room for the gripper"
    UNLIKE_ANNOTATION = "colours unlike the annotation"
    UNLIKE_SIZE = "face unlike the annotated one's size"
    DEGENERATE = "degenerate geometry"


@dataclass(frozen=True)
class Rejection:
    """A refused grasp: ``reason`` to branch on, ``detail`` to read."""

    reason: RejectReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


class Refusable:
    """A grasp result that is either usable (``ok``) or refused with a :class:`Rejection`."""

    rejection: Rejection | None

    @property
    def ok(self) -> bool:
        return self.rejection is None

    @property
    def reason(self) -> RejectReason | None:
        return None if self.rejection is None else self.rejection.reason


Grasp = TypeVar("Grasp", bound=Refusable)


def first_granted(attempts: Iterable[Grasp]) -> Grasp:
    """The first usable grasp of ``attempts`` (made lazily, best candidate first), else the
    first one's refusal: the reason an operator should read is the best candidate's."""
    first = None
    for grasp in attempts:
        if grasp.ok:
            return grasp
        first = first or grasp
    if first is None:
        raise ValueError("no grasp candidate to try")
    return first


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned box ``lower <= p <= upper`` (metres) in the grasp target frame."""

    lower: tuple[float, float, float]
    upper: tuple[float, float, float]

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, dtype=float)
        upper = np.asarray(self.upper, dtype=float)
        if lower.shape != (3,) or upper.shape != (3,) or not np.all(lower < upper):
            raise ValueError(f"a workspace box needs 3 lower and 3 upper bounds with lower < upper, "
                             f"got lower={self.lower} upper={self.upper}")
        object.__setattr__(self, "lower", tuple(lower.tolist()))
        object.__setattr__(self, "upper", tuple(upper.tolist()))

    def contains(self, point: np.ndarray) -> bool:
        point = np.asarray(point, dtype=float)
        return bool(np.all(point >= self.lower) and np.all(point <= self.upper))

    def check(self, point: np.ndarray, frame: str) -> Rejection | None:
        """None when ``point (3,)`` lies in the box, else a rejection naming the axes it leaves."""
        point = np.asarray(point, dtype=float)
        if self.contains(point):
            return None
        outside = [f"{name}={value:.3f} not in [{lo:.3f}, {hi:.3f}]"
                   for name, value, lo, hi in zip("xyz", point, self.lower, self.upper)
                   if not lo <= value <= hi]
        return Rejection(RejectReason.OUTSIDE_WORKSPACE,
                         f"point in frame {frame!r} is outside the workspace box: " + ", ".join(outside))


def check_confidence(confidence: float, threshold: float, what: str) -> Rejection | None:
    """None when ``confidence >= threshold``; shared by suction and parallel grasps."""
    if confidence >= threshold:
        return None
    return Rejection(RejectReason.LOW_CONFIDENCE,
                     f"{what} confidence {confidence:.3f} is below the threshold {threshold:.3f}")


def place_in_target(pose_camera: Pose, T_target_camera: np.ndarray | None, target_frame: str,
                    workspace: WorkspaceBox | None) -> tuple[Pose, Rejection | None]:
    """The grasp pose in the target frame and any workspace refusal.

    Without ``T_target_camera (4, 4)`` the target frame is the camera frame itself.
    """
    pose = pose_camera if T_target_camera is None else pose_camera.transformed(T_target_camera, target_frame)
    rejection = None if workspace is None else workspace.check(pose.position, pose.frame)
    return pose, rejection
