"""Grasp-executor backends on ROS: std_srvs/SetBool vacuum, MoveIt actions, GripperCommand action,
and the choice of a cell's backends (:func:`cell_backends`).

Each one implements a protocol of :mod:`dense_descriptor_ros.execution.backends`. They are
called from the executor's worker thread and wait on futures that the node's executor
completes, so the node must keep spinning (``rclpy.spin`` in the main thread does).
``moveit_msgs`` and ``control_msgs`` are not on PyPI: they are imported when an adapter is
built, and a missing package gives a clear error naming it.
"""
from __future__ import annotations

import importlib
import threading
from typing import Any

from rclpy.action import ActionClient
from rclpy.node import Node
from rclpy.task import Future
from std_srvs.srv import SetBool

from dense_descriptor_ros.execution.backends import (BackendError, BackendTimeout, FakeCell, GripperError, GripperState,
                                                     MotionExecutionError, PlanningError)
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.ros.cell_clients import CellGripper, CellMotion, CellRequests
from dense_descriptor_ros.ros.grasp_messages import pose_to_msg
from dense_descriptor_ros.ros.typed_parameters import declare

# moveit_msgs/MoveItErrorCodes.SUCCESS; the planning failures among its negative codes.
MOVEIT_SUCCESS = 1
MOVEIT_PLANNING_CODES = {-1, -2, -3, -4, -5, -6, -7, -10, -11, -12, -13, -31}


def import_message_module(module: str) -> Any:
    """``moveit_msgs.action`` etc., or a RuntimeError saying the package is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise RuntimeError(f"{package} is not installed (it is not on PyPI): install ros-jazzy-"
                           f"{package.replace('_', '-')} from the ROS apt repository, or use backend "
                           f"'sim' or 'fake'") from exc


def wait_for(future: Future, timeout: float, what: str, failure: type[BackendError] = GripperError) -> Any:
    """Block this (non-executor) thread until ``future`` is done: its result, BackendTimeout after
    ``timeout``, ``failure`` when the call itself failed."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        future.cancel()
        raise BackendTimeout(f"{what} did not answer within {timeout:.1f} s")
    if future.exception() is not None:
        raise failure(f"{what} failed: {future.exception()}")
    return future.result()


class SetBoolVacuum:
    """Suction through a ``std_srvs/SetBool`` service (data = on); ``success = false`` is a failure."""

    def __init__(self, node: Node, service: str = "vacuum") -> None:
        self.client = node.create_client(SetBool, service)

    def set(self, on: bool, timeout: float) -> None:
        if not self.client.wait_for_service(timeout_sec=min(timeout, 2.0)):
            raise BackendTimeout(f"vacuum service {self.client.srv_name} is not available")
        response = wait_for(self.client.call_async(SetBool.Request(data=bool(on))), timeout,
                            f"vacuum service {self.client.srv_name}")
        if not response.success:
            raise GripperError(f"vacuum service refused to switch {'on' if on else 'off'}: {response.message}")


def _send_goal(client: ActionClient, goal: Any, timeout: float, what: str, failure: type[BackendError]) -> Any:
    """Send an action goal and wait for its result message (the ``result`` field)."""
    if not client.wait_for_server(timeout_sec=min(timeout, 2.0)):
        raise BackendTimeout(f"{what} action server is not available")
    handle = wait_for(client.send_goal_async(goal), timeout, f"{what} goal", failure)
    if not handle.accepted:
        raise failure(f"{what} goal was rejected")
    try:
        return wait_for(handle.get_result_async(), timeout, what, failure).result
    except BackendTimeout:
        handle.cancel_goal_async()
        raise


