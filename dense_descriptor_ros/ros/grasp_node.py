"""What the two grasp nodes share: inputs, a planner from the database, the plan per frame.

A grasp node is a planner (``grasping.planner``) behind topics: it declares the shared
parameters (:func:`declare_grasp_inputs`), builds its planner from the keypoint database (again
after every click and ``~/reload``), hands each complete frame to it and publishes the plan,
and on ``<plan_topic>`` (String, JSON) what it decided for that frame: the frame's stamp, the
object, the grasp or the refusal, confidence, width and how far the grasp moved for room.
Subclasses say which planner (``make_planner``), what a plan publishes (``publish``) and what a
click stores (``on_click``).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import String

from dense_descriptor_ros.grasping.keypoint_db import EmptyDatabaseError, KeypointDatabaseError
from dense_descriptor_ros.grasping.overlay import heatmap_overlay
from dense_descriptor_ros.grasping.planner import GraspPlan, GraspPlanner
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.ros.clicks import ClickInput
from dense_descriptor_ros.messages import numpy_to_image
from dense_descriptor_ros.ros.database_services import DatabaseServices
from dense_descriptor_ros.ros.frame_input import ERROR_LOG_PERIOD_S, StampedObservation
from dense_descriptor_ros.ros.grasp_inputs import declare_grasp_inputs
from dense_descriptor_ros.ros.typed_parameters import declare


def plan_summary(plan: GraspPlan, frame: StampedObservation) -> dict:
    """What a plan decided for ``frame``, as plain values; ``pixels`` are where in the image the
    grasp (or the refused one) lies: the cup's pixel, or the two keypoints of a parallel grasp."""
    pixels = getattr(plan.grasp, "pixels", None)
    pixels = plan.grasp.pixel[None] if pixels is None else pixels
    return {"stamp_ns": Time.from_msg(frame.header.stamp).nanoseconds, "object": plan.object, "ok": plan.ok,
            "detail": plan.detail, "confidence": plan.confidence, "width": plan.width,
            "shift": getattr(plan.grasp, "shift", None), "pixels": np.asarray(pixels, float).tolist()}


def in_frame_of(pose: Pose, frame: StampedObservation) -> Pose:
    """Grasp modules call the camera frame "camera"; name it after the images' frame."""
    return pose if frame.T_target_camera is not None else Pose(pose.position, pose.orientation, frame.camera_frame)


class GraspNode(Node):
    """Frames -> ``make_planner()``'s plan -> ``publish(frame, plan)``; the overlay topic
    ``overlay_topic`` shows the plan's heatmap and takes rqt_image_view clicks."""

    gripper: str  # the gripper kind its planner plans for
    overlay_topic: str
    plan_topic: str

    def __init__(self, name: str, **node_kwargs: Any) -> None:
        super().__init__(name, **node_kwargs)
        self.inputs = declare_grasp_inputs(self, self.on_frame, self.gripper)
        self.alpha = declare(self, "overlay_alpha", 0.5, "heatmap opacity in the overlay")
        self.annotator = declare(self, "annotator", "operator", "name stored with each click")
        export_path = declare(self, "export_path", "", "JSON file ~/save writes ('' = next to database)")
        self.planner: GraspPlanner | None = None
        self.unusable = ""  # why there is no planner
        self.processed = 0
        self.overlay_pub = self.create_publisher(Image, self.overlay_topic, 1)
        self.plan_pub = self.create_publisher(String, self.plan_topic, 10)
        self.clicks = ClickInput(self, self.inputs.frames, self.overlay_topic, self.on_click)
        self.db_services = DatabaseServices(self, self.inputs, export_path, self.load_planner)

    @property
    def object(self) -> str:
        """The object new clicks annotate (settable at run time)."""
        return self.get_parameter("object").value

    def make_planner(self) -> GraspPlanner:
        raise NotImplementedError

    def publish(self, frame: StampedObservation, plan: GraspPlan) -> None:
        raise NotImplementedError

    def on_click(self, pixel: np.ndarray, frame: StampedObservation) -> None:
        raise NotImplementedError

    def load_planner(self) -> str:
        """Plan with the database's annotations; none usable leaves no planner (logged)."""
        try:
            self.planner = self.make_planner()
            return f"{self.planner.kind} annotations of {', '.join(map(repr, self.planner.objects))} in use"
        except EmptyDatabaseError as exc:
            self.unusable = f"{exc}: click on {self.overlay_topic} or use RViz Publish Point"
            self.get_logger().warning(str(exc), throttle_duration_sec=10.0)
        except KeypointDatabaseError as exc:  # another model's descriptors, unknown objects, damage
            self.unusable = str(exc)
            self.get_logger().error(str(exc))
        self.planner = None
        return "no annotations in use"

    def on_frame(self, frame: StampedObservation) -> None:
        if self.planner is None:  # why: nothing annotated, or the database cannot be used
            self.get_logger().warning(f"no grasp planned: {self.unusable}", throttle_duration_sec=10.0)
            self.overlay_pub.publish(numpy_to_image(frame.rgb, "rgb8", Image, header=frame.header))
            return
        try:
            plan = self.planner.plan(frame)
        except ValueError as exc:  # descriptors of another dimension than the stored ones
            self.get_logger().error(f"no plan for this frame: {exc}", throttle_duration_sec=ERROR_LOG_PERIOD_S)
            return
        self.publish(frame, plan)
        self.plan_pub.publish(String(data=json.dumps(plan_summary(plan, frame))))
        self.processed += 1
        if not plan.ok:
            self.get_logger().info(f"no grasp: {plan.grasp.rejection}", throttle_duration_sec=ERROR_LOG_PERIOD_S)

    def publish_overlay(self, frame: StampedObservation, heatmap: np.ndarray) -> None:
        """The colour image under ``heatmap (H, W)``, with the frame's header."""
        overlay = heatmap_overlay(frame.rgb, heatmap, self.alpha)
        self.overlay_pub.publish(numpy_to_image(overlay, "rgb8", Image, header=frame.header))
