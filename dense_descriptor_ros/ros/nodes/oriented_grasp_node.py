"""oriented_grasp_node: the two-keypoint parallel grasp (paper IV-E) as a 6D pose plus width.

Every frame goes to the :class:`~dense_descriptor_ros.grasping.planner.ParallelPlanner` (the
planner ``ddr sim pick`` measures): the objects of ``pick_objects`` ('' = every object with axis
keypoints) in turn, best found first, until one grants a grasp. Subscribes the same camera streams as heatmap_node (``descriptors``, ``image``, ``depth``,
``camera_info``). Annotation: two clicks in sequence, axis_a then axis_b, on
``oriented_grasp/overlay`` in rqt_image_view (``oriented_grasp/overlay_mouse_left``) or with
RViz's Publish Point (``/clicked_point``); the pair is stored for the current ``object`` once
the second click arrives (both pixels in the first click's image). ``~/reset_axis`` forgets
a half-done pair; ``~/save`` and ``~/reload`` as in heatmap_node.

Publishes ``oriented_grasp/overlay`` (rgb8, the chosen object's keypoint heatmap), ``oriented_grasp/confidence``
(Float32, the weaker keypoint's value), and when the grasp passes its checks
``oriented_grasp`` (PoseStamped: z approach, y closing axis) with ``oriented_grasp/width``
(Float64, metres) and ``oriented_grasp/markers``. Keypoint matches are ranked and gated by the
colour check of ``grasping.appearance`` as well (``appearance_*`` parameters; both power and
min_similarity 0: descriptors alone).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from std_msgs.msg import Float32, Float64
from visualization_msgs.msg import MarkerArray

from dense_descriptor_ros.geometry.camera import transform_points
from dense_descriptor_ros.grasping.annotation import AxisClicks, descriptor_at
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabaseError
from dense_descriptor_ros.grasping.oriented import annotated_face_width, finger_points
from dense_descriptor_ros.grasping.planner import GraspPlan, ParallelPlanner
from dense_descriptor_ros.ros.frame_input import StampedObservation
from dense_descriptor_ros.ros.grasp_messages import grasp_markers, pose_stamped
from dense_descriptor_ros.ros.grasp_node import GraspNode, in_frame_of
from dense_descriptor_ros.ros.gripper_parameters import declare_parallel_config
from dense_descriptor_ros.ros.spin import spin_node


class OrientedGraspNode(GraspNode):
    """Thin adapter: frames -> :class:`ParallelPlanner` -> PoseStamped + width."""

    gripper = ParallelPlanner.kind
    overlay_topic = "oriented_grasp/overlay"
    plan_topic = "oriented_grasp/plan"

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("oriented_grasp_node", **node_kwargs)
        self.config = declare_parallel_config(self)
        self.pending = AxisClicks()
        self.grasp_pub = self.create_publisher(PoseStamped, "oriented_grasp", 1)
        self.width_pub = self.create_publisher(Float64, "oriented_grasp/width", 1)
        self.confidence_pub = self.create_publisher(Float32, "oriented_grasp/confidence", 1)
        self.markers_pub = self.create_publisher(MarkerArray, "oriented_grasp/markers", 1)
        self.db_services.add("reset_axis", self.reset_axis)
        self.load_planner()

    def make_planner(self) -> ParallelPlanner:
        return ParallelPlanner.from_database(self.inputs.database, self.inputs.model.hash, self.inputs.settings,
                                             self.config, self.inputs.pick_objects)

    def publish(self, frame: StampedObservation, plan: GraspPlan) -> None:
        self.publish_overlay(frame, plan.heatmap.ranking().upsampled().numpy())
        self.confidence_pub.publish(Float32(data=plan.confidence))
        if not plan.ok:
            return
        pose = in_frame_of(plan.pose, frame)
        points = plan.grasp.points_camera
        if frame.T_target_camera is not None:
            points = transform_points(frame.T_target_camera, points)
        self.width_pub.publish(Float64(data=float(plan.width)))
        self.grasp_pub.publish(pose_stamped(pose, frame.header))
        self.markers_pub.publish(grasp_markers(frame.header, pose.frame, pose, keypoints=list(points),
                                               fingers=list(finger_points(pose, plan.width)),
                                               label=f"{plan.object} {plan.confidence:.2f}"))

    def on_click(self, pixel: np.ndarray, frame: StampedObservation) -> None:
        role = self.pending.next_role
        done = self.pending.add(pixel, frame)
        self.get_logger().info(f"{role} of {self.object!r} at ({pixel[0]:.1f}, {pixel[1]:.1f})")
        if done is None:
            return
        pixels, first = done
        try:
            descriptors = np.stack([descriptor_at(first.descriptors, p, first.image_size) for p in pixels])
            width = annotated_face_width(pixels, first.depth, first.intrinsics, self.config)
            self.inputs.database.set_axis_keypoints(self.object, first.rgb, pixels, descriptors,
                                                    self.inputs.model.hash, self.annotator, face_width=width)
        except (KeypointDatabaseError, ValueError) as exc:
            self.get_logger().error(f"axis keypoints not stored: {exc}")
            return
        self.get_logger().info(self.load_planner())

    def reset_axis(self) -> str:
        self.pending.reset()
        return "pending axis click forgotten; next click is axis_a"


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros oriented_grasp_node``."""
    return spin_node(OrientedGraspNode, "oriented_grasp_node", args)
