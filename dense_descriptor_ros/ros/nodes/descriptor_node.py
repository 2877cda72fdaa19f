"""descriptor_node: colour images in, stride-8 dense descriptor images out.

Subscribes ``image`` (sensor_msgs/Image, rgb8/bgr8/rgba8/bgra8/mono8) and ``camera_info``;
publishes ``descriptors`` (``32FC<D>``, one D-vector per stride-8 cell, the input's header) and
``descriptors/camera_info`` (intrinsics scaled to the grid). Topic names are relative: remap them.

Parameters (read at start-up; config/descriptor_node.yaml): ``model_path`` (a checkpoint or an
export, required), ``device`` (cuda falls back to cpu), ``half`` (fp16 on CUDA, bf16 where the CPU
computes it in hardware, else fp32), ``compile`` (checkpoints only; the first frame of each size
compiles for seconds), ``input_width``/``input_height`` (0: the camera's size), ``max_age_s``.

The image subscription keeps one message (best effort, so it also matches best-effort camera
drivers): when inference is slower than the camera, older frames are replaced, not queued.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from dense_descriptor_ros.messages import (camera_info_to_intrinsics, image_to_rgb, intrinsics_to_camera_info,
                                           numpy_to_image)
from dense_descriptor_ros.model.descriptor_model import DescriptorModel
from dense_descriptor_ros.model.export import metadata_path
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare

LATENCY_LOG_PERIOD_S = 5.0


class DescriptorNode(Node):
    """Thin adapter: Image -> :class:`DescriptorNet` -> ``32FC<D>`` Image (+ scaled CameraInfo)."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("descriptor_node", **node_kwargs)
        model_path = declare(self, "model_path", "", "checkpoint file written by ddr train")
        device = declare(self, "device", "cuda", "torch device: cuda or cpu (cuda falls back to cpu)")
        half = declare(self, "half", False, "half-precision autocast: fp16 on CUDA, bf16 on CPUs with it in hardware")
        compile_model = declare(self, "compile", False, "torch.compile the network (checkpoints only)")
        width = declare(self, "input_width", 0, "resize width before inference (0: camera width)")
        height = declare(self, "input_height", 0, "resize height before inference (0: camera height)")
        self.max_age_s = declare(self, "max_age_s", 0.5, "drop frames older than this (0: never)")
        if not model_path:
            raise ValueError("parameter model_path is required (a checkpoint written by ddr train)")
        if (width > 0) != (height > 0) or width < 0 or height < 0:
            raise ValueError(f"input_width and input_height must both be > 0 or both 0, got {width}x{height}")
        self.input_size = (width, height) if width > 0 else None

        if device.startswith("cuda") and not torch.cuda.is_available():
            self.get_logger().warning(f"device {device!r} requested but CUDA is not available; using cpu")
            device = "cpu"
        if compile_model and metadata_path(model_path).is_file():
            self.get_logger().warning("compile applies to checkpoints; running the exported model as it is")
            compile_model = False
        self.model = DescriptorModel.load(model_path, device, half, "default" if compile_model else None)
        self.encoding = f"32FC{self.model.descriptor_dim}"
        self.get_logger().info(f"loaded {self.model}")

        self.camera_info: CameraInfo | None = None
        self.processed, self.stale, self.malformed, self.total_latency_s = 0, 0, 0, 0.0
        latest_only = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.image_sub = self.create_subscription(Image, "image", self.on_image, latest_only)
        self.create_subscription(CameraInfo, "camera_info", lambda msg: setattr(self, "camera_info", msg), latest_only)
        self.descriptor_pub = self.create_publisher(Image, "descriptors", QoSProfile(depth=1))
        self.info_pub = self.create_publisher(CameraInfo, "descriptors/camera_info", QoSProfile(depth=1))

    def frame_age_s(self, msg: Image) -> float | None:
        """Seconds since the frame's stamp, or None for an unstamped frame."""
        stamp = Time.from_msg(msg.header.stamp, clock_type=self.get_clock().clock_type)
        if stamp.nanoseconds == 0:
            return None
        return (self.get_clock().now() - stamp).nanoseconds * 1e-9

    def on_image(self, msg: Image) -> None:
        age = self.frame_age_s(msg)
        if self.max_age_s > 0 and age is not None and age > self.max_age_s:
            self.stale += 1
            self.get_logger().warning(f"dropping a frame {age:.3f} s old (max_age_s {self.max_age_s})",
                                      throttle_duration_sec=LATENCY_LOG_PERIOD_S)
            return
        started = time.perf_counter()
        try:
            descriptors = self.describe(image_to_rgb(msg))
        except (ValueError, RuntimeError) as exc:  # ImageConversionError is a ValueError
            self.malformed += 1
            self.get_logger().error(f"skipping image ({msg.width}x{msg.height} {msg.encoding!r}): {exc}")
            return
        self.descriptor_pub.publish(numpy_to_image(descriptors, self.encoding, Image, header=msg.header))
        if self.camera_info is not None:
            self.publish_camera_info(msg, descriptors.shape[1], descriptors.shape[0])
        self.report_latency(time.perf_counter() - started, age, descriptors.shape)

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB -> ``(h, w, D)`` float32 descriptors at stride 8."""
        if self.input_size is not None and rgb.shape[1::-1] != self.input_size:
            rgb = np.asarray(PILImage.fromarray(rgb).resize(self.input_size, PILImage.BILINEAR))
        return self.model.describe(rgb)[0].permute(1, 2, 0).numpy()

    def publish_camera_info(self, msg: Image, grid_width: int, grid_height: int) -> None:
        try:
            intrinsics = camera_info_to_intrinsics(self.camera_info)
        except ValueError as exc:
            self.get_logger().error(f"not publishing descriptors/camera_info: {exc}",
                                    throttle_duration_sec=LATENCY_LOG_PERIOD_S)
            return
        scaled = intrinsics.scaled(grid_width, grid_height)
        self.info_pub.publish(intrinsics_to_camera_info(scaled, CameraInfo, header=msg.header))

    def report_latency(self, seconds: float, age_s: float | None, shape: tuple[int, ...]) -> None:
        """Inference time per frame, and how old the frame was on arrival (transport + queue)."""
        self.processed += 1
        self.total_latency_s += seconds
        arrival = "" if age_s is None else f", {age_s * 1e3:.1f} ms old on arrival"
        self.get_logger().info(
            f"descriptors {shape[0]}x{shape[1]}x{shape[2]}: {seconds * 1e3:.1f} ms{arrival} "
            f"(mean {self.total_latency_s / self.processed * 1e3:.1f} ms over {self.processed} frames, "
            f"{self.stale} stale, {self.malformed} malformed)",
            throttle_duration_sec=LATENCY_LOG_PERIOD_S)


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros descriptor_node``."""
    return spin_node(DescriptorNode, "descriptor_node", args)
