"""A tiny camera frame for the grasp-node tests: model, image, depth plane, camera, publisher."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dense_descriptor_ros.data.images import to_tensor
from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.model import DescriptorNet, ModelConfig, load_checkpoint, save_checkpoint
from dense_descriptor_ros.messages import intrinsics_to_camera_info, numpy_to_image

H, W = 48, 64
CAMERA = Intrinsics(fx=60.0, fy=60.0, cx=31.5, cy=23.5, width=W, height=H)
RGB = np.random.default_rng(5).integers(0, 256, (H, W, 3), dtype=np.uint8)
# A plane 0.5 m away, tilted about the camera's y axis.
DEPTH = (0.5 + 0.002 * (np.arange(W)[None, :] - W / 2) + np.zeros((H, 1))).astype(np.float32)
# Camera 0.9 m above the world origin looking down (180 degrees about x): x y z qx qy qz qw.
CAMERA_POSE = [0.1, 0.2, 0.9, 1.0, 0.0, 0.0, 0.0]
T_WORLD_CAMERA = np.array([[1, 0, 0, 0.1], [0, -1, 0, 0.2], [0, 0, -1, 0.9], [0, 0, 0, 1.0]])


def make_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(folder / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)),
                           method="test")


def descriptors_of(checkpoint: Path, rgb: np.ndarray = RGB) -> np.ndarray:
    """What descriptor_node publishes for ``rgb``: ``(h, w, D)``."""
    model, _ = load_checkpoint(checkpoint)
    with torch.inference_mode():
        return model(to_tensor(rgb)[None])[0].permute(1, 2, 0).numpy()


class CameraProbe:
    """The camera + descriptor_node side of a grasp node, on the test's own node."""

    def __init__(self, ros, checkpoint: Path) -> None:
        from sensor_msgs.msg import CameraInfo, Image

        self.ros, self.node = ros, ros.node("camera_probe")
        self.grid = descriptors_of(checkpoint)
        self.pubs = {name: self.node.create_publisher(Image, name, 5)
                     for name in ("descriptors", "image", "depth")}
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", 5)
        self.stamp = 1000

    def frame(self, rgb: np.ndarray = RGB, depth: np.ndarray = DEPTH, depth_encoding: str = "32FC1",
              grid: np.ndarray | None = None) -> dict:
        """One stamped message set (a new stamp per call)."""
        from sensor_msgs.msg import CameraInfo, Image

        self.stamp += 1
        messages = {"descriptors": numpy_to_image(self.grid if grid is None else grid, "32FC16", Image),
                    "image": numpy_to_image(rgb, "rgb8", Image),
                    "depth": numpy_to_image(depth, depth_encoding, Image),
                    "camera_info": intrinsics_to_camera_info(CAMERA, CameraInfo)}
        for msg in messages.values():
            msg.header.stamp.sec = self.stamp
            msg.header.frame_id = "camera_color_optical_frame"
        return messages

    def publish(self, messages: dict) -> None:
        self.info_pub.publish(messages["camera_info"])
        for name, pub in self.pubs.items():
            pub.publish(messages[name])

    def call(self, client, timeout_s: float = 5.0):
        from std_srvs.srv import Trigger

        assert client.wait_for_service(timeout_sec=timeout_s), f"{client.srv_name} not available"
        future = client.call_async(Trigger.Request())
        assert self.ros.spin_until(future.done, timeout_s), f"{client.srv_name} did not answer"
        return future.result()
