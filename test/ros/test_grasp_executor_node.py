"""grasp_executor on real DDS: the fake cell, refusals, results; the SetBool vacuum adapter."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

CONFIG = Path(__file__).resolve().parents[2] / "config" / "grasp_executor.yaml"


class Cell:
    """The test's side: grasp publishers, a SetBool vacuum server, the result subscriber."""

    def __init__(self, ros, vacuum_ok: bool = True) -> None:
        from geometry_msgs.msg import PoseStamped
        from std_msgs.msg import Float32, String
        from std_srvs.srv import SetBool, Trigger

        self.ros, self.node = ros, ros.node("cell")
        self.vacuum_requests: list[bool] = []
        self.results: list[dict] = []

        def vacuum(request, response):
            self.vacuum_requests.append(request.data)
            response.success, response.message = vacuum_ok, "ok" if vacuum_ok else "no pressure"
            return response

        self.node.create_service(SetBool, "vacuum", vacuum)
        self.grasp_pub = self.node.create_publisher(PoseStamped, "grasp", 1)
        self.confidence_pub = self.node.create_publisher(Float32, "grasp/confidence", 1)
        self.result_sub = self.node.create_subscription(
            String, "execution/result", lambda msg: self.results.append(json.loads(msg.data)), 10)
        self.execute = self.node.create_client(Trigger, "/grasp_executor/execute")

    def pose(self, position):
        """A grasp as a planner sends it: stamped now (the shipped config refuses unstamped ones)."""
        from geometry_msgs.msg import PoseStamped

        msg = PoseStamped()
        msg.header.frame_id = "base_link"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position
        msg.pose.orientation.x, msg.pose.orientation.w = 1.0, 0.0  # tool z down
        return msg

    def send(self, node, position, confidence: float) -> None:
        from std_msgs.msg import Float32

        self.confidence_pub.publish(Float32(data=confidence))
        self.grasp_pub.publish(self.pose(position))
        assert self.ros.spin_until(lambda: node.inbox.grasp is not None and node.inbox.confidence == pytest.approx(confidence),
                                   5.0), "the executor did not receive the grasp"

    def trigger(self):
        from std_srvs.srv import Trigger

        assert self.execute.wait_for_service(timeout_sec=5.0)
        future = self.execute.call_async(Trigger.Request())
        assert self.ros.spin_until(future.done, 5.0)
        return future.result()


def start(ros, cli_args: list[str] | None = None, **parameters):
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.grasp_executor import GraspExecutorNode

    values = {"backend": "fake", "gripper": "suction", "min_confidence": 0.5,
              "workspace_min": [0.2, -0.3, 0.0], "workspace_max": [0.7, 0.3, 0.4], "approach_distance": 0.1,
              **parameters}
    node = ros.add(GraspExecutorNode(context=ros.context, cli_args=cli_args,
                                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]))
    cell = Cell(ros)
    ros.wait_matched(cell.grasp_pub, node.inbox.grasp_sub)
    ros.wait_matched(node.result_pub, cell.result_sub)
    return node, cell


def test_suction_pick_on_the_fake_cell_reports_timings(ros) -> None:
    node, cell = start(ros)
    cell.send(node, (0.4, 0.1, 0.05), 0.9)
    answer = cell.trigger()
    assert answer.success, answer.message
    assert ros.spin_until(lambda: cell.results, 5.0)
    result = cell.results[-1]
    assert result["code"] == "succeeded", result
    assert set(result["timings"]) == {"approach", "vacuum_on", "grasp", "retreat", "total"}
    np.testing.assert_allclose(result["grasp"]["position"], [0.4, 0.1, 0.05])
    moves = node.fake_cell.moves()
    np.testing.assert_allclose([m.position[2] for m in moves], [0.15, 0.05, 0.2], atol=1e-9)


def test_fake_backend_with_the_shipped_config_needs_no_vacuum_service(ros) -> None:
    """config/grasp_executor.yaml names vacuum_service 'vacuum' for the robot; a dry run on the
    fake backend must switch the fake vacuum, not call (or wait for) that service."""
    node, cell = start(ros, cli_args=["--ros-args", "--params-file", str(CONFIG)])
    assert node.get_parameter("vacuum_service").value == "vacuum"
    cell.send(node, (0.4, 0.1, 0.05), 0.9)
    started = time.monotonic()
    assert cell.trigger().success
    assert ros.spin_until(lambda: cell.results, 5.0)
    assert cell.results[-1]["code"] == "succeeded", cell.results[-1]
    assert time.monotonic() - started < 1.5  # no wait_for_service on the way
    assert cell.vacuum_requests == []
    assert ("vacuum", True) in node.fake_cell.calls


