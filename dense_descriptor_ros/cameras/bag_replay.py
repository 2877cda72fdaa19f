"""Replay colour + aligned depth + camera_info from a rosbag2 (sqlite3 or mcap) as CameraFrames.

Read with ``rosbags`` (no ROS needed), so a recorded training bag can drive the whole graph
offline. Colour and depth are paired by header stamp; each pair uses the newest camera_info.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator

from rosbags.rosbag2 import Reader
from rosbags.typesys import get_typestore

from dense_descriptor_ros.bags.extract import DEFAULT_TYPESTORE, TYPESTORES, BagError, _guarded
from dense_descriptor_ros.cameras.frames import CameraFrame
from dense_descriptor_ros.messages import (
    camera_info_to_intrinsics,
    check_aligned,
    depth_to_metres,
    image_to_rgb,
)

log = logging.getLogger(__name__)

REALSENSE_TOPICS = ("/camera/camera/color/image_raw", "/camera/camera/aligned_depth_to_color/image_raw",
                    "/camera/camera/color/camera_info")
IMAGE_TYPE, INFO_TYPE = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def replay_frames(bag: str | Path, color_topic: str = REALSENSE_TOPICS[0],
                  depth_topic: str = REALSENSE_TOPICS[1], info_topic: str = REALSENSE_TOPICS[2],
                  max_skew_s: float = 0.02) -> Iterator[CameraFrame]:
    """CameraFrames of ``bag`` in recording order; a colour and a depth image whose stamps
    differ by at most ``max_skew_s`` form a frame. Malformed messages are logged and skipped;
    unreadable storage raises :class:`BagError`.
    """
    bag = Path(bag)
    if not bag.exists():
        raise BagError(f"bag not found: {bag}; expected a rosbag2 directory or its .db3/.mcap file")
    reader = Reader(bag)
    try:
        reader.open()
    except Exception as exc:  # backend-specific errors
        raise BagError(f"cannot open bag {bag}: {type(exc).__name__}: {exc}") from exc
    try:
        wanted = {color_topic: IMAGE_TYPE, depth_topic: IMAGE_TYPE, info_topic: INFO_TYPE}
        connections = [c for c in reader.connections if wanted.get(c.topic) == c.msgtype]
        missing = sorted(set(wanted) - {c.topic for c in connections})
        if missing:
            listing = ", ".join(sorted(f"{c.topic} ({c.msgtype})" for c in reader.connections)) or "none"
            raise BagError(f"bag {bag} has no {missing}; it has: {listing}")
        typestore = get_typestore(TYPESTORES.get(reader.ros_distro or "", DEFAULT_TYPESTORE))
        latest: dict[str, Any] = {}
        skew_ns = int(max_skew_s * 1e9)
        for connection, _, raw in _guarded(reader.messages(connections=connections), bag, "replaying"):
            try:
                latest[connection.topic] = typestore.deserialize_cdr(raw, connection.msgtype)
            except Exception as exc:  # bad CDR: skip this message only
                log.warning("skipping a message on %s: %s: %s", connection.topic, type(exc).__name__, exc)
                continue
            color, depth, info = (latest.get(t) for t in (color_topic, depth_topic, info_topic))
            if color is None or depth is None or info is None or connection.topic == info_topic:
                continue
            if abs(_stamp_ns(color) - _stamp_ns(depth)) > skew_ns:
                continue
            del latest[color_topic], latest[depth_topic]
            try:
                check_aligned(color, depth)
                yield CameraFrame(image_to_rgb(color), depth_to_metres(depth), camera_info_to_intrinsics(info),
                                  _stamp_ns(color), color.header.frame_id or "camera_color_optical_frame")
            except ValueError as exc:  # wrong encoding, size mismatch, uncalibrated info
                log.warning("skipping the frame at %d ns: %s", _stamp_ns(color), exc)
    finally:
        with contextlib.suppress(Exception):
            reader.close()
