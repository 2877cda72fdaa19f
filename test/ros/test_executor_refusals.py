"""The grasp executor's bad-grasp matrix through ROS: every bad grasp is refused with its code, nothing moves.

Each row sends one grasp over the executor's real topics, calls ``~/execute`` and checks the
service answer, the one ``execution/result`` (strict JSON), the fake cell's record of motions and
the node's log (no traceback). Add a row for each new way a grasp can be bad.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

from test_grasp_executor_node import start

pytestmark = pytest.mark.ros

NAN, INF = float("nan"), float("inf")
DOWN = (1.0, 0.0, 0.0, 0.0)  # tool z pointing down
LIMITS = {"min_confidence": 0.5, "target_frame": "base_link", "max_grasp_age_s": 5.0}  # workspace: start()'s


@dataclass(frozen=True)
class Case:
    """One grasp as sent, and what the executor must answer."""

    name: str
    code: str  # on execution/result
    message: str  # in the ~/execute answer and the result's detail
    gripper: str = "suction"
    position: tuple[float, float, float] = (0.4, 0.1, 0.05)
    orientation: tuple[float, float, float, float] = DOWN
    frame: str = "base_link"
    age_s: float | None = 0.0  # None: unstamped
    confidence: float = 0.9
    width: float | None = 0.04  # None: no width sent


CASES = [
    Case("good grasp", "succeeded", "executing"),
    Case("good parallel grasp", "succeeded", "executing", gripper="parallel"),
    Case("below the confidence gate", "rejected_low_confidence", "grasp confidence 0.200 is below 0.500",
         confidence=0.2),
    Case("NaN confidence", "rejected_low_confidence", "grasp confidence nan is below 0.500", confidence=NAN),
    Case("outside the workspace", "rejected_outside_workspace", "x=1.500 not in [0.200, 0.700]",
         position=(1.5, 0.1, 0.05)),
    Case("NaN position", "rejected_invalid_grasp", "pose values must be finite", position=(NAN, 0.1, 0.05)),
    Case("inf position", "rejected_invalid_grasp", "pose values must be finite", position=(0.4, INF, 0.05)),
    Case("NaN quaternion", "rejected_invalid_grasp", "non-zero quaternion", orientation=(NAN, 0.0, 0.0, 1.0)),
    Case("zero-norm quaternion", "rejected_invalid_grasp", "non-zero quaternion", orientation=(0.0, 0.0, 0.0, 0.0)),
    Case("another frame", "rejected_unknown_frame",
         "grasp frame 'camera_color_optical_frame' is not target_frame 'base_link'",
         frame="camera_color_optical_frame"),
    Case("no frame", "rejected_unknown_frame", "the grasp names no frame", frame=""),
    Case("stale", "rejected_stale", "s old (max_grasp_age_s 5.0)", age_s=10.0),
    Case("unstamped", "rejected_stale", "grasp has no stamp", age_s=None),
    Case("wider than the jaw opens", "rejected_invalid_grasp",
         "grasp width 120.0 mm exceeds the gripper's maximum opening 85.0 mm", gripper="parallel", width=0.12),
    Case("NaN width", "rejected_invalid_grasp", "width must be a positive number of metres, got nan",
         gripper="parallel", width=NAN),
    Case("inf width", "rejected_invalid_grasp", "width must be a positive number of metres, got inf",
         gripper="parallel", width=INF),
    Case("zero width", "rejected_invalid_grasp", "width must be a positive number of metres, got 0.0",
         gripper="parallel", width=0.0),
    Case("no width received", "rejected_invalid_grasp", "no grasp width received on grasp/width",
         gripper="parallel", width=None),
]


def strict_json(text: str) -> dict:
    """JSON as other languages read it: NaN and Infinity are not JSON."""
    def refuse(constant: str):
        raise ValueError(f"{constant} in a result message")
    return json.loads(text, parse_constant=refuse)


class Sender:
    """The planner's side: the grasp, confidence and width publishers, strict results."""

    def __init__(self, ros, node, cell) -> None:
        from std_msgs.msg import Float64, String

        self.ros, self.node, self.cell = ros, node, cell
        self.width_pub = cell.node.create_publisher(Float64, "grasp/width", 1)
        self.raw_results: list[str] = []
        cell.node.create_subscription(String, "execution/result", lambda msg: self.raw_results.append(msg.data), 10)
        assert ros.spin_until(lambda: self.width_pub.get_subscription_count() > 0
                              and node.result_pub.get_subscription_count() == 2, 5.0), "topics unmatched"

    def grasp(self, case: Case):
        from geometry_msgs.msg import PoseStamped
        from rclpy.duration import Duration

        msg = PoseStamped()
        msg.header.frame_id = case.frame
        if case.age_s is not None:
            msg.header.stamp = (self.node.get_clock().now() - Duration(seconds=case.age_s)).to_msg()
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = case.position
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = case.orientation
        return msg

    def send(self, case: Case, wait: bool = True) -> None:
        """Publish ``case``; ``wait``: until the inbox holds it (auto_execute takes it at once)."""
        from std_msgs.msg import Float32, Float64

        inbox = self.node.inbox
        self.cell.confidence_pub.publish(Float32(data=case.confidence))
        if case.width is not None:
            self.width_pub.publish(Float64(data=case.width))
        self.cell.grasp_pub.publish(self.grasp(case))
        assert not wait or self.ros.spin_until(lambda: inbox.grasp is not None and inbox.confidence is not None
                                   and (case.width is None or inbox.width is not None), 5.0), \
            "the executor did not receive the grasp"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_bad_grasp_is_refused_with_its_code_and_nothing_moves(ros, capfd: pytest.CaptureFixture,
                                                                case: Case) -> None:
    node, cell = start(ros, gripper=case.gripper, **LIMITS)
    sender = Sender(ros, node, cell)
    sender.send(case)
    answer = cell.trigger()
    assert ros.spin_until(lambda: sender.raw_results, 5.0), "no execution/result"
    assert answer.success == (case.code == "succeeded")
    assert case.message in answer.message
    ros.spin_until(lambda: False, 0.2)  # a second result would show here
    assert len(sender.raw_results) == 1, sender.raw_results
    result = strict_json(sender.raw_results[0])
    assert result["code"] == case.code, result
    if case.code == "succeeded":
        assert len(node.fake_cell.moves()) == 3  # approach, grasp, retreat
    else:
        assert case.message in result["detail"]
        assert node.fake_cell.calls == [], "a refused grasp moved the cell"
    log = capfd.readouterr().err
    assert f"pick {case.code}" in log  # the log is captured...
    assert "Traceback" not in log  # ...and holds no traceback


