"""zivid_camera: a Zivid 3D camera with zivid-ros's interface.

Publishes ``color/image_color`` (rgb8), ``color/camera_info``, ``depth/image`` (32FC1 metres,
NaN where the camera saw nothing) and ``depth/camera_info`` in ``zivid_optical_frame``.
Captures on the ``capture`` service (std_srvs/Trigger) or, with ``continuous_capture``, at
``capture_rate`` Hz. The settings file is re-read on every capture, so edits apply at once.
A failed capture is logged and counted on ``/diagnostics`` as a dropped frame (malformed when
the camera returned inconsistent arrays); continuous capture goes on with the next one.

Parameters (read at start-up): serial_number ('' = first found), settings_file_path (Zivid
settings YAML, required), frame_id, continuous_capture, capture_rate.
"""
from __future__ import annotations

from typing import Any, Callable

from rclpy.node import Node
from std_srvs.srv import Trigger

from dense_descriptor_ros.cameras.frames import CameraFrameError
from dense_descriptor_ros.cameras.zivid import (
    ZIVID_OPTICAL_FRAME,
    ZividAdapter,
    ZividSdkAdapter,
    capture_to_frame,
    load_settings,
)
from dense_descriptor_ros.ros.camera_publisher import ZIVID_TOPICS, CameraPublisher
from dense_descriptor_ros.ros.typed_parameters import declare
from dense_descriptor_ros.ros.spin import spin_node


class ZividNode(Node):
    """``capture`` service / timer -> adapter.capture -> publish colour, depth, camera_info."""

    def __init__(self, adapter_factory: Callable[[], ZividAdapter] = ZividSdkAdapter,
                 **node_kwargs: Any) -> None:
        super().__init__("zivid_camera", **node_kwargs)
        serial = declare(self, "serial_number", "", "camera serial ('' = first found)")
        self.settings_path = declare(self, "settings_file_path", "", "Zivid capture settings YAML")
        self.frame_id = declare(self, "frame_id", ZIVID_OPTICAL_FRAME, "optical frame of the camera")
        continuous = declare(self, "continuous_capture", False, "capture continuously, not on request")
        rate = declare(self, "capture_rate", 1.0, "captures per second when continuous")
        if not self.settings_path:
            raise ValueError("parameter settings_file_path is required (a Zivid settings YAML, e.g. "
                             "config/zivid_settings.yml)")
        if continuous and rate <= 0:
            raise ValueError(f"capture_rate must be > 0 Hz for continuous capture, got {rate}")
        load_settings(self.settings_path)  # fail at start, not at the first capture
        self.adapter = adapter_factory()  # ZividError (a RuntimeError) when the SDK is missing
        connected = self.adapter.connect(serial)
        self.publisher = CameraPublisher(self, ZIVID_TOPICS, "32FC1", rate if continuous else 0.0, connected)
        self.create_service(Trigger, "capture", self.on_capture)
        if continuous:
            self.create_timer(1.0 / rate, self.capture)
        mode = f"continuous at {rate} Hz" if continuous else "on the capture service"
        self.get_logger().info(f"Zivid {connected} connected; capturing {mode} with {self.settings_path}")

    def capture_and_publish(self) -> str:
        """One capture with the current settings file; returns a summary, raises on failure."""
        settings = load_settings(self.settings_path)
        frame = capture_to_frame(self.adapter.capture(settings), self.frame_id)
        self.publisher.publish(frame)
        return f"captured {frame.width}x{frame.height} with {len(settings.acquisitions)} acquisition(s)"

    def capture(self) -> tuple[bool, str]:
        """One capture, its failure logged and counted instead of raised: ``(success, message)``."""
        try:
            return True, self.capture_and_publish()
        except CameraFrameError as exc:  # colour, depth and intrinsics that do not fit together
            self.publisher.diagnostics.malformed()
            self.get_logger().error(f"malformed capture: {exc}")
            return False, str(exc)
        except (ValueError, RuntimeError) as exc:  # bad settings file, camera error
            self.publisher.diagnostics.dropped()
            self.get_logger().error(f"capture failed: {exc}")
            return False, str(exc)

    def on_capture(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.capture()
        return response

    def destroy_node(self) -> None:
        if getattr(self, "adapter", None) is not None:
            self.adapter.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run dense_descriptor_ros zivid_camera``."""
    return spin_node(ZividNode, "zivid_camera", args)
