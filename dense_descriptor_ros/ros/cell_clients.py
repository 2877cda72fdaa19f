"""The simulated cell's arm and jaws over ROS, as the grasp executor's motion and gripper backends.

A real cell's drivers take an arm goal and a jaw command and answer each; the simulated cell
node (``sim_cell``) does the same on plain topics, so the executor drives it from another
process exactly as it would drive hardware: ``cell/move`` (PoseStamped goal), ``cell/gripper``
(JointState: the jaw opening as ``position``, the closing force as ``effort``), and one answer per
request on ``cell/result`` (diagnostic_msgs/DiagnosticStatus: ``hardware_id`` the request id,
``level`` OK or ERROR, ``message`` the detail, ``values`` the error kind and the jaw's state).
The vacuum is the real cell's ``std_srvs/SetBool`` (``execution_backends.SetBoolVacuum``).
"""
from __future__ import annotations

import itertools
import threading
import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState

from dense_descriptor_ros.execution.backends import (BackendError, BackendTimeout, GripperError, GripperState,
                                                     MotionExecutionError, PlanningError)
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.ros.grasp_messages import pose_to_msg

MOVE_TOPIC, GRIPPER_TOPIC, RESULT_TOPIC = "cell/move", "cell/gripper", "cell/result"
# the error kinds an answer may carry, as the executor's backend errors
ERRORS: dict[str, type[BackendError]] = {"planning": PlanningError, "motion": MotionExecutionError,
                                         "gripper": GripperError, "timeout": BackendTimeout}
RELIABLE = QoSProfile(depth=10)


def answer(request_id: str, error: BackendError | None, values: dict[str, str] | None = None) -> DiagnosticStatus:
    """The cell's answer to request ``request_id``: OK, or the error's kind and message."""
    status = DiagnosticStatus(hardware_id=request_id, level=DiagnosticStatus.OK, message="done")
    if error is not None:
        kind = next(name for name, kind in ERRORS.items() if isinstance(error, kind))
        status.level, status.message = DiagnosticStatus.ERROR, str(error)
        values = {**(values or {}), "error": kind}
    status.values = [KeyValue(key=k, value=v) for k, v in (values or {}).items()]
    return status


class CellRequests:
    """Publishes requests and waits (off the executor thread) for the answer with their id."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._ids = itertools.count(1)
        self._answers: dict[str, DiagnosticStatus] = {}
        self._arrived = threading.Condition()
        self.move_pub = node.create_publisher(PoseStamped, MOVE_TOPIC, RELIABLE)
        self.gripper_pub = node.create_publisher(JointState, GRIPPER_TOPIC, RELIABLE)
        self.result_sub = node.create_subscription(DiagnosticStatus, RESULT_TOPIC, self._on_answer, RELIABLE)

    def _on_answer(self, msg: DiagnosticStatus) -> None:
        with self._arrived:
            self._answers[msg.hardware_id] = msg
            self._arrived.notify_all()

    def call(self, publisher, msg, timeout: float, what: str) -> dict[str, str]:
        """Send ``msg`` with a request id appended to its ``header.frame_id`` (``frame#id``) and
        return the answer's values, or raise the error it names."""
        connected = lambda: publisher.get_subscription_count() > 0 and self.result_sub.get_publisher_count() > 0  # noqa: E731
        if not self._wait(connected, min(timeout, 2.0)):
            raise BackendTimeout(f"the simulated cell does not listen on {publisher.topic_name} or answer on "
                                 f"{self.result_sub.topic_name}")
        request = f"{self.node.get_fully_qualified_name()}/{next(self._ids)}"
        msg.header.frame_id = f"{msg.header.frame_id}#{request}"
        publisher.publish(msg)
        if not self._wait(lambda: request in self._answers, timeout):
            raise BackendTimeout(f"the simulated cell did not answer {what} within {timeout:.1f} s")
        with self._arrived:
            status = self._answers.pop(request)
        values = {kv.key: kv.value for kv in status.values}
        if status.level != DiagnosticStatus.OK:
            raise ERRORS.get(values.get("error"), BackendError)(status.message)
        return values

    def _wait(self, done, timeout: float) -> bool:
        """Whether ``done()`` came true within ``timeout`` s (checked on every answer and every
        20 ms: connection counts change without a notification)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._arrived.wait(min(remaining, 0.02))
        return True


def request_id(frame_id: str) -> tuple[str, str]:
    """``(frame, request id)`` of a request's ``header.frame_id`` (``frame#id``)."""
    frame, _, rid = frame_id.rpartition("#")
    return frame, rid


class CellMotion:
    """The executor's motion backend: the cell's arm to a pose, one request at a time."""

    def __init__(self, requests: CellRequests) -> None:
        self.requests = requests

    def move_to_pose(self, pose: Pose, timeout: float) -> None:
        msg = PoseStamped(pose=pose_to_msg(pose))
        msg.header.frame_id = pose.frame
        self.requests.call(self.requests.move_pub, msg, timeout, f"the move to {pose.position.round(3).tolist()}")


class CellGripper:
    """The executor's gripper backend: the cell's jaws to an opening with a force."""

    def __init__(self, requests: CellRequests) -> None:
        self.requests = requests

    def command(self, width: float, effort: float, timeout: float) -> GripperState:
        msg = JointState(name=["jaw"], position=[float(width)], effort=[float(effort)])
        values = self.requests.call(self.requests.gripper_pub, msg, timeout, f"the jaw command to {width:.4f} m")
        return GripperState(float(values["position"]), values["stalled"] == "true", values["reached_goal"] == "true")
