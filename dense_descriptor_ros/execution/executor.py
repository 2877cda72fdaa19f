"""Grasp executor: approach, grasp, retreat, with clear result codes; no ROS import.

The client API reads like nav2_simple_commander's BasicNavigator: start a task
(``execute_suction`` / ``execute_parallel``), poll ``is_task_complete``, ``cancel_task``, then
``get_result``. The task runs on a worker thread so a ROS node can keep spinning (the ROS
backends wait on service and action futures that the node's executor completes).

Sequence (tool z = approach direction, into the surface):
  pre-grasp = grasp pose moved ``approach_distance`` back along -z;
  suction:  move pre-grasp, vacuum on, move grasp (``suction_press`` past the surface), retreat;
  parallel: open to width, move pre-grasp, move grasp (fingertips ``finger_depth`` below the
            surface), close, check the fingers hold, retreat.
Retreat is back along the tool z, or straight up (+z of the pose's frame) with ``retreat_up``,
which lifts a picked object out of a heap without dragging it sideways.
Grasps below the confidence threshold, in another frame than the workspace box's or outside it
are refused before anything moves.
"""
from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from dense_descriptor_ros.execution.backends import (BackendTimeout, GripperBackend, GripperError,
                                                     MotionBackend, MotionExecutionError, PlanningError,
                                                     VacuumBackend)
from dense_descriptor_ros.grasping.gripper import PARALLEL_JAW
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.grasping.workspace import WorkspaceBox


class ExecutionResult(str, enum.Enum):
    """How a grasp task ended; the values are stable strings for logs and result topics."""

    SUCCEEDED = "succeeded"
    REJECTED_LOW_CONFIDENCE = "rejected_low_confidence"
    REJECTED_OUTSIDE_WORKSPACE = "rejected_outside_workspace"
    REJECTED_UNKNOWN_FRAME = "rejected_unknown_frame"
    REJECTED_INVALID_GRASP = "rejected_invalid_grasp"  # non-finite pose, bad or too wide width
    REJECTED_STALE = "rejected_stale"  # older than the node's limit when its pick would start
    PLANNING_FAILED = "planning_failed"
    EXECUTION_FAILED = "execution_failed"
    GRIPPER_FAILED = "gripper_failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"
    UNKNOWN = "unknown"  # no task yet, or still running


class ExecutorBusyError(RuntimeError):
    """A task was started while another one is still running."""


@dataclass(frozen=True)
class ExecutorConfig:
    """Distances in metres, times in seconds, effort in newtons."""

    approach_distance: float = 0.10
    retreat_distance: float = 0.15
    retreat_up: bool = False
    suction_press: float = 0.0
    finger_depth: float = PARALLEL_JAW.finger_depth
    min_confidence: float = 0.1
    workspace: WorkspaceBox | None = None
    target_frame: str = ""  # grasps and the workspace box are in this frame ("" = any named frame)
    motion_timeout: float = 20.0
    gripper_timeout: float = 5.0
    task_timeout: float = 60.0
    gripper_effort: float = 40.0
    max_opening: float = PARALLEL_JAW.max_opening
    open_margin: float = PARALLEL_JAW.open_margin
    min_held_width: float = 0.002

    def __post_init__(self) -> None:
        distances = (self.approach_distance, self.retreat_distance, self.suction_press, self.finger_depth)
        if min(distances) < 0:
            raise ValueError(f"approach, retreat, press and finger distances must be >= 0, got {distances}")
        if min(self.motion_timeout, self.gripper_timeout, self.task_timeout) <= 0:
            raise ValueError("timeouts must be positive")


@dataclass
class ExecutionReport:
    """What happened: the result, a sentence, and seconds per stage."""

    result: ExecutionResult
    detail: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"code": self.result.value, "detail": self.detail,
                "timings": {k: round(v, 4) for k, v in self.timings.items()}}


class _Canceled(Exception):
    pass


class _TaskTimeout(Exception):
    pass


def offset_along_tool_z(pose: Pose, distance: float) -> Pose:
    """``pose`` moved ``distance`` metres along its own z axis (negative: backwards)."""
    return Pose(pose.position + distance * pose.axis(2), pose.orientation, pose.frame)


