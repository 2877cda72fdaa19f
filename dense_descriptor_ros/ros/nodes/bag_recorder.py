"""bag_recorder: records the camera topics into a rosbag2 (mcap) without ``ros2 bag``.

rosbag2 and ``ros2 bag`` are not on PyPI, so the two-command install cannot record with them;
this node writes the same rosbag2 with ``rosbags``, which ``ddr bag extract`` and ``bag_replay``
read. Subscribes (raw, stored as received, stamped with the receive time as ``ros2 bag`` does):
``camera/camera/color/image_raw``, ``camera/camera/color/camera_info``,
``camera/camera/aligned_depth_to_color/image_raw`` and its ``camera_info`` (remap for other
layouts). On shutdown (SIGINT, SIGTERM) the bag is closed, which writes its index and
``metadata.yaml``; a bag that is never closed cannot be read (``spin_node`` keeps a second
Ctrl-C from interrupting it).

Parameters: output (bag directory to create, required), storage (mcap | sqlite3),
queue_depth (reliable subscription depth per topic).
"""
from __future__ import annotations

from functools import partial
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image

from dense_descriptor_ros.bags.recorder import BagRecorder
from dense_descriptor_ros.ros.camera_publisher import REALSENSE_TOPICS
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare

TOPICS = ((REALSENSE_TOPICS.color, Image), (REALSENSE_TOPICS.color_info, CameraInfo),
          (REALSENSE_TOPICS.depth, Image), (REALSENSE_TOPICS.depth_info, CameraInfo))
LOG_PERIOD_S = 10.0


def rosbag_type(message_class: type) -> str:
    """``sensor_msgs.msg.Image`` -> ``sensor_msgs/msg/Image``, the name rosbag2 stores."""
    return f"{message_class.__module__.split('.')[0]}/msg/{message_class.__name__}"


class BagRecorderNode(Node):
    """Raw subscriptions -> :class:`BagRecorder`; the bag is closed in ``destroy_node``."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("bag_recorder", **node_kwargs)
        output = declare(self, "output", "", "bag directory to create (must not exist)")
        storage = declare(self, "storage", "mcap", "mcap or sqlite3")
        depth = declare(self, "queue_depth", 30, "reliable subscription depth per topic")
        if not output:
            raise ValueError("output is required: the bag directory to create, e.g. bags/shift1")
        self.bag = BagRecorder(output, storage)
        qos = QoSProfile(depth=depth)  # reliable, like the camera publishers: a recording should not drop
        for topic, message_class in TOPICS:
            full_name = self.resolve_topic_name(topic)  # with namespace and remapping, as ros2 bag names it
            self.bag.add_topic(full_name, rosbag_type(message_class))
            self.create_subscription(message_class, topic, partial(self.on_message, full_name), qos, raw=True)
        self.color = self.resolve_topic_name(REALSENSE_TOPICS.color)
        self.create_timer(LOG_PERIOD_S, self.log_progress)
        self.get_logger().info(f"recording {', '.join(self.bag.connections)} into {output} ({storage})")

    def on_message(self, topic: str, data: bytes) -> None:
        self.bag.write(topic, self.get_clock().now().nanoseconds, data)

    def log_progress(self) -> None:
        self.get_logger().info(f"{self.bag.counts[self.color]} colour frames recorded into {self.bag.path}")

    def destroy_node(self) -> None:
        counts = self.bag.close()
        self.get_logger().info(f"closed {self.bag.path}: " + ", ".join(f"{n} on {t}" for t, n in counts.items()))
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros bag_recorder --ros-args -p output:=bags/shift1``."""
    return spin_node(BagRecorderNode, "bag_recorder", args)