def test_an_invalid_grasp_in_auto_mode_is_refused_like_a_requested_one(ros, capfd: pytest.CaptureFixture) -> None:
    """With auto_execute no service answers: the result topic is the only word the refusal gets."""
    node, cell = start(ros, auto_execute=True, **LIMITS)
    sender = Sender(ros, node, cell)
    sender.send(Case("NaN position", "", "", position=(NAN, 0.1, 0.05)), wait=False)
    assert ros.spin_until(lambda: sender.raw_results, 5.0), "the refusal was not published"
    result = strict_json(sender.raw_results[0])
    assert result["code"] == "rejected_invalid_grasp" and "pose values must be finite" in result["detail"]
    assert result["grasp"]["position"] is None  # not a pose: the sim cell judges no pick for it
    assert node.fake_cell.calls == []
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("auto_execute", [False, True], ids=["execute", "auto_execute"])
def test_a_grasp_arriving_during_a_pick_is_refused_never_interleaved(ros, capfd: pytest.CaptureFixture,
                                                                     auto_execute: bool) -> None:
    node, cell = start(ros, auto_execute=auto_execute, **LIMITS)
    node.fake_cell.delay = 0.3  # a pick of four steps takes 1.2 s
    sender = Sender(ros, node, cell)
    sender.send(Case("first", "", ""), wait=not auto_execute)
    if not auto_execute:
        assert cell.trigger().success
    assert ros.spin_until(lambda: node.fake_cell.calls, 5.0), "the first pick did not start"
    sender.send(Case("second", "", "", position=(0.5, -0.1, 0.05)))
    busy = cell.trigger()
    assert not busy.success and busy.message == "a grasp is still being executed"
    assert ros.spin_until(lambda: sender.raw_results, 5.0)
    ros.spin_until(lambda: False, 0.5)  # a second pick would start here
    assert [strict_json(r)["code"] for r in sender.raw_results] == ["succeeded"]
    assert [m.position[0] for m in node.fake_cell.moves()] == [0.4] * 3  # the first grasp's only
    after = cell.trigger()  # the second grasp showed the heap before the pick: dropped
    assert not after.success and after.message == "no grasp received yet on the grasp topic"
    assert "Traceback" not in capfd.readouterr().err


def test_execute_before_any_grasp_is_refused(ros, capfd: pytest.CaptureFixture) -> None:
    node, cell = start(ros, **LIMITS)
    sender = Sender(ros, node, cell)
    answer = cell.trigger()
    assert not answer.success and answer.message == "no grasp received yet on the grasp topic"
    ros.spin_until(lambda: False, 0.2)
    assert sender.raw_results == [] and node.fake_cell.calls == []  # no task: no result
    assert "Traceback" not in capfd.readouterr().err
