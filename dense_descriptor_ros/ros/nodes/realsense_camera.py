"""realsense_camera: an Intel RealSense (or a recording of one) with realsense-ros's interface.

Publishes, like ``realsense2_camera`` with ``align_depth.enable:=true``:
``camera/camera/color/image_raw`` (rgb8), ``camera/camera/color/camera_info``,
``camera/camera/aligned_depth_to_color/image_raw`` (16UC1 mm) and its ``camera_info``, all in
``camera_color_optical_frame``. An unplugged camera is reopened with exponential backoff; each
attempt returns at once while no device is connected, so the node keeps spinning and ends at
once on SIGINT/SIGTERM. ``/diagnostics`` reports the frame rate against the colour profile's,
and why the camera is unavailable.

Parameters (realsense-ros names, read at start-up):
  serial_no                    device serial ("" = first found; a leading "_" is ignored; all
                               digits: quote it, -p serial_no:="'0123456'", or ROS reads a number)
  rgb_camera.color_profile     WIDTHxHEIGHTxFPS, e.g. 640x480x30 (0x0x0 = device default)
  depth_module.depth_profile   WIDTHxHEIGHTxFPS
  align_depth.enable           must be true: downstream nodes need depth aligned to colour
  rosbag_filename              play this RealSense recording instead of a device
  rosbag_loop                  restart the recording at its end
  reconnect_timeout            seconds without frames before the device is treated as lost
"""
from __future__ import annotations

from typing import Any, Callable

from rclpy.node import Node

from dense_descriptor_ros.cameras.realsense import RealSenseCamera, RealSenseConfig, StreamProfile
from dense_descriptor_ros.ros.camera_publisher import REALSENSE_TOPICS, CameraPublisher
from dense_descriptor_ros.ros.typed_parameters import declare
from dense_descriptor_ros.ros.spin import spin_node

POLL_PERIOD_S = 0.01
POLL_TIMEOUT_MS = 5


class RealSenseNode(Node):
    """Timer -> poll the pipeline (reconnecting as needed) -> publish each aligned frame."""

    def __init__(self, pipeline_factory: Callable[[], Any] | None = None, **node_kwargs: Any) -> None:
        super().__init__("realsense_camera", **node_kwargs)
        serial = declare(self, "serial_no", "", "device serial number ('' = first found)")
        color = declare(self, "rgb_camera.color_profile", "640x480x30", "colour WIDTHxHEIGHTxFPS")
        depth = declare(self, "depth_module.depth_profile", "640x480x30", "depth WIDTHxHEIGHTxFPS")
        align = declare(self, "align_depth.enable", True, "publish depth aligned to colour")
        playback = declare(self, "rosbag_filename", "", "RealSense recording to play instead")
        loop = declare(self, "rosbag_loop", False, "restart the recording at its end")
        timeout = declare(self, "reconnect_timeout", 6.0, "seconds without frames = device lost")
        if not align:
            raise ValueError("align_depth.enable is false, but this node only publishes depth aligned to "
                             "colour (descriptor, heatmap and grasp nodes need pixel-aligned depth)")
        config = RealSenseConfig(serial_no=str(serial), color_profile=StreamProfile.parse(color),
                                 depth_profile=StreamProfile.parse(depth), playback_file=playback,
                                 loop_playback=loop, reconnect_timeout_s=timeout)
        self.camera = RealSenseCamera(config, pipeline_factory)
        self.publisher = CameraPublisher(self, REALSENSE_TOPICS, "16UC1", config.color_profile.fps,
                                         playback or config.serial)
        self._state: tuple[str, str] = ("", "")
        self.create_timer(POLL_PERIOD_S, self.on_timer)
        source = f"recording {playback}" if playback else f"device {config.serial or '(first found)'}"
        self.get_logger().info(f"RealSense {source}, colour {config.color_profile}, depth {config.depth_profile}")

    def on_timer(self) -> None:
        frame = self.camera.poll(POLL_TIMEOUT_MS)
        self.report_state()
        if frame is not None:
            self.publisher.publish(frame)

    def report_state(self) -> None:
        """Log each change of the camera's state once (not every poll)."""
        state = self.camera.state
        if (state, self.camera.last_error) == self._state:
            return
        self._state, logger = (state, self.camera.last_error), self.get_logger()
        diagnostics = self.publisher.diagnostics
        if state == "streaming":
            logger.info(f"streaming from {self.camera.device_serial}")
            diagnostics.hardware_id, diagnostics.health.note = self.camera.device_serial, ""
        elif state == "finished":
            logger.info(f"recording finished after {diagnostics.health.published_total} frames")
            diagnostics.health.stop_expecting("recording finished")
        elif self.camera.last_error:
            logger.warning(f"camera unavailable ({self.camera.last_error}); retrying with backoff")
            diagnostics.health.note = f"camera unavailable: {self.camera.last_error}"

    def destroy_node(self) -> None:
        self.camera.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros realsense_camera``."""
    return spin_node(RealSenseNode, "realsense_camera", args)
