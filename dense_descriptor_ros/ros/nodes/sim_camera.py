"""sim_camera: the simulated bin-picking cell as an RGB-D camera, in the RealSense topic layout.

Publishes ``camera/camera/color/image_raw`` (rgb8), ``camera/camera/aligned_depth_to_color/
image_raw`` (16UC1 mm) and both ``camera_info`` topics at ``rate`` Hz, so the downstream graph
launched for a RealSense runs unchanged. Service ``reshuffle`` (std_srvs/Trigger) re-drops the
objects, as if the robot had picked. ``/diagnostics`` reports the frame rate against ``rate``.

Parameters (read at start-up): width, height, rate (Hz), seed, n_objects,
camera (``overhead`` fixed above the bin, or ``robot`` oblique view).
"""
from __future__ import annotations

from typing import Any

from rclpy.node import Node
from std_srvs.srv import Trigger

from dense_descriptor_ros.cameras.sim import SimCamera, SimCameraConfig
from dense_descriptor_ros.ros.camera_publisher import REALSENSE_TOPICS, CameraPublisher
from dense_descriptor_ros.ros.typed_parameters import declare
from dense_descriptor_ros.ros.spin import spin_node


class SimCameraNode(Node):
    """Timer -> render the cell -> publish colour, depth and camera_info."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("sim_camera", **node_kwargs)
        config = SimCameraConfig(
            width=declare(self, "width", 640, "image width in pixels"),
            height=declare(self, "height", 480, "image height in pixels"),
            seed=declare(self, "seed", 0, "fixes the objects and every drop"),
            n_objects=declare(self, "n_objects", 8, "objects in the bin"),
            camera=declare(self, "camera", "overhead", "overhead or robot"))
        rate = declare(self, "rate", 5.0, "frames per second")
        if rate <= 0:
            raise ValueError(f"rate must be > 0 frames per second, got {rate}")
        self.camera = SimCamera(config)
        self.publisher = CameraPublisher(self, REALSENSE_TOPICS, "16UC1", rate, "simulation")
        self.create_service(Trigger, "reshuffle", self.on_reshuffle)
        self.create_timer(1.0 / rate, self.on_timer)
        self.get_logger().info(f"simulated {config.camera} camera {config.width}x{config.height} at "
                               f"{rate} Hz, {config.n_objects} objects, seed {config.seed}")

    def on_timer(self) -> None:
        self.publisher.publish(self.camera.read(self.get_clock().now().nanoseconds))

    def on_reshuffle(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.camera.reshuffle()
        response.success, response.message = True, f"objects re-dropped (drop {self.camera.drops})"
        return response

    def destroy_node(self) -> None:
        self.camera.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros sim_camera``."""
    return spin_node(SimCameraNode, "sim_camera", args)
