"""bag_replay: replays colour + aligned depth + camera_info from a rosbag2 as a live camera.

Reads the bag with ``rosbags`` (sqlite3 or mcap) and republishes each frame, restamped with the
current time, in the RealSense topic layout at ``rate`` Hz; so a recorded training bag drives
the same downstream graph as the real camera. ``/diagnostics`` reports the replay rate against
``rate`` and counts unreadable stretches of the bag as dropped frames.

Parameters (read at start-up): bag_path (required), rate (Hz), loop, and the topics to read
from the bag: color_topic, depth_topic, info_topic (default: the RealSense ones).
"""
from __future__ import annotations

import itertools
from typing import Any, Iterator

from rclpy.node import Node

from dense_descriptor_ros.cameras.bag_replay import REALSENSE_TOPICS as BAG_TOPICS
from dense_descriptor_ros.bags.extract import BagError
from dense_descriptor_ros.cameras.bag_replay import replay_frames
from dense_descriptor_ros.cameras.frames import CameraFrame
from dense_descriptor_ros.ros.camera_publisher import REALSENSE_TOPICS, CameraPublisher
from dense_descriptor_ros.ros.typed_parameters import declare
from dense_descriptor_ros.ros.spin import spin_node


class BagReplayNode(Node):
    """Timer -> next frame of the bag -> publish; at the end stop, or restart with ``loop``."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("bag_replay", **node_kwargs)
        self.bag_path = declare(self, "bag_path", "", "rosbag2 directory or .db3/.mcap file")
        rate = declare(self, "rate", 5.0, "frames per second")
        self.loop = declare(self, "loop", False, "restart at the end of the bag")
        self.topics = tuple(declare(self, name, default, f"{name.split('_')[0]} topic in the bag")
                            for name, default in zip(("color_topic", "depth_topic", "info_topic"), BAG_TOPICS))
        if not self.bag_path:
            raise ValueError("parameter bag_path is required (a rosbag2 with colour, aligned depth and camera_info)")
        if rate <= 0:
            raise ValueError(f"rate must be > 0 frames per second, got {rate}")
        self.frames = self._open()
        self.finished = False
        self.publisher = CameraPublisher(self, REALSENSE_TOPICS, "16UC1", rate, self.bag_path)
        self.timer = self.create_timer(1.0 / rate, self.on_timer)

    def _open(self) -> Iterator[CameraFrame]:
        """The bag's frames; raises here (at start) when it has none or cannot be read."""
        frames = replay_frames(self.bag_path, *self.topics)
        first = next(frames, None)
        if first is None:
            raise ValueError(f"{self.bag_path} holds no colour + depth pair with camera_info on {self.topics}")
        return itertools.chain([first], frames)

    def _next_frame(self) -> CameraFrame | None:
        try:
            frame = next(self.frames, None)
            if frame is None and self.loop:
                self.frames = self._open()
                frame = next(self.frames)
            return frame
        except BagError as exc:  # corrupt storage further into the bag
            self.publisher.diagnostics.dropped()
            self.get_logger().error(str(exc))
            return None

    def on_timer(self) -> None:
        frame = self._next_frame()
        if frame is None:
            health = self.publisher.diagnostics.health
            self.get_logger().info(f"{self.bag_path} finished after {health.published_total} frames")
            health.stop_expecting("bag finished")
            self.finished = True
            self.timer.cancel()
            return
        self.publisher.publish(frame)


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros bag_replay``."""
    return spin_node(BagReplayNode, "bag_replay", args)