class GraspExecutor:
    """Runs one grasp at a time on the given backends (vacuum for suction, gripper for parallel)."""

    def __init__(self, motion: MotionBackend, *, vacuum: VacuumBackend | None = None,
                 gripper: GripperBackend | None = None, config: ExecutorConfig = ExecutorConfig()) -> None:
        self.motion, self.vacuum, self.gripper, self.config = motion, vacuum, gripper, config
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._report = ExecutionReport(ExecutionResult.UNKNOWN, "no task started")

    # -- client API ------------------------------------------------------------------------

    def execute_suction(self, pose: Pose, confidence: float = 1.0) -> bool:
        """Start a suction pick at ``pose``; False when it was refused before moving."""
        if self.vacuum is None:
            raise ValueError("this executor has no vacuum backend; it cannot run suction grasps")
        return self._start(pose, confidence, self._suction_steps(pose))

    def execute_parallel(self, pose: Pose, width: float, confidence: float = 1.0) -> bool:
        """Start a parallel-jaw pick at ``pose`` closing across ``width`` metres."""
        if self.gripper is None:
            raise ValueError("this executor has no gripper backend; it cannot run parallel grasps")
        if not np.isfinite(width) or width <= 0:
            raise ValueError(f"grasp width must be a positive number of metres, got {width}")
        return self._start(pose, confidence, self._parallel_steps(pose, width))

    def is_task_complete(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def cancel_task(self) -> None:
        """Stop after the running step (a backend call is not interrupted midway)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task is complete (or ``timeout``); True when complete."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.is_task_complete()

    def get_result(self) -> ExecutionResult:
        return self._report.result if self.is_task_complete() else ExecutionResult.UNKNOWN

    def get_report(self) -> ExecutionReport:
        return self._report

    # -- task ------------------------------------------------------------------------------

    def _refusal(self, pose: Pose, confidence: float) -> ExecutionReport | None:
        config = self.config
        if not confidence >= config.min_confidence:  # NaN refused too
            return ExecutionReport(ExecutionResult.REJECTED_LOW_CONFIDENCE,
                                   f"grasp confidence {confidence:.3f} is below {config.min_confidence:.3f}")
        if not pose.frame or (config.target_frame and pose.frame != config.target_frame):
            detail = (f"grasp frame {pose.frame!r} is not target_frame {config.target_frame!r}: the executor "
                      "transforms no frames" if pose.frame else "the grasp names no frame")
            return ExecutionReport(ExecutionResult.REJECTED_UNKNOWN_FRAME, detail)
        if config.workspace is not None:
            rejection = config.workspace.check(pose.position, pose.frame)
            if rejection is not None:
                return ExecutionReport(ExecutionResult.REJECTED_OUTSIDE_WORKSPACE, rejection.detail)
        return None

    def _start(self, pose: Pose, confidence: float, steps: list) -> bool:
        if not self.is_task_complete():
            raise ExecutorBusyError("a grasp is still being executed; cancel it or wait")
        refusal = self._refusal(pose, confidence)
        if refusal is not None:
            self._report, self._thread = refusal, None
            return False
        self._cancel.clear()
        self._report = ExecutionReport(ExecutionResult.UNKNOWN, "running")
        self._thread = threading.Thread(target=self._run, args=(steps,), name="grasp-executor", daemon=True)
        self._thread.start()
        return True

    def _run(self, steps: list) -> None:
        timings: dict[str, float] = {}
        started = time.monotonic()
        try:
            for name, step in steps:
                if self._cancel.is_set():
                    raise _Canceled(f"canceled before {name}")
                remaining = self.config.task_timeout - (time.monotonic() - started)
                if remaining <= 0:
                    raise _TaskTimeout(f"task timeout of {self.config.task_timeout:.1f} s reached before {name}")
                began = time.monotonic()
                step(remaining)
                timings[name] = time.monotonic() - began
            report = ExecutionReport(ExecutionResult.SUCCEEDED, "picked", timings)
        except _Canceled as exc:
            report = ExecutionReport(ExecutionResult.CANCELED, str(exc), timings)
        except (_TaskTimeout, BackendTimeout) as exc:
            report = ExecutionReport(ExecutionResult.TIMEOUT, str(exc), timings)
        except PlanningError as exc:
            report = ExecutionReport(ExecutionResult.PLANNING_FAILED, str(exc), timings)
        except MotionExecutionError as exc:
            report = ExecutionReport(ExecutionResult.EXECUTION_FAILED, str(exc), timings)
        except GripperError as exc:
            report = ExecutionReport(ExecutionResult.GRIPPER_FAILED, str(exc), timings)
        timings["total"] = time.monotonic() - started
        self._report = report

    def _move(self, pose: Pose):
        return lambda remaining: self.motion.move_to_pose(pose, min(self.config.motion_timeout, remaining))

    def _retreat(self, pose: Pose) -> Pose:
        if self.config.retreat_up:
            return Pose(pose.position + [0.0, 0.0, self.config.retreat_distance], pose.orientation, pose.frame)
        return offset_along_tool_z(pose, -self.config.retreat_distance)

    def _suction_steps(self, pose: Pose) -> list:
        config = self.config
        grasp = offset_along_tool_z(pose, config.suction_press)
        return [
            ("approach", self._move(offset_along_tool_z(pose, -config.approach_distance))),
            ("vacuum_on", lambda remaining: self.vacuum.set(True, min(config.gripper_timeout, remaining))),
            ("grasp", self._move(grasp)),
            ("retreat", self._move(self._retreat(pose))),
        ]

    def _parallel_steps(self, pose: Pose, width: float) -> list:
        config = self.config
        opening = min(width + config.open_margin, config.max_opening)
        if width > config.max_opening:
            raise ValueError(f"grasp width {width * 1000:.1f} mm exceeds the gripper's maximum opening "
                             f"{config.max_opening * 1000:.1f} mm")

        def gripper(target: float, remaining: float):
            return self.gripper.command(target, config.gripper_effort, min(config.gripper_timeout, remaining))

        def close(remaining: float) -> None:
            state = gripper(0.0, remaining)
            if not state.stalled and state.position < config.min_held_width:
                raise GripperError(f"the fingers closed to {state.position * 1000:.1f} mm without "
                                   "stalling: nothing was grasped")

        grasp = offset_along_tool_z(pose, config.finger_depth)
        return [
            ("open", lambda remaining: gripper(opening, remaining)),
            ("approach", self._move(offset_along_tool_z(pose, -config.approach_distance))),
            ("grasp", self._move(grasp)),
            ("close", close),
            ("retreat", self._move(self._retreat(pose))),
        ]
