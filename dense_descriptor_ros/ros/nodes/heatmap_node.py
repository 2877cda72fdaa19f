"""heatmap_node: grasp-preference heatmaps, the best suction grasp, and annotation from RViz.

Subscribes (relative names, remap them): ``descriptors`` (``32FC<D>`` from descriptor_node),
``image`` (colour), ``depth`` (aligned, 16UC1 mm or 32FC1 m), ``camera_info``; for annotation
``/clicked_point`` (RViz Publish Point, in the camera or target frame) and
``heatmap/overlay_mouse_left`` (rqt_image_view clicks on the overlay, pixels).

Publishes for every frame with annotations: ``heatmap`` (32FC1, stride-8 grid or image size;
ranked and gated by the colour check of ``grasping.appearance``, see the ``appearance_*`` parameters),
``heatmap/overlay`` (rgb8), ``grasp/confidence`` (Float32), ``grasp`` (PoseStamped, only when
the grasp passes confidence, depth and workspace checks), ``grasp/candidates`` (PoseArray, the
top-k peaks) and ``grasp/markers``. With an empty database only the overlay (the plain image,
to click on) is published and a throttled warning says why.

Services (std_srvs/Trigger, private): ``~/undo`` (remove this session's last click),
``~/clear`` (remove the current object's preferences), ``~/save`` (export JSON next to the
database), ``~/reload`` (re-open the database, e.g. after ``ddr annotate``).
Parameters: see config/heatmap_node.yaml; ``object`` may be changed at run time.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float32
from visualization_msgs.msg import MarkerArray

from dense_descriptor_ros.grasping.annotation import descriptor_at
from dense_descriptor_ros.grasping.appearance import appearance_weights, stored_signatures
from dense_descriptor_ros.grasping.candidates import candidate_poses
from dense_descriptor_ros.grasping.heatmap import Heatmap, object_heatmaps
from dense_descriptor_ros.grasping.keypoint_db import EmptyDatabaseError, KeypointDatabaseError
from dense_descriptor_ros.grasping.overlay import heatmap_overlay
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.grasping.suction import SuctionConfig, suction_grasp
from dense_descriptor_ros.ros.clicks import ClickInput
from dense_descriptor_ros.ros.conversions import numpy_to_image
from dense_descriptor_ros.ros.database_services import DatabaseServices
from dense_descriptor_ros.ros.frame_input import ERROR_LOG_PERIOD_S, Frame
from dense_descriptor_ros.ros.grasp_inputs import declare_grasp_inputs
from dense_descriptor_ros.ros.grasp_messages import grasp_markers, pose_array, pose_stamped
from dense_descriptor_ros.ros.typed_parameters import declare
from dense_descriptor_ros.ros.spin import spin_node

OVERLAY_TOPIC = "heatmap/overlay"


def in_frame_of(pose: Pose, frame: Frame) -> Pose:
    """Grasp modules call the camera frame "camera"; name it after the images' frame."""
    return pose if frame.T_target_camera is not None else Pose(pose.position, pose.orientation, frame.camera_frame)


