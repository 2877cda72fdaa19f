"""What the grasp executor drives: an arm, a vacuum, a parallel gripper, as small protocols.

The executor knows nothing of MoveIt, ROS or MuJoCo. Each backend does one thing and reports
failure by raising one of the errors below, so the executor maps failures to result codes in
one place. Implementations: MoveIt / control_msgs / std_srvs clients in
``dense_descriptor_ros.ros.execution_backends``; the simulated cell (MuJoCo grippers) through
:class:`SimulatedCellBackend`; :class:`FakeCell` in memory for tests and dry runs.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from dense_descriptor_ros.grasping.pose import Pose


class BackendError(RuntimeError):
    """A backend could not do what was asked."""


class PlanningError(BackendError):
    """No motion plan to the requested pose."""


class MotionExecutionError(BackendError):
    """A planned motion did not complete."""


class GripperError(BackendError):
    """The vacuum or gripper did not do what was asked (or holds nothing)."""


class BackendTimeout(BackendError):
    """A backend call did not finish within its timeout."""


@dataclass(frozen=True)
class GripperState:
    """A parallel gripper after a command: opening ``position`` (m), whether it ``stalled`` on an
    object and whether it ``reached_goal`` (control_msgs/GripperCommand's result fields)."""

    position: float
    stalled: bool
    reached_goal: bool


@runtime_checkable
class MotionBackend(Protocol):
    def move_to_pose(self, pose: Pose, timeout: float) -> None:
        """Move the tool to ``pose`` (its own frame); raise PlanningError, MotionExecutionError
        or BackendTimeout."""


@runtime_checkable
class VacuumBackend(Protocol):
    def set(self, on: bool, timeout: float) -> None:
        """Switch suction on or off; raise GripperError or BackendTimeout."""


@runtime_checkable
class GripperBackend(Protocol):
    def command(self, width: float, effort: float, timeout: float) -> GripperState:
        """Drive the fingers to opening ``width`` (m) with ``effort`` (N); raise GripperError or
        BackendTimeout."""


@runtime_checkable
class SimulatedCellBackend(MotionBackend, VacuumBackend, GripperBackend, Protocol):
    """A simulated cell drives tool, vacuum and fingers at once (the MuJoCo floating grippers)."""


@dataclass
class FakeCell:
    """In-memory cell: records every call, fails on request, takes ``delay`` seconds per call.

    ``unreachable`` poses (by position, within 1 mm) fail planning; ``object_width`` is what the
    fingers stall on when closed (None: nothing between them); ``vacuum_fails`` refuses suction.
    """

    delay: float = 0.0
    unreachable: list[tuple[float, float, float]] = field(default_factory=list)
    object_width: float | None = 0.03
    vacuum_fails: bool = False
    calls: list[tuple] = field(default_factory=list)
    vacuum_on: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _record(self, call: tuple, timeout: float) -> None:
        if self.delay > timeout:
            time.sleep(timeout)
            raise BackendTimeout(f"{call[0]} took longer than its {timeout:.2f} s timeout")
        time.sleep(self.delay)
        with self._lock:
            self.calls.append(call)

    def move_to_pose(self, pose: Pose, timeout: float) -> None:
        for point in self.unreachable:
            if sum((a - b) ** 2 for a, b in zip(pose.position, point)) < 1e-6:
                raise PlanningError(f"no plan to {pose.position.round(3).tolist()} (marked unreachable)")
        self._record(("move", pose), timeout)

    def set(self, on: bool, timeout: float) -> None:
        if self.vacuum_fails and on:
            raise GripperError("vacuum did not build up (fake cell told to fail)")
        self._record(("vacuum", on), timeout)
        self.vacuum_on = on

    def command(self, width: float, effort: float, timeout: float) -> GripperState:
        self._record(("gripper", width, effort), timeout)
        if self.object_width is not None and width < self.object_width:
            return GripperState(self.object_width, stalled=True, reached_goal=False)
        return GripperState(width, stalled=False, reached_goal=True)

    def moves(self) -> list[Pose]:
        return [call[1] for call in self.calls if call[0] == "move"]
