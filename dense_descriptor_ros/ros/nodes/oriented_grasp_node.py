"""oriented_grasp_node: the two-keypoint parallel grasp (paper IV-E) as a 6D pose plus width.

Subscribes the same camera streams as heatmap_node (``descriptors``, ``image``, ``depth``,
``camera_info``). Annotation: two clicks in sequence, axis_a then axis_b, on
``oriented_grasp/overlay`` in rqt_image_view (``oriented_grasp/overlay_mouse_left``) or with
RViz's Publish Point (``/clicked_point``); the pair is stored for the current ``object`` once
the second click arrives (both pixels in the first click's image). ``~/reset_axis`` forgets
a half-done pair; ``~/save`` and ``~/reload`` as in heatmap_node.

Publishes ``oriented_grasp/overlay`` (rgb8, both keypoint heatmaps), ``oriented_grasp/confidence``
(Float32, the weaker keypoint's value), and when the grasp passes its checks
``oriented_grasp`` (PoseStamped: z approach, y closing axis) with ``oriented_grasp/width``
(Float32, metres) and ``oriented_grasp/markers``. Keypoint matches are ranked and gated by the
colour check of ``grasping.appearance`` as well (``appearance_*`` parameters; both power and
min_similarity 0: descriptors alone).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float32
from visualization_msgs.msg import MarkerArray

from dense_descriptor_ros.geometry.camera import transform_points
from dense_descriptor_ros.grasping.annotation import AxisClicks, descriptor_at
from dense_descriptor_ros.grasping.appearance import appearance_weights, stored_signatures
from dense_descriptor_ros.grasping.heatmap import Heatmap, keypoint_heatmaps
from dense_descriptor_ros.grasping.keypoint_db import EmptyDatabaseError, KeypointDatabaseError
from dense_descriptor_ros.grasping.oriented import (ParallelGripperConfig, annotated_face_width, finger_points,
                                                    oriented_grasp)
from dense_descriptor_ros.grasping.overlay import heatmap_overlay
from dense_descriptor_ros.ros.clicks import ClickInput
from dense_descriptor_ros.ros.conversions import numpy_to_image
from dense_descriptor_ros.ros.database_services import DatabaseServices
from dense_descriptor_ros.ros.frame_input import ERROR_LOG_PERIOD_S, Frame
from dense_descriptor_ros.ros.grasp_inputs import declare_grasp_inputs
from dense_descriptor_ros.ros.grasp_messages import grasp_markers, pose_stamped
from dense_descriptor_ros.ros.nodes.heatmap_node import in_frame_of
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare

OVERLAY_TOPIC = "oriented_grasp/overlay"


class OrientedGraspNode(Node):
    """Thin adapter: frames -> :func:`oriented_grasp` -> PoseStamped + width."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("oriented_grasp_node", **node_kwargs)
        declare(self, "object", "object", "object to grasp and to annotate", read_only=False)
        self.inputs = declare_grasp_inputs(self, self.on_frame)
        defaults = ParallelGripperConfig()  # the gripper body and search the library was measured with
        self.config = ParallelGripperConfig(
            max_opening=declare(self, "max_opening", 0.085, "gripper maximum opening (m)"),
            margin=declare(self, "margin", 0.01, "added to the keypoints' distance where it sets the width "
                           "(no face fitted, m)"),
            min_confidence=declare(self, "min_confidence", ParallelGripperConfig.min_confidence,
                                   "minimum per-keypoint heatmap value"),
            fit_face=declare(self, "fit_face", True, "close across the flat face outlined in depth at the "
                             "keypoints (boxes); false: the keypoints alone set axis and width"),
            face_tolerance=declare(self, "face_tolerance", 0.004, "depth off a face's plane that still belongs "
                                   "to it (m): above the camera's depth noise, below steps between products"),
            finger_depth=declare(self, "finger_depth", 0.02, "fingertips this far below the surface: the gripper "
                                 "is checked for room in depth down to there (the executor's; 0: no check)"),
            finger_thickness=declare(self, "finger_thickness", 0.008, "finger size along the closing axis (m)"),
            finger_width=declare(self, "finger_width", 0.02, "finger size across the closing axis (m)"),
            finger_length=declare(self, "finger_length", defaults.finger_length, "fingertip to palm (m)"),
            palm_length=declare(self, "palm_length", defaults.palm_length, "palm size across the closing axis (m)"),
            palm_width=declare(self, "palm_width", defaults.palm_width, "palm size along the closing axis (m)"),
            palm_height=declare(self, "palm_height", defaults.palm_height, "palm size along the approach (m)"),
            approach=declare(self, "approach_distance", defaults.approach,
                             "the executor's straight path in, checked too (m)"),
            open_extra=declare(self, "open_margin", 0.01, "the executor opens this much wider than the grasp (m)"),
            safety=declare(self, "safety_margin", defaults.safety, "the gripper is checked this much larger (m)"),
            max_shift=declare(self, "max_shift", defaults.max_shift,
                              "how far a grasp may move along the face to find room (m)"),
            width_tolerance=declare(self, "width_tolerance", defaults.width_tolerance,
                                    "a face this much wider or narrower than the annotated one is refused (m)"),
            eta=self.inputs.eta)
        self.alpha = declare(self, "overlay_alpha", 0.5, "heatmap opacity in the overlay")
        self.annotator = declare(self, "annotator", "operator", "name stored with each click")
        export_path = declare(self, "export_path", "", "JSON file ~/save writes ('' = next to database)")
        self.axis: torch.Tensor | None = None
        self.axis_width: float | None = None  # of the annotated face across the axis, where measured
        self.signature: dict[str, np.ndarray] = {}  # the colours halfway between its axis keypoints
        self.pending = AxisClicks()
        self.processed = 0

        self.overlay_pub = self.create_publisher(Image, OVERLAY_TOPIC, 1)
        self.grasp_pub = self.create_publisher(PoseStamped, "oriented_grasp", 1)
        self.width_pub = self.create_publisher(Float32, "oriented_grasp/width", 1)
        self.confidence_pub = self.create_publisher(Float32, "oriented_grasp/confidence", 1)
        self.markers_pub = self.create_publisher(MarkerArray, "oriented_grasp/markers", 1)
        self.clicks = ClickInput(self, self.inputs.frames, OVERLAY_TOPIC, self.on_click)
        self.db_services = DatabaseServices(self, self.inputs, export_path, self.load_axis)
        self.db_services.add("reset_axis", self.reset_axis)
        self.load_axis()

    @property
    def object(self) -> str:
        return self.get_parameter("object").value

    def load_axis(self) -> str:
        """Cache the current object's two axis descriptors ``(2, D)``, or None (logged)."""
        try:
            self.axis = self.inputs.database.axis_descriptors(self.inputs.model_hash, self.object)
            self.axis_width = self.inputs.database.axis_face_width(self.object)
            self.signature = stored_signatures(self.inputs.database, [self.object], axis=True,
                                               check=self.inputs.appearance)
            return f"axis keypoints of {self.object!r} in use"
        except EmptyDatabaseError as exc:
            self.axis = None
            self.get_logger().warning(str(exc), throttle_duration_sec=10.0)
        except KeypointDatabaseError as exc:
            self.axis = None
            self.get_logger().error(str(exc))
        return f"no axis keypoints of {self.object!r} in use"

    # -- frames -----------------------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        if self.axis is None:
            self.get_logger().warning(f"no axis keypoints for {self.object!r}: click axis_a then axis_b on "
                                      f"{OVERLAY_TOPIC}", throttle_duration_sec=10.0)
            self.overlay_pub.publish(numpy_to_image(frame.rgb, "rgb8", Image, header=frame.header))
            return
        try:
            weights = appearance_weights(frame.rgb, self.signature, tuple(frame.descriptors.shape[-2:]),
                                         self.inputs.appearance, frame.depth).get(self.object)
            maps = keypoint_heatmaps(frame.descriptors, self.axis, self.config.eta)
            grasp = oriented_grasp(frame.descriptors, self.axis, frame.depth, frame.intrinsics,
                                   T_target_camera=frame.T_target_camera, target_frame=self.inputs.target_frame,
                                   workspace=self.inputs.workspace, config=self.config, appearance=weights,
                                   annotated_width=self.axis_width)
        except ValueError as exc:
            self.get_logger().error(f"no oriented grasp for this frame: {exc}",
                                    throttle_duration_sec=ERROR_LOG_PERIOD_S)
            return
        overlay = heatmap_overlay(frame.rgb, Heatmap(maps.amax(dim=0), frame.image_size).upsampled().numpy(),
                                  self.alpha)
        self.overlay_pub.publish(numpy_to_image(overlay, "rgb8", Image, header=frame.header))
        self.confidence_pub.publish(Float32(data=float(grasp.confidences.min())))
        self.processed += 1
        if not grasp.ok:
            self.get_logger().info(f"no oriented grasp: {grasp.rejection}", throttle_duration_sec=ERROR_LOG_PERIOD_S)
            return
        pose = in_frame_of(grasp.pose_target, frame)
        points = grasp.points_camera
        if frame.T_target_camera is not None:
            points = transform_points(frame.T_target_camera, points)
        self.width_pub.publish(Float32(data=float(grasp.width)))
        self.grasp_pub.publish(pose_stamped(pose, frame.header))
        self.markers_pub.publish(grasp_markers(frame.header, pose.frame, pose, keypoints=list(points),
                                               fingers=list(finger_points(pose, grasp.width))))

    # -- annotation -------------------------------------------------------------------------

    def on_click(self, pixel: np.ndarray, frame: Frame) -> None:
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
                                                    self.inputs.model_hash, self.annotator, face_width=width)
        except (KeypointDatabaseError, ValueError) as exc:
            self.get_logger().error(f"axis keypoints not stored: {exc}")
            return
        self.get_logger().info(self.load_axis())

    def reset_axis(self) -> str:
        self.pending.reset()
        return "pending axis click forgotten; next click is axis_a"


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros oriented_grasp_node``."""
    return spin_node(OrientedGraspNode, "oriented_grasp_node", args)
