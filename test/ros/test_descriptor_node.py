"""descriptor_node on real DDS: descriptors equal the model's, bad and stale frames skipped."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from dense_descriptor_ros.data.images import to_tensor
from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.model import DescriptorNet, ModelConfig, load_checkpoint, save_checkpoint
from dense_descriptor_ros.messages import (
    camera_info_to_intrinsics,
    image_to_numpy,
    intrinsics_to_camera_info,
    numpy_to_image,
)

pytestmark = pytest.mark.ros

H, W = 96, 128
RGB = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
CAMERA = Intrinsics(fx=110.0, fy=108.0, cx=63.2, cy=47.9, width=W, height=H)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = DescriptorNet(ModelConfig(width=8, descriptor_dim=16))
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", model, method="test")


def expected_descriptors(checkpoint: Path, rgb: np.ndarray) -> np.ndarray:
    """What the network gives for ``rgb`` run directly: ``(h, w, D)``."""
    model, _ = load_checkpoint(checkpoint)
    with torch.inference_mode():
        return model(to_tensor(rgb)[None])[0].permute(1, 2, 0).numpy()


class Probe:
    """Camera side and consumer side of the node, on the test's own node."""

    def __init__(self, ros) -> None:
        from sensor_msgs.msg import CameraInfo, Image

        self.ros = ros
        self.node = ros.node("descriptor_probe")
        self.descriptors: list = []
        self.infos: list = []
        self.image_pub = self.node.create_publisher(Image, "image", 1)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", 1)
        self.sub = self.node.create_subscription(Image, "descriptors", self.descriptors.append, 10)
        self.node.create_subscription(CameraInfo, "descriptors/camera_info", self.infos.append, 10)

    def image(self, rgb: np.ndarray | None = None, age_s: float = 0.0, frame_id: str = "cam", **fields):
        from sensor_msgs.msg import Image

        msg = numpy_to_image(RGB if rgb is None else rgb, "rgb8", Image)
        stamp = self.node.get_clock().now().nanoseconds - int(age_s * 1e9)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
        msg.header.frame_id = frame_id
        for name, value in fields.items():
            setattr(msg, name, value)
        return msg

    def send_until_answered(self, msg, timeout_s: float = 5.0):
        """Best-effort input: publish every spin until a descriptor image with its stamp arrives."""
        from sensor_msgs.msg import CameraInfo

        info = intrinsics_to_camera_info(CAMERA, CameraInfo, header=msg.header)

        def answered() -> bool:
            return any(d.header.stamp == msg.header.stamp for d in self.descriptors)

        def publish() -> None:
            self.info_pub.publish(info)
            self.image_pub.publish(msg)

        assert self.ros.spin_until(answered, timeout_s, every=publish), "descriptor_node did not answer"
        self.ros.spin_until(lambda: bool(self.infos), 1.0)
        return next(d for d in self.descriptors if d.header.stamp == msg.header.stamp)

    def send_expecting_silence(self, msg, duration_s: float = 0.6) -> None:
        """Publish ``msg`` (with a frame_id of its own) for a while; no answer may carry it."""
        self.ros.spin_until(lambda: False, duration_s, every=lambda: self.image_pub.publish(msg))
        answered = [d for d in self.descriptors if d.header.frame_id == msg.header.frame_id]
        assert not answered, f"descriptor_node answered the {msg.header.frame_id} frame"


def start_node(ros, checkpoint: Path, **parameters):
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.descriptor_node import DescriptorNode

    values = {"model_path": str(checkpoint), "device": "cpu", "max_age_s": 5.0, **parameters}
    overrides = [Parameter(name, value=value) for name, value in values.items()]
    node = ros.add(DescriptorNode(context=ros.context, parameter_overrides=overrides))
    probe = Probe(ros)
    ros.wait_matched(probe.image_pub, node.image_sub)
    ros.wait_matched(node.descriptor_pub, probe.sub)
    return node, probe


