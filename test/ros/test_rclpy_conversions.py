"""Conversions on real rclpy messages sent through real DDS (localhost, private domain)."""
from __future__ import annotations

import numpy as np
import pytest

from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.messages import (
    camera_info_to_intrinsics,
    depth_to_metres,
    image_to_numpy,
    image_to_rgb,
    intrinsics_to_camera_info,
    numpy_to_image,
)

pytestmark = pytest.mark.ros

RNG = np.random.default_rng(5)
ARRAYS = {
    "rgb8": RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8),
    "bgra8": RNG.integers(0, 256, (48, 64, 4), dtype=np.uint8),
    "16UC1": RNG.integers(0, 65536, (48, 64), dtype=np.uint16),
    "32FC64": RNG.standard_normal((6, 8, 64)).astype(np.float32),
}


def send_and_receive(ros, msg_class, topic: str, message):
    """Publish ``message`` once both ends matched; return what the subscription received."""
    received = []
    node = ros.node("conversion_probe")
    subscription = node.create_subscription(msg_class, topic, received.append, 10)
    publisher = node.create_publisher(msg_class, topic, 10)
    ros.wait_matched(publisher, subscription)
    publisher.publish(message)
    assert ros.spin_until(lambda: bool(received), timeout_s=5.0), f"nothing arrived on {topic}"
    return received[0]


@pytest.mark.parametrize("encoding", sorted(ARRAYS))
def test_image_survives_publish_and_subscribe(ros, encoding: str) -> None:
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    array = ARRAYS[encoding]
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 1700000000, 123
    sent = numpy_to_image(array, encoding, Image, header=header)
    got = send_and_receive(ros, Image, "image", sent)
    assert isinstance(got, Image) and got is not sent
    assert (got.encoding, got.height, got.width, got.step) == (encoding, *array.shape[:2], sent.step)
    assert got.header.frame_id == "camera_color_optical_frame" and got.header.stamp.nanosec == 123
    back = image_to_numpy(got)
    assert back.dtype == array.dtype and back.tobytes() == array.tobytes()
    if encoding == "bgra8":
        np.testing.assert_array_equal(image_to_rgb(got), array[:, :, 2::-1])
    if encoding == "16UC1":
        expected = np.where(array > 0, array.astype(np.float32) * np.float32(0.001), np.nan)
        np.testing.assert_array_equal(depth_to_metres(got), expected)


def test_camera_info_survives_publish_and_subscribe(ros) -> None:
    from sensor_msgs.msg import CameraInfo

    intrinsics = Intrinsics(fx=615.2, fy=614.8, cx=322.1, cy=241.7, width=640, height=480)
    got = send_and_receive(ros, CameraInfo, "camera_info", intrinsics_to_camera_info(intrinsics, CameraInfo))
    assert got.distortion_model == "plumb_bob" and list(got.d) == [0.0] * 5
    assert camera_info_to_intrinsics(got) == intrinsics
