"""descriptor_node: colour images in, stride-8 dense descriptor images out; a lifecycle node.

Subscribes ``image`` (sensor_msgs/Image, rgb8/bgr8/rgba8/bgra8/mono8) and ``camera_info``;
publishes ``descriptors`` (``32FC<D>``, one D-vector per stride-8 cell, the input's header) and
``descriptors/camera_info`` (intrinsics scaled to the grid). Topic names are relative: remap them.

Lifecycle, as yolo_ros: ``configure`` reads the parameters and the model's card (a missing or
corrupt model fails here, logged, and the node stays unconfigured); ``activate`` loads the
network onto the device and subscribes; ``deactivate`` unsubscribes and frees the network (and
the CUDA cache); ``cleanup`` removes the publishers. Descriptors go out only while active. With
``autostart`` (the default: nothing drives transitions under plain ``ros2 launch``) the node
configures and activates itself at start, and a failure there ends it (exit code 1, the reason
logged).
``/diagnostics`` reports the descriptor rate, latency (stamp to publish, limit ``max_age_s``),
stale (dropped) and malformed frames, and the lifecycle state when not active.

Parameters (config/descriptor_node.yaml), read on configure: ``model_path`` (a checkpoint or an
export, required), ``device`` (cuda falls back to cpu), ``half`` (fp16 on CUDA, bf16 where the CPU
computes it in hardware, else fp32), ``compile`` (checkpoints only; the first frame of each size
compiles for seconds), ``input_width``/``input_height`` (0: the camera's size), ``max_age_s``;
read at start: ``autostart``.

The image subscription keeps one message (best effort, so it also matches best-effort camera
drivers): when inference is slower than the camera, older frames are replaced, not queued.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from dense_descriptor_ros.messages import (camera_info_to_intrinsics, image_to_rgb, intrinsics_to_camera_info,
                                           numpy_to_image)
from dense_descriptor_ros.model.descriptor_model import DescriptorModel, ModelCard
from dense_descriptor_ros.model.export import metadata_path
from dense_descriptor_ros.ros.diagnostics import FrameDiagnostics
from dense_descriptor_ros.ros.spin import spin_node
from dense_descriptor_ros.ros.typed_parameters import declare

LATENCY_LOG_PERIOD_S = 5.0


class DescriptorNode(LifecycleNode):
    """Thin adapter: Image -> :class:`DescriptorModel` -> ``32FC<D>`` Image (+ scaled CameraInfo)."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("descriptor_node", **node_kwargs)
        for name, default, description in (
                ("model_path", "", "checkpoint file written by ddr train"),
                ("device", "cuda", "torch device: cuda or cpu (cuda falls back to cpu)"),
                ("half", False, "half-precision autocast: fp16 on CUDA, bf16 on CPUs with it in hardware"),
                ("compile", False, "torch.compile the network (checkpoints only)"),
                ("input_width", 0, "resize width before inference (0: camera width)"),
                ("input_height", 0, "resize height before inference (0: camera height)"),
                ("max_age_s", 0.5, "drop frames older than this (0: never)")):
            declare(self, name, default, f"{description}; read on configure", read_only=False)
        autostart = declare(self, "autostart", True, "configure and activate at start (no lifecycle manager)")
        self.card: ModelCard | None = None
        self.model: DescriptorModel | None = None
        self.camera_info: CameraInfo | None = None
        self.image_sub = self.info_sub = self.descriptor_pub = self.info_pub = None
        self.failure: Exception | None = None
        self.inference_s_total = 0.0
        self.diagnostics = FrameDiagnostics(self, "descriptors")
        self.diagnostics.health.note = "unconfigured"
        if autostart:
            for name, transition in (("configure", self.trigger_configure), ("activate", self.trigger_activate)):
                if transition() != TransitionCallbackReturn.SUCCESS:  # spin_node logs it as fatal, exit 1
                    raise RuntimeError(f"{name} failed: {self.failure}") from self.failure

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.read_parameters()
        except Exception as exc:  # any reason the model cannot be read: log it, stay alive
            return self.fail("configure", exc)
        self.descriptor_pub = self.create_lifecycle_publisher(Image, "descriptors", QoSProfile(depth=1))
        self.info_pub = self.create_lifecycle_publisher(CameraInfo, "descriptors/camera_info", QoSProfile(depth=1))
        self.diagnostics.hardware_id, self.diagnostics.health.note = self.device, "inactive"
        self.get_logger().info(f"configured {self.card.path} ({self.card.backbone}, D={self.card.descriptor_dim}) "
                               f"on {self.device}")
        return super().on_configure(state)

    def read_parameters(self) -> None:
        """The parameters as they are now, checked; raises with the reason on a bad one."""
        names = ("model_path", "device", "half", "compile", "input_width", "input_height", "max_age_s")
        model_path, device, half, compile_model, width, height, max_age_s = (self.get_parameter(n).value for n in names)
        if not model_path:
            raise ValueError("parameter model_path is required (a checkpoint written by ddr train)")
        if (width > 0) != (height > 0) or width < 0 or height < 0:
            raise ValueError(f"input_width and input_height must both be > 0 or both 0, got {width}x{height}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            self.get_logger().warning(f"device {device!r} requested but CUDA is not available; using cpu")
            device = "cpu"
        if compile_model and metadata_path(model_path).is_file():
            self.get_logger().warning("compile applies to checkpoints; running the exported model as it is")
            compile_model = False
        self.card = ModelCard.read(model_path)  # a missing or corrupt file fails configure, not activate
        self.device, self.half, self.compile_mode = device, half, "default" if compile_model else None
        self.input_size = (width, height) if width > 0 else None
        self.max_age_s = self.diagnostics.health.max_latency_s = max_age_s
        self.encoding = f"32FC{self.card.descriptor_dim}"

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.model = DescriptorModel.load(self.card.path, self.device, self.half, self.compile_mode)
        except Exception as exc:  # out of memory, a file changed since configure: stay inactive
            return self.fail("activate", exc)
        self.get_logger().info(f"loaded {self.model}")
        latest_only = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.image_sub = self.create_subscription(Image, "image", self.on_image, latest_only)
        self.info_sub = self.create_subscription(CameraInfo, "camera_info", self.on_camera_info, latest_only)
        self.diagnostics.health.note = ""
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.unsubscribe()
        self.free_model()
        self.diagnostics.health.note = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.remove_publishers()
        self.diagnostics.health.note = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.unsubscribe()
        self.free_model()
        self.remove_publishers()
        self.diagnostics.health.note = "finalized"
        return super().on_shutdown(state)

    def fail(self, transition: str, exc: Exception) -> TransitionCallbackReturn:
        """Log why ``transition`` failed and keep the reason (autostart raises it: no manager will retry)."""
        self.failure = exc
        self.get_logger().error(f"{transition} failed: {exc}")
        return TransitionCallbackReturn.FAILURE

    def unsubscribe(self) -> None:
        for subscription in (self.image_sub, self.info_sub):
            if subscription is not None:
                self.destroy_subscription(subscription)
        self.image_sub = self.info_sub = self.camera_info = None

    def free_model(self) -> None:
        """Drop the network and give its memory back (the CUDA cache too, as yolo_ros does)."""
        on_cuda = self.model is not None and self.model.device.type == "cuda"
        self.model = None
        if on_cuda:
            torch.cuda.empty_cache()

    def remove_publishers(self) -> None:
        for publisher in (self.descriptor_pub, self.info_pub):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self.descriptor_pub = self.info_pub = self.card = None

    def on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    def frame_age_s(self, msg: Image) -> float | None:
        """Seconds since the frame's stamp, or None for an unstamped frame."""
        stamp = Time.from_msg(msg.header.stamp, clock_type=self.get_clock().clock_type)
        if stamp.nanoseconds == 0:
            return None
        return (self.get_clock().now() - stamp).nanoseconds * 1e-9

    def on_image(self, msg: Image) -> None:
        age = self.frame_age_s(msg)
        if self.max_age_s > 0 and age is not None and age > self.max_age_s:
            self.diagnostics.dropped()
            self.get_logger().warning(f"dropping a frame {age:.3f} s old (max_age_s {self.max_age_s})",
                                      throttle_duration_sec=LATENCY_LOG_PERIOD_S)
            return
        started = time.perf_counter()
        try:
            descriptors = self.describe(image_to_rgb(msg))
        except (ValueError, RuntimeError) as exc:  # ImageConversionError is a ValueError
            self.diagnostics.malformed()
            self.get_logger().error(f"skipping image ({msg.width}x{msg.height} {msg.encoding!r}): {exc}")
            return
        self.descriptor_pub.publish(numpy_to_image(descriptors, self.encoding, Image, header=msg.header))
        if self.camera_info is not None:
            self.publish_camera_info(msg, descriptors.shape[1], descriptors.shape[0])
        self.diagnostics.published(msg.header)
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
        health = self.diagnostics.health
        self.inference_s_total += seconds
        arrival = "" if age_s is None else f", {age_s * 1e3:.1f} ms old on arrival"
        self.get_logger().info(
            f"descriptors {shape[0]}x{shape[1]}x{shape[2]}: {seconds * 1e3:.1f} ms{arrival} "
            f"(mean {self.inference_s_total / health.published_total * 1e3:.1f} ms over {health.published_total} "
            f"frames, {health.dropped_total} stale, {health.malformed_total} malformed)",
            throttle_duration_sec=LATENCY_LOG_PERIOD_S)


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros descriptor_node``."""
    return spin_node(DescriptorNode, "descriptor_node", args)
