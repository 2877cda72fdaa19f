"""heatmap_node: grasp-preference heatmaps, the best suction grasp, and annotation from RViz.

Subscribes (relative names, remap them): ``descriptors`` (``32FC<D>`` from descriptor_node),
``image`` (colour), ``depth`` (aligned, 16UC1 mm or 32FC1 m), ``camera_info``; for annotation
``/clicked_point`` (RViz Publish Point, in the camera or target frame) and
``heatmap/overlay_mouse_left`` (rqt_image_view clicks on the overlay, pixels).

Every frame goes to the suction :class:`~dense_descriptor_ros.grasping.planner.SuctionPlanner`
(the planner ``ddr sim pick`` measures: the annotated objects in turn, best first). Publishes
for every frame with annotations: ``heatmap`` (32FC1, stride-8 grid or image size, every
object's map ranked by the colour check, see the ``appearance_*`` parameters), ``heatmap/overlay``
(rgb8), ``grasp/confidence`` (Float32), ``grasp`` (PoseStamped, only when the grasp passes
confidence, depth and workspace checks), ``grasp/candidates`` (PoseArray, the top-k peaks of the
chosen object's map) and ``grasp/markers``. With an empty database only the overlay (the plain image,
to click on) is published and a throttled warning says why.

Services (std_srvs/Trigger, private): ``~/undo`` (remove this session's last click of the current object),
``~/clear`` (remove the current object's preferences), ``~/save`` (export JSON next to the
database), ``~/reload`` (re-open the database, e.g. after ``ddr annotate``).
Parameters: see config/heatmap_node.yaml, and config/cell.yaml for the camera pose, frames and
workspace (the cell's, shared with oriented_grasp_node and the executor); ``object`` may be
changed at run time.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import PoseArray, PoseStamped
from sensor_msgs.msg import Image
from std_msgs.msg import Float32
from visualization_msgs.msg import MarkerArray

from dense_descriptor_ros.grasping.annotation import descriptor_at
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabaseError
from dense_descriptor_ros.grasping.planner import GraspPlan, SuctionPlanner
from dense_descriptor_ros.messages import numpy_to_image
from dense_descriptor_ros.ros.frame_input import StampedObservation
from dense_descriptor_ros.ros.grasp_messages import grasp_markers, pose_array, pose_stamped
from dense_descriptor_ros.ros.grasp_node import GraspNode, in_frame_of
from dense_descriptor_ros.ros.gripper_parameters import declare_suction_config
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare


class HeatmapNode(GraspNode):
    """Thin adapter: frames -> :class:`SuctionPlanner` -> messages."""

    gripper = SuctionPlanner.kind
    overlay_topic = "heatmap/overlay"
    plan_topic = "grasp/plan"

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("heatmap_node", **node_kwargs)
        self.suction = declare_suction_config(self)
        self.full_resolution = declare(self, "heatmap_full_resolution", False,
                                       "publish the heatmap at image size (default: stride-8 grid)")
        self.top_k = declare(self, "candidates", 5, "grasp candidates published (top-k peaks)")
        self.candidate_distance = declare(self, "candidate_min_distance", 16.0, "pixels between candidates")
        self.session_clicks: dict[str, list[int]] = {}  # object -> this session's preference ids
        self.heatmap_pub = self.create_publisher(Image, "heatmap", 1)
        self.grasp_pub = self.create_publisher(PoseStamped, "grasp", 1)
        self.candidates_pub = self.create_publisher(PoseArray, "grasp/candidates", 1)
        self.markers_pub = self.create_publisher(MarkerArray, "grasp/markers", 1)
        self.confidence_pub = self.create_publisher(Float32, "grasp/confidence", 1)
        self.db_services.add("undo", self.undo)
        self.db_services.add("clear", self.clear)
        self.load_planner()

    def make_planner(self) -> SuctionPlanner:
        return SuctionPlanner.from_database(self.inputs.database, self.inputs.model.hash, self.inputs.settings,
                                            self.suction, self.inputs.pick_objects)

    def count(self) -> int:
        return 0 if self.planner is None else sum(len(k) for k in self.planner.keypoints.values())

    def publish(self, frame: StampedObservation, plan: GraspPlan) -> None:
        heatmap = plan.combined_heatmap()
        upsampled = heatmap.upsampled().numpy()
        values = upsampled if self.full_resolution else heatmap.grid.numpy()
        self.heatmap_pub.publish(numpy_to_image(values, "32FC1", Image, header=frame.header))
        self.publish_overlay(frame, upsampled)
        self.confidence_pub.publish(Float32(data=plan.confidence))
        candidates = [in_frame_of(pose, frame)
                      for pose in self.planner.candidates(plan, frame, self.top_k, self.candidate_distance)]
        out_frame = self.inputs.settings.target_frame or frame.camera_frame
        self.candidates_pub.publish(pose_array(candidates, frame.header, out_frame))
        pose = in_frame_of(plan.pose, frame) if plan.ok else None
        self.markers_pub.publish(grasp_markers(frame.header, out_frame, pose, [c.position for c in candidates],
                                               label=f"{plan.object} {plan.confidence:.2f}"))
        if pose is not None:
            self.grasp_pub.publish(pose_stamped(pose, frame.header))

    def on_click(self, pixel: np.ndarray, frame: StampedObservation) -> None:
        """Store the clicked pixel's descriptor (and the frame's image) for the current object."""
        try:
            descriptor = descriptor_at(frame.descriptors, pixel, frame.image_size)
            ids = self.inputs.database.add_preferences(self.object, frame.rgb, pixel[None], descriptor[None],
                                                       self.inputs.model.hash, self.annotator)
        except (KeypointDatabaseError, ValueError) as exc:
            self.get_logger().error(f"click at ({pixel[0]:.1f}, {pixel[1]:.1f}) not stored: {exc}")
            return
        self.session_clicks.setdefault(self.object, []).extend(ids)
        self.load_planner()
        self.get_logger().info(f"stored a grasp preference for {self.object!r} at ({pixel[0]:.1f}, "
                               f"{pixel[1]:.1f}); {self.count()} in use")

    def undo(self) -> str:
        name = self.object
        clicks = self.session_clicks.get(name)
        if not clicks:
            raise ValueError(f"nothing of {name!r} to undo in this session")
        return f"removed {self.inputs.database.remove_preferences([clicks.pop()])} preference of {name!r}"

    def clear(self) -> str:
        name = self.object
        self.session_clicks.pop(name, None)
        return f"removed {self.inputs.database.clear_preferences(name)} preferences of {name!r}"


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros heatmap_node``."""
    return spin_node(HeatmapNode, "heatmap_node", args)