class HeatmapNode(Node):
    """Thin adapter: frames -> :func:`object_heatmaps` -> :func:`suction_grasp` -> messages."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("heatmap_node", **node_kwargs)
        declare(self, "object", "object", "object new clicks annotate", read_only=False)
        self.pick_objects = [name.strip() for name in declare(
            self, "pick_objects", "", "comma-separated objects to grasp ('' = all annotated)").split(",") if name.strip()]
        self.suction = SuctionConfig(
            min_confidence=declare(self, "min_confidence", SuctionConfig.min_confidence,
                                   "minimum heatmap value to grasp"),
            cup_radius=declare(self, "cup_radius", 0.0, "suction cup radius (m); > 0: grasp only where "
                                                        "the cup's footprint is one flat face"))
        self.full_resolution = declare(self, "heatmap_full_resolution", False,
                                       "publish the heatmap at image size (default: stride-8 grid)")
        self.top_k = declare(self, "candidates", 5, "grasp candidates published (top-k peaks)")
        self.candidate_distance = declare(self, "candidate_min_distance", 16.0, "pixels between candidates")
        self.alpha = declare(self, "overlay_alpha", 0.5, "heatmap opacity in the overlay")
        self.annotator = declare(self, "annotator", "operator", "name stored with each click")
        self.export_path = declare(self, "export_path", "", "JSON file ~/save writes ('' = next to database)")
        self.inputs = declare_grasp_inputs(self, self.on_frame)
        self.keypoints: dict[str, torch.Tensor] | None = None
        self.signatures: dict[str, np.ndarray] = {}
        self.session_clicks: list[int] = []
        self.processed = 0
        self.load_keypoints()

        self.heatmap_pub = self.create_publisher(Image, "heatmap", 1)
        self.overlay_pub = self.create_publisher(Image, OVERLAY_TOPIC, 1)
        self.grasp_pub = self.create_publisher(PoseStamped, "grasp", 1)
        self.candidates_pub = self.create_publisher(PoseArray, "grasp/candidates", 1)
        self.markers_pub = self.create_publisher(MarkerArray, "grasp/markers", 1)
        self.confidence_pub = self.create_publisher(Float32, "grasp/confidence", 1)
        self.clicks = ClickInput(self, self.inputs.frames, OVERLAY_TOPIC, self.on_click)
        self.db_services = DatabaseServices(self, self.inputs, self.export_path, self.load_keypoints)
        self.db_services.add("undo", self.undo)
        self.db_services.add("clear", self.clear)

    @property
    def object(self) -> str:
        return self.get_parameter("object").value

    # -- database ---------------------------------------------------------------------------

    def load_keypoints(self) -> str:
        """Cache the preference descriptors (an empty or unusable database leaves None, logged);
        returns how many are in use."""
        try:
            self.keypoints = self.inputs.database.preference_descriptors(self.inputs.model_hash, self.pick_objects or None)
            self.signatures = stored_signatures(self.inputs.database, self.keypoints, check=self.inputs.appearance)
        except EmptyDatabaseError as exc:
            self.keypoints = None
            self.get_logger().warning(str(exc), throttle_duration_sec=10.0)
        except KeypointDatabaseError as exc:  # another model's descriptors, unknown objects
            self.keypoints = None
            self.get_logger().error(str(exc))
        return f"{self.count()} preferences in use"

    def count(self) -> int:
        return 0 if self.keypoints is None else sum(len(k) for k in self.keypoints.values())

    # -- frames -----------------------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        if self.keypoints is None:
            self.get_logger().warning(f"no grasp preferences in {self.inputs.database_path}: click on "
                                      f"{OVERLAY_TOPIC} or use RViz Publish Point to annotate",
                                      throttle_duration_sec=10.0)
            self.overlay_pub.publish(numpy_to_image(frame.rgb, "rgb8", Image, header=frame.header))
            return
        try:
            maps = object_heatmaps(frame.descriptors, self.keypoints, frame.image_size, self.inputs.eta)
        except ValueError as exc:  # descriptors of another dimension than the stored ones
            self.get_logger().error(f"no heatmap for this frame: {exc}", throttle_duration_sec=ERROR_LOG_PERIOD_S)
            return
        weights = appearance_weights(frame.rgb, self.signatures, tuple(frame.descriptors.shape[-2:]),
                                     self.inputs.appearance, frame.depth)
        maps = {name: heatmap.with_weights(weights.get(name)) for name, heatmap in maps.items()}
        best = max(maps.values(), key=lambda heatmap: heatmap.ranking().best()[1])
        combined = Heatmap(torch.stack([m.ranking().grid for m in maps.values()]).amax(dim=0), frame.image_size)
        self.publish_heatmap(frame, combined)
        self.publish_grasp(frame, best)
        self.processed += 1

    def publish_heatmap(self, frame: Frame, heatmap: Heatmap) -> None:
        upsampled = heatmap.upsampled().numpy()
        values = upsampled if self.full_resolution else heatmap.grid.numpy()
        self.heatmap_pub.publish(numpy_to_image(values, "32FC1", Image, header=frame.header))
        overlay = heatmap_overlay(frame.rgb, upsampled, self.alpha)
        self.overlay_pub.publish(numpy_to_image(overlay, "rgb8", Image, header=frame.header))

    def publish_grasp(self, frame: Frame, heatmap: Heatmap) -> None:
        grasp = suction_grasp(heatmap, frame.depth, frame.intrinsics, T_target_camera=frame.T_target_camera,
                              target_frame=self.inputs.target_frame, workspace=self.inputs.workspace,
                              config=self.suction)
        self.confidence_pub.publish(Float32(data=float(grasp.confidence)))
        pixels, _ = heatmap.peaks(self.top_k, self.candidate_distance)
        candidates = [in_frame_of(pose, frame) for pose in candidate_poses(
            pixels, frame.depth, frame.intrinsics, T_target_camera=frame.T_target_camera,
            target_frame=self.inputs.target_frame, config=self.suction)]
        out_frame = self.inputs.target_frame or frame.camera_frame
        self.candidates_pub.publish(pose_array(candidates, frame.header, out_frame))
        pose = in_frame_of(grasp.pose_target, frame) if grasp.ok else None
        self.markers_pub.publish(grasp_markers(frame.header, out_frame, pose,
                                               [c.position for c in candidates]))
        if pose is None:
            self.get_logger().info(f"no grasp: {grasp.rejection}", throttle_duration_sec=ERROR_LOG_PERIOD_S)
            return
        self.grasp_pub.publish(pose_stamped(pose, frame.header))

    # -- annotation -------------------------------------------------------------------------

    def on_click(self, pixel: np.ndarray, frame: Frame) -> None:
        """Store the clicked pixel's descriptor (and the frame's image) for the current object."""
        try:
            descriptor = descriptor_at(frame.descriptors, pixel, frame.image_size)
            ids = self.inputs.database.add_preferences(self.object, frame.rgb, pixel[None], descriptor[None],
                                          self.inputs.model_hash, self.annotator)
        except (KeypointDatabaseError, ValueError) as exc:
            self.get_logger().error(f"click at ({pixel[0]:.1f}, {pixel[1]:.1f}) not stored: {exc}")
            return
        self.session_clicks.extend(ids)
        self.load_keypoints()
        self.get_logger().info(f"stored a grasp preference for {self.object!r} at ({pixel[0]:.1f}, "
                               f"{pixel[1]:.1f}); {self.count()} in use")

    def undo(self) -> str:
        if not self.session_clicks:
            raise ValueError("nothing to undo in this session")
        return f"removed {self.inputs.database.remove_preferences([self.session_clicks.pop()])} preference"

    def clear(self) -> str:
        self.session_clicks.clear()
        name = self.object
        return f"removed {self.inputs.database.clear_preferences(name)} preferences of {name!r}"


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros heatmap_node``."""
    return spin_node(HeatmapNode, "heatmap_node", args)
