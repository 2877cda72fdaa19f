"""sim_cell: the simulated bin-picking cell as a robot cell's drivers present it, in one MuJoCo world.

Publishes the overhead camera in the RealSense topic layout (colour rgb8, aligned depth 32FC1
metres, camera_info) at ``rate`` Hz, and carries out the grasp executor's commands from its own
process (``ros.cell_clients``): arm goals on ``cell/move``, jaw commands on ``cell/gripper``,
each answered on ``cell/result``, and the vacuum as ``vacuum`` (std_srvs/SetBool, the real cell's
interface). ``~/reshuffle`` (Trigger) lays the next trial's heap: the heaps of ``ddr sim pick``
for the same ``seed``, starting at ``first_trial``. When the executor reports a pick
(``execution/result``) the cell judges it as the in-process trials do and publishes
``sim_cell/pick`` (String, JSON: trial, success, target picked, preferred region hit, outcome).
One world, one thread: commands, renders and judging run one after another. So ``~/reshuffle``
is refused while a pick is under way (from its first command to the executor's result): taken
then, it laid the next heap before the pick was judged, and the pick was judged on that heap.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from dense_descriptor_ros.cameras.frames import CameraFrame, invalid_to_nan
from dense_descriptor_ros.execution.backends import BackendError
from dense_descriptor_ros.execution.executor import ExecutionReport, ExecutionResult
from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.ros.camera_publisher import REALSENSE_TOPICS, CameraPublisher
from dense_descriptor_ros.ros.cell_clients import GRIPPER_TOPIC, MOVE_TOPIC, RELIABLE, RESULT_TOPIC, answer, request_id
from dense_descriptor_ros.ros.grasp_messages import pose_from_msg
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare
from dense_descriptor_ros.simulation.experiments.trial_cell import TrialCell


class SimCellNode(Node):
    """Timer -> render -> camera topics; commands -> :class:`TrialCell`'s gripper -> answers."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("sim_cell", **node_kwargs)
        kind = declare(self, "gripper", "suction", " or ".join(GRIPPER_KINDS))
        reference = declare(self, "reference", "", "reference.json of ddr sim annotate-reference: the target "
                            "product and its preferred regions ('' = the gripper's reference product)")
        size = (declare(self, "height", 240, "image height in pixels"), declare(self, "width", 320, "image width"))
        seed = declare(self, "seed", 0, "the trials' seed: heap k is ddr sim pick's trial k")
        first = declare(self, "first_trial", 0, "the trial whose heap lies at start")
        rate = declare(self, "rate", 2.0, "camera frames per second")
        self.frame_id = declare(self, "frame_id", "camera_color_optical_frame", "the camera's optical frame")
        if kind not in GRIPPER_KINDS or rate <= 0:
            raise ValueError(f"gripper must be one of {GRIPPER_KINDS} and rate > 0, got {kind!r} and {rate}")
        self.cell = TrialCell(kind, size, seed, Path(reference) if reference else None)
        self.cell.drop(first)
        self.pick_under_way = False  # a command came and the executor has not reported the pick yet
        self.camera = CameraPublisher(self, REALSENSE_TOPICS, "32FC1", rate, "simulation")
        self.answers = self.create_publisher(DiagnosticStatus, RESULT_TOPIC, RELIABLE)
        self.picks = self.create_publisher(String, "sim_cell/pick", RELIABLE)
        self.create_subscription(PoseStamped, MOVE_TOPIC, self.on_move, RELIABLE)
        self.create_subscription(JointState, GRIPPER_TOPIC, self.on_gripper, RELIABLE)
        self.create_subscription(String, "execution/result", self.on_pick, RELIABLE)
        self.create_service(SetBool, "vacuum", self.on_vacuum)
        self.create_service(Trigger, "~/reshuffle", self.on_reshuffle)
        self.create_timer(1.0 / rate, self.on_timer)
        self.get_logger().info(f"simulated {kind} cell, target {self.cell.target.type.name}, seed {seed}, "
                               f"trial {first}")

    def on_timer(self) -> None:
        frame = self.cell.render()
        self.camera.publish(CameraFrame(frame.rgb, invalid_to_nan(frame.depth), frame.intrinsics,
                                        self.get_clock().now().nanoseconds, self.frame_id))

    def on_move(self, msg: PoseStamped) -> None:
        frame, request = request_id(msg.header.frame_id)
        msg.header.frame_id = frame
        self.run(request, lambda timeout: self.cell.gripper.move_to_pose(pose_from_msg(msg), timeout))

    def on_gripper(self, msg: JointState) -> None:
        _, request = request_id(msg.header.frame_id)

        def command(timeout: float) -> dict[str, str]:
            state = self.cell.gripper.command(msg.position[0], msg.effort[0], timeout)
            return {"position": repr(state.position), "stalled": str(state.stalled).lower(),
                    "reached_goal": str(state.reached_goal).lower()}
        self.run(request, command)

    def run(self, request: str, act) -> None:
        """Carry out one command (no time limit of ours: simulated time runs only as we step) and
        answer it with its values or its error."""
        self.pick_under_way = True
        try:
            values, error = act(float("inf")), None
        except BackendError as exc:
            values, error = None, exc
        self.answers.publish(answer(request, error, values))

    def on_vacuum(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.pick_under_way = True
        try:
            self.cell.gripper.set(request.data, float("inf"))
            response.success, response.message = True, "on" if request.data else "off"
        except BackendError as exc:  # the cup found no seal
            response.success, response.message = False, str(exc)
        return response

    def on_reshuffle(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.pick_under_way:
            response.success = False
            response.message = (f"a pick on trial {self.cell.index}'s heap is under way: reshuffle after its "
                                f"verdict on sim_cell/pick")
            return response
        self.cell.drop(self.cell.index + 1)
        response.success = True
        response.message = json.dumps({"trial": self.cell.index, "stamp_ns": self.get_clock().now().nanoseconds})
        return response

    def on_pick(self, msg: String) -> None:
        """Judge the executor's pick on the heap as it lay, then publish the verdict."""
        self.pick_under_way = False
        document = json.loads(msg.data)
        grasp = document.get("grasp") or {}
        if not grasp.get("position"):
            return
        report = ExecutionReport(ExecutionResult(document["code"]), document.get("detail", ""))
        pose = Pose(np.array(grasp["position"]), np.array(grasp["orientation_xyzw"]), grasp["frame"])
        verdict = {**self.cell.judge(report, pose), "code": document["code"]}
        self.picks.publish(String(data=json.dumps(verdict)))

    def destroy_node(self) -> None:
        self.cell.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros sim_cell``."""
    return spin_node(SimCellNode, "sim_cell", args)
