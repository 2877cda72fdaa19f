"""operator_console: the operator console (``annotation.console``) on the live graph.

Serves the console page on 127.0.0.1 (``port``; 0: a free one) and logs its URL, with the
random token every request needs, at start. Reads the gripper kind's planner node (heatmap_node
or oriented_grasp_node): its overlay (``<overlay>``, rgb8) and decisions (``<plan topic>``,
JSON), and the executor's ``execution/result``. A click on the page is published on
``<overlay>_mouse_left`` (geometry_msgs/Point, pixels), the path rqt_image_view's clicks and,
once resolved to a pixel, RViz's ``/clicked_point`` take (``ros.clicks``); the planner node's
``object`` parameter is set to the selected object first. Undo / clear / save call the planner
node's database services (undo on the parallel gripper forgets a half-done axis pair), *Pick*
calls ``/grasp_executor/execute``. What each action changed is read back from the keypoint
database (``database``, the planner's file; read only) and shown on the page and in the log.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import Point
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from dense_descriptor_ros.annotation.console import DEFAULT_PORT, ConsoleError, OperatorConsole
from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase, KeypointDatabaseError, encode_png
from dense_descriptor_ros.messages import image_to_numpy
from dense_descriptor_ros.ros.graph import PLANNER_NODES
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare

# each planner node's overlay and plan topics (HeatmapNode / OrientedGraspNode's, checked by a test)
PLANNER_TOPICS = {"heatmap_node": ("heatmap/overlay", "grasp/plan"),
                  "oriented_grasp_node": ("oriented_grasp/overlay", "oriented_grasp/plan")}
# the console's database actions -> the planner node's services, per gripper kind: oriented_grasp_node's
# undo forgets a half-done axis pair, and it has no clear (a new pair replaces the stored one)
ACTIONS = {"suction": {"undo": "undo", "clear": "clear", "save": "save"},
           "parallel": {"undo": "reset_axis", "save": "save"}}
EXECUTOR = "grasp_executor"
PLANNER_GATES = ("min_confidence",)
EXECUTOR_GATES = ("min_confidence", "max_grasp_age_s")
POLL_S = 0.05


def stored(database: Path) -> dict[tuple[str, int], dict]:
    """Every keypoint in ``database`` as plain values, keyed by role and row id."""
    if not database.is_file():
        return {}
    with KeypointDatabase(database, create=False) as db:
        return {(r.role, r.id): {"id": r.id, "object": r.object, "role": r.role,
                                 "x": round(r.xy[0], 1), "y": round(r.xy[1], 1), "created": r.created}
                for r in db.records()}


class OperatorConsoleNode(Node):
    """Thin adapter: topics and services of the graph -> :class:`OperatorConsole`'s backend."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("operator_console", **node_kwargs)
        self.gripper = declare(self, "gripper", "suction", " or ".join(GRIPPER_KINDS))
        database = declare(self, "database", "", "the planner node's keypoint database (read only here)")
        port = declare(self, "port", DEFAULT_PORT, "HTTP port on 127.0.0.1 (0: a free one)")
        self.timeout_s = declare(self, "action_timeout_s", 10.0, "how long an action waits for the graph (s)")
        if self.gripper not in PLANNER_NODES or not database:
            raise ValueError(f"gripper must be one of {tuple(PLANNER_NODES)} and database a file, "
                             f"got {self.gripper!r} and {database!r}")
        self.database = Path(database)
        self.planner = PLANNER_NODES[self.gripper][0]
        overlay_topic, plan_topic = PLANNER_TOPICS[self.planner]
        self.latest: dict[str, Any] = {"overlay": None, "overlay_stamp": None, "plan": None, "result": None}
        self.png_cache: tuple[Any, tuple[bytes, int, int]] | None = None
        self.settings: dict[str, Any] = {}  # the planner's object and the gates, once read
        self.axis_a_sent = False  # parallel: the next click completes a pair (oriented_grasp_node's AxisClicks)
        self.create_subscription(Image, overlay_topic, self.on_overlay, 1)
        self.create_subscription(String, plan_topic, lambda m: self.latest.update(plan=json.loads(m.data)), 10)
        self.create_subscription(String, "execution/result", lambda m: self.latest.update(result=json.loads(m.data)), 10)
        self.click_pub = self.create_publisher(Point, f"{overlay_topic}_mouse_left", 10)
        self.set_object = self.create_client(SetParameters, f"{self.planner}/set_parameters")
        self.get_parameters = {node: self.create_client(GetParameters, f"{node}/get_parameters")
                               for node in (self.planner, EXECUTOR)}
        self.triggers = {action: self.create_client(Trigger, f"{self.planner}/{service}")
                         for action, service in ACTIONS[self.gripper].items()}
        self.execute = self.create_client(Trigger, f"{EXECUTOR}/execute")
        self.console = OperatorConsole(self, port).start()
        self.get_logger().info(f"operator console ({self.gripper}, {self.planner}): {self.console.url}")

    # -- ROS side ----------------------------------------------------------------------------

    def on_overlay(self, msg: Image) -> None:
        self.latest.update(overlay=image_to_numpy(msg), overlay_stamp=Time.from_msg(msg.header.stamp).nanoseconds)

    def wait(self, future, what: str) -> Any:
        """The answer of a service call (answered while the node spins in its own thread)."""
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(self.timeout_s) or future.result() is None:
            raise ConsoleError(f"no answer from {what} within {self.timeout_s:g} s: is it running?")
        return future.result()

    def call(self, client, request, what: str) -> Any:
        if not client.wait_for_service(timeout_sec=self.timeout_s):
            raise ConsoleError(f"{what} is not offered: is {what.split('/')[0]} running?")
        return self.wait(client.call_async(request), what)

    def trigger(self, client, what: str) -> str:
        answer = self.call(client, Trigger.Request(), what)
        if not answer.success:
            raise ConsoleError(f"{what}: {answer.message}")
        return answer.message

    def read_settings(self) -> dict[str, Any]:
        """The planner's current object and both nodes' confidence gates (read once, then kept)."""
        if not self.settings:
            values = {}
            for node, client in self.get_parameters.items():
                names = ["object", *PLANNER_GATES] if node == self.planner else list(EXECUTOR_GATES)
                answer = self.call(client, GetParameters.Request(names=names), f"{node}/get_parameters")
                for name, value in zip(names, answer.values):
                    values[name if name == "object" else f"{node}.{name}"] = parameter_value_to_python(value)
            self.settings = values
        return self.settings

    def select(self, object_name: str) -> None:
        """Make ``object_name`` the object the planner node's clicks and services act on (set every
        time: someone may have changed it with ``ros2 param set`` since)."""
        self.read_settings()
        request = SetParameters.Request(parameters=[Parameter("object", value=object_name).to_parameter_msg()])
        (result,) = self.call(self.set_object, request, f"{self.planner}/set_parameters").results
        if not result.successful:
            raise ConsoleError(f"{self.planner} refused object {object_name!r}: {result.reason}")
        self.settings["object"] = object_name

    def changes(self, before: dict, what: str, wait: bool) -> dict:
        """What the database gained and lost since ``before`` (waiting for a change when ``wait``)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                after = stored(self.database)
            except KeypointDatabaseError as exc:
                raise ConsoleError(f"cannot read {self.database}: {exc}") from exc
            added = [after[k] for k in after if after[k] != before.get(k)]
            removed = [before[k] for k in before if k not in after]
            if added or removed or not wait or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        reply = {"message": what, "added": added, "removed": removed}
        self.get_logger().info(f"console: {json.dumps(reply)}")
        return reply

    # -- the console's backend -----------------------------------------------------------------

    def state(self) -> dict:
        settings = {}  # the page polls: ask only nodes that are up, so no poll waits for a timeout
        if self.settings or all(client.service_is_ready() for client in self.get_parameters.values()):
            try:
                settings = self.read_settings()
            except ConsoleError:
                pass
        return {"gripper": self.gripper, "planner": self.planner, "object": settings.get("object"),
                "gates": {k: v for k, v in settings.items() if k != "object"},
                "plan": self.latest["plan"], "result": self.latest["result"],
                "overlay_stamp": self.latest["overlay_stamp"]}

    def objects(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in stored(self.database).values():
            counts[record["object"]] = counts.get(record["object"], 0) + (record["role"] == "preference")
        return counts

    def overlay(self) -> tuple[bytes, int, int] | None:
        image = self.latest["overlay"]
        if image is None:
            return None
        if self.png_cache is None or self.png_cache[0] is not image:
            self.png_cache = (image, (encode_png(np.ascontiguousarray(image)), image.shape[1], image.shape[0]))
        return self.png_cache[1]

    def click(self, object_name: str, x: float, y: float) -> dict:
        self.select(object_name)
        before = stored(self.database)
        self.click_pub.publish(Point(x=float(x), y=float(y), z=0.0))
        if self.gripper == "parallel":  # a pair is stored on its second click
            self.axis_a_sent = not self.axis_a_sent
            if self.axis_a_sent:
                return self.changes(before, f"axis_a of {object_name!r} at ({x:g}, {y:g}); click axis_b", wait=False)
        reply = self.changes(before, f"click on {object_name!r} at ({x:g}, {y:g})", wait=True)
        if not reply["added"]:
            raise ConsoleError(f"{self.planner} stored nothing within {self.timeout_s:g} s (no complete camera "
                               f"frame yet? its log says why)")
        return reply

    def undo(self, object_name: str) -> dict:
        return self.database_action(object_name, "undo")

    def clear(self, object_name: str) -> dict:
        return self.database_action(object_name, "clear")

    def save(self, object_name: str) -> dict:
        return self.database_action(object_name, "save")

    def database_action(self, object_name: str, action: str) -> dict:
        if action not in self.triggers:
            raise ConsoleError(f"{self.planner} has no {action} (the {self.gripper} gripper's axis pair is "
                               f"replaced by the next two clicks)")
        self.select(object_name)
        before = stored(self.database)
        if action == "undo":
            self.axis_a_sent = False  # parallel: reset_axis forgets the half-done pair
        message = self.trigger(self.triggers[action], self.triggers[action].srv_name.lstrip("/"))
        return self.changes(before, message, wait=False)

    def pick(self) -> dict:
        message = self.trigger(self.execute, f"{EXECUTOR}/execute")
        self.get_logger().info(f"console: pick requested: {message}")
        return {"message": message, "added": [], "removed": []}

    def destroy_node(self) -> None:
        self.console.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros operator_console``."""
    return spin_node(OperatorConsoleNode, "operator_console", args)
