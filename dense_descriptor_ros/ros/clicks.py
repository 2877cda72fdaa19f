"""Operator clicks, from RViz and from rqt_image_view, as pixels of the latest camera frame.

RViz's *Publish Point* tool publishes ``/clicked_point`` (geometry_msgs/PointStamped, in RViz's
fixed frame: the camera or the target frame); rqt_image_view publishes ``<image topic>_mouse_left``
(geometry_msgs/Point, x/y in image pixels) when one clicks on the displayed image. Both end as
``on_click(pixel (2,), frame)``; unusable clicks (no frame yet, unknown frame, behind the camera,
outside the image) are logged and dropped.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from geometry_msgs.msg import Point, PointStamped
from rclpy.node import Node

from dense_descriptor_ros.grasping.annotation import ClickError, pixel_from_point, pixel_in_image, point_in_camera
from dense_descriptor_ros.ros.frame_input import FrameInput, StampedObservation

CLICKED_POINT_TOPIC = "/clicked_point"


class ClickInput:
    """Subscribes the two click topics of ``node``; ``image_topic`` is the clickable overlay."""

    def __init__(self, node: Node, frames: FrameInput, image_topic: str,
                 on_click: Callable[[np.ndarray, StampedObservation], None]) -> None:
        self.node, self.frames, self.on_click = node, frames, on_click
        self.rejected = 0
        self.point_sub = node.create_subscription(PointStamped, CLICKED_POINT_TOPIC, self._on_point, 10)
        self.pixel_sub = node.create_subscription(Point, f"{image_topic}_mouse_left", self._on_pixel, 10)

    def _frame(self) -> StampedObservation:
        if self.frames.latest is None:
            raise ClickError("no complete camera frame (descriptors, image, depth, camera_info) yet")
        return self.frames.latest

    def _deliver(self, resolve: Callable[[StampedObservation], np.ndarray], source: str) -> None:
        try:
            frame = self._frame()
            pixel = resolve(frame)
        except (ClickError, RuntimeError) as exc:
            self.rejected += 1
            self.node.get_logger().warning(f"ignoring {source} click: {exc}")
            return
        self.on_click(pixel, frame)

    def _on_point(self, msg: PointStamped) -> None:
        def resolve(frame: StampedObservation) -> np.ndarray:
            point = point_in_camera(np.array([msg.point.x, msg.point.y, msg.point.z]), msg.header.frame_id,
                                    frame.camera_frame, frame.T_target_camera, self.frames.target_frame)
            return pixel_from_point(point, frame.intrinsics)
        self._deliver(resolve, CLICKED_POINT_TOPIC)

    def _on_pixel(self, msg: Point) -> None:
        def resolve(frame: StampedObservation) -> np.ndarray:
            return pixel_in_image(np.array([msg.x, msg.y]), frame.intrinsics.width, frame.intrinsics.height)
        self._deliver(resolve, self.pixel_sub.topic_name)