def test_a_grasp_seen_before_the_last_pick_ended_is_dropped(ros) -> None:
    """A frame captured during a pick shows the heap before it: its grasp must not be picked."""
    node, cell = start(ros)
    cell.send(node, (0.4, 0.1, 0.05), 0.9)
    assert cell.trigger().success and ros.spin_until(lambda: cell.results, 5.0)
    stale = cell.pose((0.5, 0.0, 0.05))
    stale.header.stamp = node.get_clock().now().to_msg()  # seen at the moment the pick ended...
    stale.header.stamp.sec -= 1  # ... a second before
    cell.grasp_pub.publish(stale)
    fresh = cell.pose((0.45, 0.0, 0.05))
    fresh.header.stamp = node.get_clock().now().to_msg()
    ros.spin_until(lambda: False, 0.3)
    assert node.inbox.grasp is None, "the stale grasp was kept"
    cell.grasp_pub.publish(fresh)
    assert ros.spin_until(lambda: node.inbox.grasp is not None, 5.0)
    assert node.inbox.grasp.pose.position.x == 0.45


def test_success_after_a_failure_and_back_keeps_the_executor_alive(ros) -> None:
    """finish() logs successes as info and failures as warning: from one call site rclpy raises
    "Logger severity cannot be changed between calls" and the node dies on the change."""
    node, cell = start(ros)
    codes = []
    for confidence in (0.2, 0.9, 0.2, 0.9):  # refused (warning), picked (info), and again
        cell.send(node, (0.4, 0.1, 0.05), confidence)
        cell.trigger()
        assert ros.spin_until(lambda: len(cell.results) > len(codes), 5.0)
        codes.append(cell.results[-1]["code"])
    assert codes == ["rejected_low_confidence", "succeeded"] * 2


def test_each_result_is_shown_in_rviz_above_its_grasp(ros) -> None:
    """execution/markers: the result code as text, green for a pick, red for a refusal, above
    the grasp along its approach axis (tool z points down here: 0.15 m higher)."""
    from visualization_msgs.msg import Marker, MarkerArray

    node, cell = start(ros)
    shown: list[MarkerArray] = []
    sub = cell.node.create_subscription(MarkerArray, "execution/markers", shown.append, 10)
    ros.wait_matched(node.markers_pub, sub)
    for confidence, code in ((0.9, "succeeded"), (0.2, "rejected_low_confidence")):
        cell.send(node, (0.4, 0.1, 0.05), confidence)
        cell.trigger()
        assert ros.spin_until(lambda: len(shown) == len(cell.results) >= 1 and cell.results[-1]["code"] == code, 5.0)
        clear, text = shown[-1].markers
        assert clear.action == Marker.DELETEALL
        assert (text.type, text.text, text.header.frame_id) == (Marker.TEXT_VIEW_FACING, f"suction: {code}", "base_link")
        np.testing.assert_allclose([text.pose.position.x, text.pose.position.y, text.pose.position.z],
                                   [0.4, 0.1, 0.2], atol=1e-9)
        assert (text.color.g > text.color.r) == (code == "succeeded")


def test_low_confidence_and_outside_workspace_are_refused_without_moving(ros) -> None:
    node, cell = start(ros)
    cell.send(node, (0.4, 0.1, 0.05), 0.2)
    answer = cell.trigger()
    assert not answer.success and "below" in answer.message
    assert ros.spin_until(lambda: cell.results, 5.0)
    assert cell.results[-1]["code"] == "rejected_low_confidence"
    cell.send(node, (1.5, 0.1, 0.05), 0.9)
    assert not cell.trigger().success
    assert ros.spin_until(lambda: len(cell.results) == 2, 5.0)
    assert cell.results[-1]["code"] == "rejected_outside_workspace"
    assert node.fake_cell.calls == [] and cell.vacuum_requests == []
    assert not cell.trigger().success  # the grasp was used up: nothing to execute


