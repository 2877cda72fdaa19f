"""grasp_executor: picks the latest grasp with a suction cup or a parallel gripper.

Takes the grasp topics of a grasp node (``ros.grasp_inbox``). A grasp is executed when
``~/execute`` (std_srvs/Trigger) is called, or on arrival with ``auto_execute``; ``~/cancel``
stops after the running step. Every task ends with one ``execution/result`` (String, JSON:
code, detail, timings, grasp); ``execution/status`` (String, JSON) says whether a pick runs and
the stamp of the grasp ``~/execute`` would take.

Backends (parameter ``backend``): ``moveit`` (MoveGroup and GripperCommand actions), ``sim``
(the simulated cell node's arm and jaws, ``ros.cell_clients``), ``fake`` (arm, vacuum and jaws
in memory, for dry runs: nothing on ROS is called). Suction on ``moveit`` and ``sim`` switches
the ``vacuum_service`` (std_srvs/SetBool), as on a real cell.
"""
from __future__ import annotations

import json
from typing import Any

from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from dense_descriptor_ros.execution import ExecutionReport, ExecutionResult, FakeCell, GraspExecutor
from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS
from dense_descriptor_ros.ros.execution_backends import cell_backends
from dense_descriptor_ros.ros.grasp_inbox import GraspInbox
from dense_descriptor_ros.ros.grasp_messages import pose_from_msg
from dense_descriptor_ros.ros.gripper_parameters import declare_executor_config
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare

BACKENDS = ("moveit", "sim", "fake")
POLL_PERIOD_S = 0.05


class GraspExecutorNode(Node):
    """Thin adapter: :class:`GraspInbox` + services -> :class:`GraspExecutor` -> result topic."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("grasp_executor", **node_kwargs)
        self.gripper = declare(self, "gripper", "suction", " or ".join(GRIPPER_KINDS))
        backend = declare(self, "backend", "moveit", " or ".join(BACKENDS))
        self.auto_execute = declare(self, "auto_execute", False, "execute every grasp as it arrives when idle")
        config = declare_executor_config(self)
        if self.gripper not in GRIPPER_KINDS or backend not in BACKENDS:
            raise ValueError(f"gripper must be one of {GRIPPER_KINDS} and backend one of {BACKENDS}, "
                             f"got {self.gripper!r} and {backend!r}")
        motion, vacuum, jaws = cell_backends(self, backend, self.gripper)
        self.fake_cell = motion if isinstance(motion, FakeCell) else None
        self.grasp_executor = GraspExecutor(motion, vacuum=vacuum, gripper=jaws, config=config)
        self.get_logger().info(f"{self.gripper} gripper on the {backend} backend")

        self.running: dict | None = None
        self.inbox = GraspInbox(self, self.gripper == "parallel", self.on_inbox)
        self.result_pub = self.create_publisher(String, "execution/result", 10)
        self.status_pub = self.create_publisher(String, "execution/status", 10)
        self.create_service(Trigger, "~/execute", self.on_execute)
        self.create_service(Trigger, "~/cancel", self.on_cancel)
        self.create_timer(POLL_PERIOD_S, self.poll)

    def on_inbox(self) -> None:
        """In auto mode the last of a frame's grasp messages starts the pick."""
        self.publish_status()
        if self.auto_execute and self.running is None and self.inbox.complete:
            self.start()

    def on_execute(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.running is not None:
            response.success, response.message = False, "a grasp is still being executed"
        elif self.inbox.grasp is None:
            response.success, response.message = False, "no grasp received yet on the grasp topic"
        else:
            response.success, response.message = self.start()
        return response

    def on_cancel(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = self.running is not None
        response.message = "canceling after the running step" if response.success else "nothing to cancel"
        self.grasp_executor.cancel_task()
        return response

    def start(self) -> tuple[bool, str]:
        """Start the latest grasp; a refusal is published at once."""
        stamp_ns = self.inbox.stamp_ns
        msg, confidence, width = self.inbox.take()
        try:
            pose = pose_from_msg(msg)
            if self.gripper == "suction":
                started = self.grasp_executor.execute_suction(pose, confidence)
            elif width is None:
                raise ValueError("no grasp width received on grasp/width")
            else:
                started = self.grasp_executor.execute_parallel(pose, width, confidence)
        except ValueError as exc:
            self.get_logger().error(f"grasp not executed: {exc}")
            return False, str(exc)
        self.running = {"frame": pose.frame, "position": pose.position.tolist(), "stamp_ns": stamp_ns,
                        "orientation_xyzw": pose.orientation.tolist(), "confidence": confidence,
                        "gripper": self.gripper, "width": width}
        self.publish_status()
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
        self.inbox.clear(self.get_clock().now())  # what was seen during the pick shows the heap before it
        # one call site per severity: rclpy refuses a second severity from the same call site
        if report.result == ExecutionResult.SUCCEEDED:
            self.get_logger().info(f"pick {report.result.value}: {report.detail}")
        else:
            self.get_logger().warning(f"pick {report.result.value}: {report.detail}")
        self.result_pub.publish(String(data=json.dumps(document)))
        self.publish_status()

    def publish_status(self) -> None:
        status = {"running": self.running is not None, "grasp_stamp_ns": self.inbox.stamp_ns}
        self.status_pub.publish(String(data=json.dumps(status)))


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros grasp_executor``."""
    return spin_node(GraspExecutorNode, "grasp_executor", args)
