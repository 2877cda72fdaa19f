"""The camera frames a grasp node works on: colour, aligned depth and descriptors of one stamp.

Subscribes ``descriptors`` (``32FC<D>`` stride-8 grid, from descriptor_node), ``image``
(colour), ``depth`` (16UC1 mm or 32FC1 m, aligned to colour) and ``camera_info``; pairs the
messages by stamp (:class:`FrameSynchronizer`, which keeps ``max_age_s`` of each stream: the
descriptors of a frame may come a second after it), converts a complete set and hands every
consistent :class:`StampedObservation` to a callback. Only the frames that get descriptors are
converted: at 30 Hz colour and ~1 Hz descriptors that is one in thirty. A malformed message (wrong
encoding, short data, colour/depth size mismatch, depth with no valid pixel, uncalibrated
camera_info) is logged, counted in ``malformed`` and skipped; the next good frame is processed as usual.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from torch import Tensor

from dense_descriptor_ros.grasping.frame_sync import DEFAULT_MAX_AGE_NS, FrameSynchronizer
from dense_descriptor_ros.grasping.planner import Observation
from dense_descriptor_ros.grasping.transforms import CameraPoseSource
from dense_descriptor_ros.messages import (FLOAT_ENCODING, ImageConversionError,
                                                  camera_info_to_intrinsics, depth_to_metres,
                                                  image_to_numpy, image_to_rgb)

ERROR_LOG_PERIOD_S = 2.0
# messages a subscription holds while the node plans (a plan takes up to ~1 s on a CPU): 2 s of a
# 30 Hz camera, so a frame that came meanwhile still reaches the synchronizer
QUEUE_DEPTH = 60


@dataclass(frozen=True, eq=False)
class StampedObservation(Observation):
    """The planner's :class:`Observation` with the colour image's header (stamp and frame)."""

    header: Header

    @property
    def camera_frame(self) -> str:
        return self.header.frame_id


def stamp_ns(header: Header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def descriptors_from_image(msg: Image) -> Tensor:
    """``32FC<D>`` descriptor Image (D >= 2) -> ``(1, D, h, w)`` float32."""
    match = FLOAT_ENCODING.match(msg.encoding)
    if not match or int(match.group(1)) < 2:
        raise ImageConversionError(f"expected a descriptor image of encoding 32FC<D> with D >= 2, "
                                   f"got {msg.encoding!r}")
    grid = image_to_numpy(msg)
    return torch.from_numpy(grid).permute(2, 0, 1)[None].contiguous()


class FrameInput:
    """Subscriptions, conversion and stamp matching for ``node``; calls ``on_frame(frame)``."""

    def __init__(self, node: Node, on_frame: Callable[[StampedObservation], None], *,
                 pose_source: CameraPoseSource | None, target_frame: str, tolerance_s: float = 0.0,
                 max_age_s: float = DEFAULT_MAX_AGE_NS / 1e9) -> None:
        self.node, self.on_frame = node, on_frame
        self.pose_source, self.target_frame = pose_source, target_frame
        self.sync = FrameSynchronizer(("descriptors", "image", "depth"), int(tolerance_s * 1e9), int(max_age_s * 1e9))
        self.camera_info: CameraInfo | None = None
        self.latest: StampedObservation | None = None
        self.malformed = 0
        qos = QoSProfile(depth=QUEUE_DEPTH, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.subscriptions = {
            "descriptors": node.create_subscription(Image, "descriptors", self._stream("descriptors"), qos),
            "image": node.create_subscription(Image, "image", self._stream("image"), qos),
            "depth": node.create_subscription(Image, "depth", self._stream("depth"), qos),
            "camera_info": node.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos),
        }

    def _skip(self, what: str, exc: Exception) -> None:
        self.malformed += 1
        self.node.get_logger().error(f"skipping {what}: {exc}", throttle_duration_sec=ERROR_LOG_PERIOD_S)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    def _stream(self, stream: str) -> Callable[[Image], None]:
        def callback(msg: Image) -> None:
            matched = self.sync.add(stream, stamp_ns(msg.header), msg)
            if matched is not None:
                self._assemble(matched[1])
        return callback

    def _assemble(self, messages: dict[str, Image]) -> None:
        header = messages["image"].header
        try:
            frame = self._check(header, image_to_rgb(messages["image"]), depth_to_metres(messages["depth"]),
                                descriptors_from_image(messages["descriptors"]))
        except (ValueError, RuntimeError) as exc:
            self._skip(f"frame at {header.stamp.sec}.{header.stamp.nanosec:09d}", exc)
            return
        self.latest = frame
        self.on_frame(frame)

    def _check(self, header: Header, rgb: np.ndarray, depth: np.ndarray, descriptors: Tensor) -> StampedObservation:
        height, width = rgb.shape[:2]
        if depth.shape != (height, width):
            raise ImageConversionError(f"depth image is {depth.shape[1]}x{depth.shape[0]} but the colour "
                                       f"image is {width}x{height}; expected depth aligned to colour")
        if not np.isfinite(depth).any():
            raise ImageConversionError("depth image has no valid pixel (all 0, NaN or inf)")
        h, w = descriptors.shape[-2:]
        if h > height or w > width:
            raise ImageConversionError(f"descriptor grid {w}x{h} is larger than the {width}x{height} image")
        if self.camera_info is None:
            raise RuntimeError("no camera_info received yet")
        intrinsics = camera_info_to_intrinsics(self.camera_info)
        if (intrinsics.width, intrinsics.height) != (width, height):
            raise ImageConversionError(f"camera_info is for {intrinsics.width}x{intrinsics.height} but the "
                                       f"colour image is {width}x{height}")
        transform = None
        if self.pose_source is not None:
            transform = self.pose_source.lookup(self.target_frame, header.frame_id)
        return StampedObservation(rgb, depth, intrinsics, descriptors, transform, header)
