"""grasp_executor: picks the latest grasp with a suction cup or a parallel gripper.

Takes the grasp topics of a grasp node (``ros.grasp_inbox``). A grasp is executed when
``~/execute`` (std_srvs/Trigger) is called, or on arrival with ``auto_execute``; ``~/cancel``
stops after the running step. Every task ends with one ``execution/result`` (String, JSON:
code, detail, timings, grasp), a grasp refused before moving too (``rejected_*`` codes), and
the code as text in RViz (``execution/markers``, above the grasp);
``execution/status`` (String, JSON) says whether a pick runs and the stamp of the grasp
``~/execute`` would take. A grasp that arrives during a pick is not taken: ``~/execute`` is
refused while a pick runs, and the pick's end drops it (it shows the heap before the pick).

Backends (parameter ``backend``): ``moveit`` (MoveGroup and GripperCommand actions), ``sim``
(the simulated cell node's arm and jaws, ``ros.cell_clients``), ``fake`` (arm, vacuum and jaws
in memory, for dry runs: nothing on ROS is called). Suction on ``moveit`` and ``sim`` switches
the ``vacuum_service`` (std_srvs/SetBool), as on a real cell.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

from rclpy.node import Node
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from dense_descriptor_ros.execution import ExecutionReport, ExecutionResult, FakeCell, GraspExecutor
from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.ros.execution_backends import cell_backends
from dense_descriptor_ros.ros.grasp_inbox import GraspInbox
from dense_descriptor_ros.ros.grasp_messages import pose_from_msg, result_markers
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
        self.max_grasp_age_s = declare(self, "max_grasp_age_s", 0.0, "refuse a grasp stamped longer ago than "
                                       "this when its pick would start (s; 0: any age)")
        config = replace(declare_executor_config(self), target_frame=declare(
            self, "target_frame", "", "the frame grasps must come in, the workspace box's: the executor "
                                      "transforms none ('' = any named frame)"))
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
        self.markers_pub = self.create_publisher(MarkerArray, "execution/markers", 1)
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
        """Start the latest grasp; a refused one ends at once, its result published like a pick's."""
        stamp_ns = self.inbox.stamp_ns
        msg, confidence, width = self.inbox.take()
        pose = None
        try:
            pose = pose_from_msg(msg)
            refusal = self.stale(stamp_ns)
            if refusal is None and not self.begin(pose, confidence, width):
                refusal = self.grasp_executor.get_report()
        except ValueError as exc:  # a pose or width that cannot be executed
            refusal = ExecutionReport(ExecutionResult.REJECTED_INVALID_GRASP, str(exc))
        # no pose when it could not be read: the detail holds its values
        self.running = {"frame": msg.header.frame_id, "stamp_ns": stamp_ns, "gripper": self.gripper,
                        "position": None if pose is None else pose.position.tolist(),
                        "orientation_xyzw": None if pose is None else pose.orientation.tolist(),
                        "confidence": json_number(confidence), "width": json_number(width)}
        self.publish_status()
        if refusal is not None:
            self.finish(refusal)
            return False, refusal.detail
        return True, "executing"

    def stale(self, stamp_ns: int | None) -> ExecutionReport | None:
        """A grasp older than ``max_grasp_age_s`` shows a heap that may have changed since."""
        limit = self.max_grasp_age_s
        if limit <= 0:
            return None
        if not stamp_ns:
            return ExecutionReport(ExecutionResult.REJECTED_STALE,
                                   f"grasp has no stamp, so its age is unknown (max_grasp_age_s {limit})")
        age_s = (self.get_clock().now().nanoseconds - stamp_ns) / 1e9
        if age_s <= limit:
            return None
        return ExecutionReport(ExecutionResult.REJECTED_STALE, f"grasp is {age_s:.1f} s old (max_grasp_age_s {limit})")

    def begin(self, pose: Pose, confidence: float, width: float | None) -> bool:
        """The executor's start (False: refused); ValueError for a width that cannot be executed."""
        if self.gripper == "suction":
            return self.grasp_executor.execute_suction(pose, confidence)
        if width is None:
            raise ValueError("no grasp width received on grasp/width")
        return self.grasp_executor.execute_parallel(pose, width, confidence)

    def poll(self) -> None:
        if self.running is not None and self.grasp_executor.is_task_complete():
            self.finish(self.grasp_executor.get_report())

    def finish(self, report: ExecutionReport) -> None:
        document = {**report.to_dict(), "grasp": self.running}
        self.publish_result_markers(report)
        self.running = None
        self.inbox.clear(self.get_clock().now())  # what was seen during the pick shows the heap before it
        # one call site per severity: rclpy refuses a second severity from the same call site
        if report.result == ExecutionResult.SUCCEEDED:
            self.get_logger().info(f"pick {report.result.value}: {report.detail}")
        else:
            self.get_logger().warning(f"pick {report.result.value}: {report.detail}")
        self.result_pub.publish(String(data=json.dumps(document)))
        self.publish_status()

    def publish_result_markers(self, report: ExecutionReport) -> None:
        """The result code in RViz, above the grasp it came from (in the grasp's frame)."""
        grasp = self.running
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=grasp["frame"])
        pose = None if grasp["position"] is None else Pose(grasp["position"], grasp["orientation_xyzw"], grasp["frame"])
        text = f"{self.gripper}: {report.result.value}"
        self.markers_pub.publish(result_markers(header, grasp["frame"], pose, text,
                                                report.result == ExecutionResult.SUCCEEDED))

    def publish_status(self) -> None:
        status = {"running": self.running is not None, "grasp_stamp_ns": self.inbox.stamp_ns}
        self.status_pub.publish(String(data=json.dumps(status)))


def json_number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such a value is written as null (the detail says what it was)."""
    return value if value is not None and math.isfinite(value) else None


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros grasp_executor``."""
    return spin_node(GraspExecutorNode, "grasp_executor", args)