def test_vacuum_refusal_is_a_gripper_failure_and_auto_execute(ros) -> None:
    from std_msgs.msg import Float32

    node, cell = start(ros, auto_execute=True)
    node.fake_cell.vacuum_fails = True
    cell.confidence_pub.publish(Float32(data=0.9))
    assert ros.spin_until(lambda: node.inbox.confidence is not None, 5.0)
    cell.grasp_pub.publish(cell.pose((0.4, 0.1, 0.05)))
    assert ros.spin_until(lambda: cell.results, 5.0), "auto_execute did not pick"
    assert cell.results[-1]["code"] == "gripper_failed" and "vacuum did not build up" in cell.results[-1]["detail"]
    assert cell.vacuum_requests == []  # the fake backend's vacuum, not the ROS service


def call_in_thread(ros, function):
    """Run a blocking backend call while this thread spins the executor that answers it."""
    outcome = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except Exception as exc:  # handed to the test
            outcome["error"] = exc
    worker = threading.Thread(target=run)
    worker.start()
    assert ros.spin_until(lambda: not worker.is_alive(), 10.0)
    return outcome


@pytest.mark.parametrize("vacuum_ok", [True, False])
def test_set_bool_vacuum_switches_or_reports_the_refusal(ros, vacuum_ok: bool) -> None:
    from dense_descriptor_ros.execution import GripperError
    from dense_descriptor_ros.ros.execution_backends import SetBoolVacuum

    cell = Cell(ros, vacuum_ok=vacuum_ok)
    vacuum = SetBoolVacuum(ros.node("executor_side"), "vacuum")
    outcome = call_in_thread(ros, lambda: vacuum.set(True, timeout=5.0))
    assert cell.vacuum_requests == [True]
    if vacuum_ok:
        assert outcome == {"value": None}
    else:
        assert isinstance(outcome["error"], GripperError) and "no pressure" in str(outcome["error"])


def test_set_bool_vacuum_without_a_server_times_out(ros) -> None:
    from dense_descriptor_ros.execution import BackendTimeout
    from dense_descriptor_ros.ros.execution_backends import SetBoolVacuum

    vacuum = SetBoolVacuum(ros.node("executor_side"), "no_vacuum")
    outcome = call_in_thread(ros, lambda: vacuum.set(True, timeout=0.2))
    assert isinstance(outcome["error"], BackendTimeout) and "not available" in str(outcome["error"])


def test_bad_parameters_fail_at_start(ros) -> None:
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.grasp_executor import GraspExecutorNode

    with pytest.raises(ValueError, match="backend one of"):
        GraspExecutorNode(context=ros.context, parameter_overrides=[Parameter("backend", value="robot")])
    with pytest.raises(RuntimeError, match="moveit_msgs is not installed"):
        GraspExecutorNode(context=ros.context, parameter_overrides=[Parameter("backend", value="moveit")])
    with pytest.raises(ValueError, match="the sim backend needs a vacuum_service"):
        GraspExecutorNode(context=ros.context, parameter_overrides=[Parameter("backend", value="sim"),
                                                                    Parameter("vacuum_service", value="")])


def test_moveit_goal_holds_the_pose_constraints(ros) -> None:
    pytest.importorskip("moveit_msgs.action", reason="moveit_msgs is not on PyPI (ros-jazzy-moveit-msgs from apt)")
    from dense_descriptor_ros.grasping import Pose
    from dense_descriptor_ros.ros.execution_backends import MoveGroupMotion

    motion = MoveGroupMotion(ros.node("moveit_probe"), "manipulator", "tool0", tolerance=0.003)
    goal = motion.goal(Pose(np.array([0.4, 0.1, 0.05]), np.array([1.0, 0, 0, 0]), "base_link"))
    constraints = goal.request.goal_constraints[0]
    assert goal.request.group_name == "manipulator" and not goal.planning_options.plan_only
    region = constraints.position_constraints[0].constraint_region
    assert region.primitives[0].dimensions[0] == 0.003
    assert region.primitive_poses[0].position.x == 0.4
    assert constraints.orientation_constraints[0].orientation.x == 1.0


def test_gripper_command_goal(ros) -> None:
    pytest.importorskip("control_msgs.action", reason="control_msgs is not on PyPI (ros-jazzy-control-msgs from apt)")
    from dense_descriptor_ros.ros.execution_backends import GripperCommandGripper

    from dense_descriptor_ros.execution import BackendTimeout

    gripper = GripperCommandGripper(ros.node("gripper_probe"), action="no_such_gripper")
    with pytest.raises(BackendTimeout, match="action server is not available"):
        gripper.command(0.04, 10.0, timeout=0.2)