class MoveGroupMotion:
    """MoveIt's ``move_action`` (moveit_msgs/MoveGroup): plan and execute to a pose goal of
    ``end_effector_link``, the pose given as a position box of ``tolerance`` metres and an
    orientation within ``angle_tolerance`` radians."""

    def __init__(self, node: Node, group: str, end_effector_link: str, action: str = "move_action",
                 tolerance: float = 0.002, angle_tolerance: float = 0.02, planning_time: float = 5.0) -> None:
        self.messages = import_message_module("moveit_msgs.msg")
        self.MoveGroup = import_message_module("moveit_msgs.action").MoveGroup
        self.client = ActionClient(node, self.MoveGroup, action)
        self.group, self.link = group, end_effector_link
        self.tolerance, self.angle_tolerance, self.planning_time = tolerance, angle_tolerance, planning_time

    def goal(self, pose: Pose) -> Any:
        from geometry_msgs.msg import PoseStamped
        from shape_msgs.msg import SolidPrimitive

        m = self.messages
        target = PoseStamped()
        target.header.frame_id = pose.frame
        target.pose = pose_to_msg(pose)
        region = SolidPrimitive(type=SolidPrimitive.SPHERE, dimensions=[self.tolerance])
        position = m.PositionConstraint(header=target.header, link_name=self.link, weight=1.0)
        position.constraint_region.primitives = [region]
        position.constraint_region.primitive_poses = [target.pose]
        orientation = m.OrientationConstraint(
            header=target.header, link_name=self.link, orientation=target.pose.orientation, weight=1.0,
            absolute_x_axis_tolerance=self.angle_tolerance, absolute_y_axis_tolerance=self.angle_tolerance,
            absolute_z_axis_tolerance=self.angle_tolerance)
        goal = self.MoveGroup.Goal()
        goal.request.group_name = self.group
        goal.request.allowed_planning_time = self.planning_time
        goal.request.num_planning_attempts = 1
        goal.request.goal_constraints = [m.Constraints(position_constraints=[position],
                                                       orientation_constraints=[orientation])]
        goal.planning_options.plan_only = False
        return goal

    def move_to_pose(self, pose: Pose, timeout: float) -> None:
        result = _send_goal(self.client, self.goal(pose), timeout, "MoveGroup", MotionExecutionError)
        code = result.error_code.val
        if code == MOVEIT_SUCCESS:
            return
        kind = PlanningError if code in MOVEIT_PLANNING_CODES else MotionExecutionError
        raise kind(f"MoveGroup to {pose.position.round(3).tolist()} in {pose.frame!r} failed with "
                   f"MoveItErrorCodes {code}")


class GripperCommandGripper:
    """A parallel gripper behind control_msgs/GripperCommand; ``position`` = opening in metres
    times ``position_per_metre`` (1 for grippers commanded by finger gap)."""

    def __init__(self, node: Node, action: str = "gripper_cmd", position_per_metre: float = 1.0) -> None:
        self.GripperCommand = import_message_module("control_msgs.action").GripperCommand
        self.client = ActionClient(node, self.GripperCommand, action)
        self.scale = position_per_metre

    def command(self, width: float, effort: float, timeout: float) -> GripperState:
        goal = self.GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = float(width * self.scale), float(effort)
        result = _send_goal(self.client, goal, timeout, "GripperCommand", GripperError)
        return GripperState(result.position / self.scale, bool(result.stalled), bool(result.reached_goal))


def cell_backends(node: Node, backend: str, gripper: str) -> tuple[Any, Any, Any]:
    """``(motion, vacuum, jaws)`` of a cell: ``fake`` all in memory (one FakeCell), ``sim`` the
    simulated cell node's arm and jaws (``ros.cell_clients``), ``moveit`` MoveIt and a
    GripperCommand action; suction on ``sim`` and ``moveit`` switches ``vacuum_service``. Declares
    the backends' parameters on ``node``."""
    names = {
        "move_group": declare(node, "move_group", "manipulator", "MoveIt planning group"),
        "end_effector_link": declare(node, "end_effector_link", "tool0", "link placed at the grasp pose"),
        "move_action": declare(node, "move_action", "move_action", "MoveGroup action name"),
        "gripper_action": declare(node, "gripper_action", "gripper_cmd", "GripperCommand action name"),
        "vacuum_service": declare(node, "vacuum_service", "vacuum", "SetBool vacuum service (moveit, sim)"),
    }
    if backend == "fake":  # a dry run must not wait for a vacuum or gripper that is not there
        fake = FakeCell()
        return fake, fake, fake
    if backend == "sim":
        requests = CellRequests(node)
        motion, jaws = CellMotion(requests), CellGripper(requests)
    else:
        motion = MoveGroupMotion(node, names["move_group"], names["end_effector_link"], names["move_action"])
        jaws = GripperCommandGripper(node, names["gripper_action"]) if gripper == "parallel" else None
    if gripper == "parallel":
        return motion, None, jaws
    if not names["vacuum_service"]:
        raise ValueError(f"the {backend} backend needs a vacuum_service for suction")
    return motion, SetBoolVacuum(node, names["vacuum_service"]), None
