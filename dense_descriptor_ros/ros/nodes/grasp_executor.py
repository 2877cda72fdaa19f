"""grasp_executor: picks the latest grasp with a suction cup or a parallel gripper.

Subscribes ``grasp`` (PoseStamped, e.g. from heatmap_node or, remapped, oriented_grasp_node),
``grasp/confidence`` (Float32) and, for the parallel gripper, ``grasp/width`` (Float32, metres).
A grasp is executed when ``~/execute`` (std_srvs/Trigger) is called, or on arrival with
``auto_execute``; ``~/cancel`` stops after the running step. Every task ends with one
``execution/result`` (std_msgs/String, JSON: code, detail, timings, grasp). A grasp without a
confidence yet counts as confidence 0 and is refused.

Backends (parameter ``backend``): ``moveit`` (MoveGroup action + GripperCommand action),
``sim`` (a :class:`SimulatedCellBackend` built by ``sim_factory``, ``module:callable``),
``fake`` (in-memory, for dry runs). Suction uses the ``vacuum_service`` (std_srvs/SetBool)
unless the backend is ``sim`` or the service name is empty (``fake``: in memory).
"""
from __future__ import annotations

import importlib
import json
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from std_msgs.msg import Float32, String
from std_srvs.srv import Trigger

from dense_descriptor_ros.execution import (ExecutionReport, ExecutionResult, ExecutorConfig, FakeCell,
                                            GraspExecutor, SimulatedCellBackend)
from dense_descriptor_ros.ros.execution_backends import GripperCommandGripper, MoveGroupMotion, SetBoolVacuum
from dense_descriptor_ros.ros.grasp_inputs import declare_workspace
from dense_descriptor_ros.ros.grasp_messages import pose_from_msg
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare

GRIPPERS = ("suction", "parallel")
BACKENDS = ("moveit", "sim", "fake")
POLL_PERIOD_S = 0.05