def test_descriptors_match_the_model_and_bad_frames_are_skipped(ros, checkpoint: Path) -> None:
    node, probe = start_node(ros, checkpoint)
    got = probe.send_until_answered(probe.image(frame_id="camera_color_optical_frame"))
    assert (got.encoding, got.height, got.width) == ("32FC16", H // 8, W // 8)
    assert got.header.frame_id == "camera_color_optical_frame"
    descriptors = image_to_numpy(got)
    assert descriptors.shape == (12, 16, 16)
    np.testing.assert_allclose(descriptors, expected_descriptors(checkpoint, RGB), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(descriptors, axis=-1), 1.0, atol=1e-5)
    assert camera_info_to_intrinsics(probe.infos[-1]) == CAMERA.scaled(16, 12)
    assert probe.infos[-1].header.stamp == got.header.stamp

    from sensor_msgs.msg import Image

    wrong_encoding = numpy_to_image(np.ones((H, W), np.float32), "32FC1", Image)
    wrong_encoding.header.frame_id = "wrong_encoding"
    probe.send_expecting_silence(wrong_encoding)
    short_data = probe.image(frame_id="short_data")
    short_data.data = short_data.data[:-10]
    probe.send_expecting_silence(short_data)
    assert node.malformed >= 2
    probe.send_expecting_silence(probe.image(age_s=60.0, frame_id="stale"))  # max_age_s is 5
    assert node.stale >= 1

    flipped = np.ascontiguousarray(RGB[::-1])
    again = probe.send_until_answered(probe.image(flipped, frame_id="after_bad_frames"))
    assert again.header.frame_id == "after_bad_frames"
    np.testing.assert_allclose(image_to_numpy(again), expected_descriptors(checkpoint, flipped), atol=1e-5)
    assert node.processed >= 2


def test_resized_input_and_scaled_camera_info(ros, checkpoint: Path) -> None:
    _, probe = start_node(ros, checkpoint, input_width=64, input_height=40, max_age_s=0.0)
    got = probe.send_until_answered(probe.image(age_s=100.0))  # max_age_s 0: never stale
    assert (got.encoding, got.height, got.width) == ("32FC16", 5, 8)
    resized = np.asarray(PILImage.fromarray(RGB).resize((64, 40), PILImage.BILINEAR))
    np.testing.assert_allclose(image_to_numpy(got), expected_descriptors(checkpoint, resized), atol=1e-5)
    info = camera_info_to_intrinsics(probe.infos[-1])
    assert (info.width, info.height) == (8, 5)
    np.testing.assert_allclose([info.fx, info.fy, info.cx, info.cy],
                               [110.0 / 16, 108.0 * 5 / 96, (63.2 + 0.5) / 16 - 0.5,
                                (47.9 + 0.5) * 5 / 96 - 0.5], rtol=1e-9)


def test_compiled_and_half_precision_node_gives_the_same_descriptors(ros, checkpoint: Path) -> None:
    # half: true on a CPU without bf16 hardware runs fp32 (emulated bf16 is 4x slower);
    # compile: true runs the checkpoint through torch.compile, compiled on the first frame
    node, probe = start_node(ros, checkpoint, compile=True, half=True)
    assert node.model.precision in ("fp32", "bf16")
    assert hasattr(node.model.network, "_orig_mod")  # torch.compile's wrapper around the network
    got = probe.send_until_answered(probe.image(frame_id="compiled"), timeout_s=120.0)
    tolerance = 1e-5 if node.model.precision == "fp32" else 2e-2
    np.testing.assert_allclose(image_to_numpy(got), expected_descriptors(checkpoint, RGB), atol=tolerance)


def test_bad_parameters_fail_at_start(ros, checkpoint: Path, tmp_path: Path) -> None:
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.model import CheckpointError
    from dense_descriptor_ros.ros.nodes.descriptor_node import DescriptorNode

    def make(**values):
        overrides = [Parameter(k, value=v) for k, v in values.items()]
        return DescriptorNode(context=ros.context, parameter_overrides=overrides)

    with pytest.raises(ValueError, match="model_path is required"):
        make(device="cpu")
    with pytest.raises(ValueError, match="both be > 0 or both 0"):
        make(model_path=str(checkpoint), input_width=64)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        make(model_path=str(tmp_path / "bad.pt"), device="cpu")
