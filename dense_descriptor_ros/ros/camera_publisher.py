"""Publishes CameraFrames as colour Image + depth Image + CameraInfo, as camera drivers do.

Shared by every camera node so that all of them publish the same way: frames are stamped with
the node's clock at publish time (the descriptor node's stale-frame check compares against it),
colour as ``rgb8``, depth as ``16UC1`` millimetres (RealSense) or ``32FC1`` metres (Zivid), one
CameraInfo per image topic, all in the frame's optical frame. Each set published is counted on
``/diagnostics`` (``ros.diagnostics``) under the colour topic: rate against the camera's own,
latency (stamp to publish) against one frame period, and the frames the node reports dropped or
malformed.
"""
from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from dense_descriptor_ros.cameras.frames import CameraFrame
from dense_descriptor_ros.messages import intrinsics_to_camera_info, numpy_to_image
from dense_descriptor_ros.ros.diagnostics import FrameDiagnostics


@dataclass(frozen=True)
class CameraTopics:
    """Topic names of one driver layout (relative names, remap in launch)."""

    color: str
    color_info: str
    depth: str
    depth_info: str


REALSENSE_TOPICS = CameraTopics("camera/camera/color/image_raw", "camera/camera/color/camera_info",
                                "camera/camera/aligned_depth_to_color/image_raw",
                                "camera/camera/aligned_depth_to_color/camera_info")
ZIVID_TOPICS = CameraTopics("color/image_color", "color/camera_info", "depth/image", "depth/camera_info")
DEPTH_ENCODINGS = ("16UC1", "32FC1")


class CameraPublisher:
    """Four publishers on ``node``; ``publish(frame)`` sends one synchronised set.

    ``rate_hz``: the frames per second the camera should deliver (0: on demand, not checked);
    ``hardware_id``: the device on ``/diagnostics`` (a serial, a recording).
    """

    def __init__(self, node: Node, topics: CameraTopics, depth_encoding: str, rate_hz: float = 0.0,
                 hardware_id: str = "") -> None:
        if depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth encoding must be one of {DEPTH_ENCODINGS}, got {depth_encoding!r}")
        qos = QoSProfile(depth=2)  # reliable, like realsense-ros: matches reliable and best-effort readers
        self.node, self.topics, self.depth_encoding = node, topics, depth_encoding
        self.color = node.create_publisher(Image, topics.color, qos)
        self.color_info = node.create_publisher(CameraInfo, topics.color_info, qos)
        self.depth = node.create_publisher(Image, topics.depth, qos)
        self.depth_info = node.create_publisher(CameraInfo, topics.depth_info, qos)
        self.diagnostics = FrameDiagnostics(node, topics.color, hardware_id, rate_hz,
                                            1.0 / rate_hz if rate_hz > 0 else 0.0)

    def publish(self, frame: CameraFrame) -> None:
        header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=frame.frame_id)
        depth = frame.depth_millimetres() if self.depth_encoding == "16UC1" else frame.depth
        info = intrinsics_to_camera_info(frame.intrinsics, CameraInfo, header=header)
        self.color.publish(numpy_to_image(frame.rgb, "rgb8", Image, header=header))
        self.color_info.publish(info)
        self.depth.publish(numpy_to_image(depth, self.depth_encoding, Image, header=header))
        self.depth_info.publish(info)
        self.diagnostics.published(header)