def load_factory(spec: str) -> Any:
    """``package.module:callable`` -> the callable."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"sim_factory must be 'module:callable' building the simulated cell, got {spec!r}")
    return getattr(importlib.import_module(module), name)


class GraspExecutorNode(Node):
    """Thin adapter: grasp topics + services -> :class:`GraspExecutor` -> result topic."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("grasp_executor", **node_kwargs)
        self.gripper = declare(self, "gripper", "suction", "suction or parallel")
        backend = declare(self, "backend", "moveit", "moveit, sim or fake")
        self.auto_execute = declare(self, "auto_execute", False, "execute every grasp as it arrives when idle")
        config = ExecutorConfig(
            approach_distance=declare(self, "approach_distance", 0.10, "pre-grasp offset along tool z (m)"),
            retreat_distance=declare(self, "retreat_distance", 0.15, "lift after grasping along tool -z (m)"),
            retreat_up=declare(self, "retreat_up", False, "retreat straight up (+z) instead of along tool -z"),
            suction_press=declare(self, "suction_press", 0.0, "suction: move this far past the surface (m)"),
            finger_depth=declare(self, "finger_depth", 0.0, "parallel: fingertips this far below the surface (m)"),
            min_confidence=declare(self, "min_confidence", 0.1, "refuse grasps below this confidence"),
            workspace=declare_workspace(self),
            motion_timeout=declare(self, "motion_timeout", 20.0, "seconds per motion"),
            gripper_timeout=declare(self, "gripper_timeout", 5.0, "seconds per vacuum or gripper command"),
            task_timeout=declare(self, "task_timeout", 60.0, "seconds per whole pick"),
            gripper_effort=declare(self, "gripper_effort", 40.0, "parallel gripper closing effort (N)"),
            max_opening=declare(self, "max_opening", 0.085, "parallel gripper maximum opening (m)"))
        names = {
            "move_group": declare(self, "move_group", "manipulator", "MoveIt planning group"),
            "end_effector_link": declare(self, "end_effector_link", "tool0", "link placed at the grasp pose"),
            "move_action": declare(self, "move_action", "move_action", "MoveGroup action name"),
            "gripper_action": declare(self, "gripper_action", "gripper_cmd", "GripperCommand action name"),
            "vacuum_service": declare(self, "vacuum_service", "vacuum", "SetBool vacuum service ('' = backend's)"),
            "sim_factory": declare(self, "sim_factory", "", "module:callable building the simulated cell"),
        }
        if self.gripper not in GRIPPERS or backend not in BACKENDS:
            raise ValueError(f"gripper must be one of {GRIPPERS} and backend one of {BACKENDS}, "
                             f"got {self.gripper!r} and {backend!r}")
        self.grasp_executor = self.build_executor(backend, names, config)
        self.get_logger().info(f"{self.gripper} gripper on the {backend} backend")

        self.latest: PoseStamped | None = None
        self.confidence: float | None = None
        self.width: float | None = None
        self.running: dict | None = None
        self.grasp_sub = self.create_subscription(PoseStamped, "grasp", self.on_grasp, 1)
        self.create_subscription(Float32, "grasp/confidence", self.on_confidence, 1)
        self.create_subscription(Float32, "grasp/width", self.on_width, 1)
        self.result_pub = self.create_publisher(String, "execution/result", 10)
        self.create_service(Trigger, "~/execute", self.on_execute)
        self.create_service(Trigger, "~/cancel", self.on_cancel)
        self.create_timer(POLL_PERIOD_S, self.poll)

    def build_executor(self, backend: str, names: dict, config: ExecutorConfig) -> GraspExecutor:
        self.fake_cell: FakeCell | None = None
        if backend == "sim":
            cell = load_factory(names["sim_factory"])()
            if not isinstance(cell, SimulatedCellBackend):
                raise ValueError(f"{names['sim_factory']} did not build a SimulatedCellBackend "
                                 "(move_to_pose, set, command)")
            return GraspExecutor(cell, vacuum=cell, gripper=cell, config=config)
        fake = FakeCell() if backend == "fake" else None
        motion = fake or MoveGroupMotion(self, names["move_group"], names["end_effector_link"], names["move_action"])
        vacuum = gripper = None
        if self.gripper == "suction":
            vacuum = SetBoolVacuum(self, names["vacuum_service"]) if names["vacuum_service"] else fake
            if vacuum is None:
                raise ValueError("the moveit backend needs a vacuum_service for suction")
        else:
            gripper = fake or GripperCommandGripper(self, names["gripper_action"])
        self.fake_cell = fake
        return GraspExecutor(motion, vacuum=vacuum, gripper=gripper, config=config)

    # -- inputs -----------------------------------------------------------------------------

    # A grasp and its confidence (and width) arrive on separate topics in no fixed order: in
    # auto mode the last of a frame's messages starts the pick, and each pick consumes them.

    def on_confidence(self, msg: Float32) -> None:
        self.confidence = float(msg.data)
        self.auto_start()

    def on_width(self, msg: Float32) -> None:
        self.width = float(msg.data)
        self.auto_start()

    def on_grasp(self, msg: PoseStamped) -> None:
        self.latest = msg
        self.auto_start()

    def auto_start(self) -> None:
        complete = (self.latest is not None and self.confidence is not None
                    and (self.gripper == "suction" or self.width is not None))
        if self.auto_execute and self.running is None and complete:
            self.start()

    def on_execute(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.running is not None:
            response.success, response.message = False, "a grasp is still being executed"
        elif self.latest is None:
            response.success, response.message = False, "no grasp received yet on the grasp topic"
        else:
            response.success, response.message = self.start()
        return response

    def on_cancel(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = self.running is not None
        response.message = "canceling after the running step" if response.success else "nothing to cancel"
        self.grasp_executor.cancel_task()
        return response

    # -- task -------------------------------------------------------------------------------

    def start(self) -> tuple[bool, str]:
        """Start the latest grasp; a refusal is published at once."""
        msg, self.latest = self.latest, None
        # a missing confidence is no confidence: the executor refuses rather than guesses
        confidence = 0.0 if self.confidence is None else self.confidence
        self.confidence = None
        try:
            pose = pose_from_msg(msg)
            if self.gripper == "suction":
                started = self.grasp_executor.execute_suction(pose, confidence)
            elif self.width is None:
                raise ValueError("no grasp width received on grasp/width")
            else:
                started = self.grasp_executor.execute_parallel(pose, self.width, confidence)
        except ValueError as exc:
            self.get_logger().error(f"grasp not executed: {exc}")
            return False, str(exc)
        self.running = {"frame": pose.frame, "position": pose.position.tolist(),
                        "orientation_xyzw": pose.orientation.tolist(), "confidence": confidence,
                        "gripper": self.gripper, "width": self.width}
        if not started:
            self.finish(self.grasp_executor.get_report())
            return False, self.grasp_executor.get_report().detail
        return True, "executing"

    def poll(self) -> None:
        if self.running is not None and self.grasp_executor.is_task_complete():
            self.finish(self.grasp_executor.get_report())

    def finish(self, report: ExecutionReport) -> None:
        document = {**report.to_dict(), "grasp": self.running}
        self.running = None
        # what arrived during the pick describes the heap before it: wait for a fresh frame
        self.latest = self.confidence = self.width = None
        log = self.get_logger().info if report.result == ExecutionResult.SUCCEEDED else self.get_logger().warning
        log(f"pick {report.result.value}: {report.detail}")
        self.result_pub.publish(String(data=json.dumps(document)))


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros grasp_executor``."""
    return spin_node(GraspExecutorNode, "grasp_executor", args)
