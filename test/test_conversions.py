"""Image / CameraInfo conversions on plain namespaces and rosbags messages (no rclpy)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.messages import (
    CameraInfoError,
    ImageConversionError,
    camera_info_to_intrinsics,
    check_aligned,
    depth_to_metres,
    image_to_numpy,
    image_to_rgb,
    intrinsics_to_camera_info,
    numpy_to_image,
)

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
RNG = np.random.default_rng(0)


def image_msg(data: bytes, encoding: str, height: int, width: int, step: int,
              bigendian: bool = False) -> SimpleNamespace:
    return SimpleNamespace(height=height, width=width, encoding=encoding,
                           is_bigendian=int(bigendian), step=step, data=data)


SAMPLES = {
    "rgb8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "rgba8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "bgra8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "mono8": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "mono16": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "16UC1": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "32FC1": RNG.standard_normal((5, 7)).astype(np.float32),
    "32FC3": RNG.standard_normal((5, 7, 3)).astype(np.float32),
    "32FC64": RNG.standard_normal((5, 7, 64)).astype(np.float32),
}


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
def test_round_trip_through_namespace_message(encoding: str) -> None:
    array = SAMPLES[encoding]
    msg = numpy_to_image(array, encoding, SimpleNamespace)
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (5, 7, encoding, 0)
    assert msg.step == 7 * array.itemsize * (array.shape[2] if array.ndim == 3 else 1)
    assert len(msg.data) == msg.height * msg.step
    back = image_to_numpy(msg)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()


@pytest.mark.parametrize("encoding", ["rgb8", "16UC1", "32FC64"])
def test_round_trip_through_rosbags_cdr(encoding: str) -> None:
    """rosbags messages (numpy fields, dataclasses) serialise and come back byte-equal."""
    image_type = TYPESTORE.types["sensor_msgs/msg/Image"]
    header = TYPESTORE.types["std_msgs/msg/Header"](
        stamp=TYPESTORE.types["builtin_interfaces/msg/Time"](sec=12, nanosec=34), frame_id="cam")
    msg = numpy_to_image(SAMPLES[encoding], encoding, image_type, header=header)
    raw = TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image")
    decoded = TYPESTORE.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    assert decoded.header.frame_id == "cam" and decoded.header.stamp.sec == 12
    assert image_to_numpy(decoded).tobytes() == SAMPLES[encoding].tobytes()


def test_rosbags_message_without_header_gets_zero_header() -> None:
    msg = numpy_to_image(SAMPLES["mono8"], "mono8", TYPESTORE.types["sensor_msgs/msg/Image"])
    assert msg.header.frame_id == "" and msg.header.stamp.sec == 0
    TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image")


def test_hand_made_rgb8_and_bgr8_pixels() -> None:
    data = bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])  # 2x2, 3 bytes per pixel
    rgb = image_to_numpy(image_msg(data, "rgb8", 2, 2, 6))
    assert rgb[0, 1].tolist() == [4, 5, 6] and rgb[1, 0].tolist() == [7, 8, 9]
    from_bgr = image_to_rgb(image_msg(data, "bgr8", 2, 2, 6))
    assert from_bgr[0, 1].tolist() == [6, 5, 4] and from_bgr[1, 1].tolist() == [12, 11, 10]


def test_image_to_rgb_drops_alpha_and_replicates_mono() -> None:
    bgra = SAMPLES["bgra8"]
    rgb = image_to_rgb(numpy_to_image(bgra, "bgra8", SimpleNamespace))
    np.testing.assert_array_equal(rgb, bgra[:, :, 2::-1])
    mono = image_to_rgb(numpy_to_image(SAMPLES["mono8"], "mono8", SimpleNamespace))
    assert mono.shape == (5, 7, 3)
    np.testing.assert_array_equal(mono[:, :, 1], SAMPLES["mono8"])
    with pytest.raises(ImageConversionError, match="colour"):
        image_to_rgb(numpy_to_image(SAMPLES["32FC1"], "32FC1", SimpleNamespace))


def test_row_padding_is_skipped() -> None:
    pixels = np.arange(2 * 3, dtype=np.uint16).reshape(2, 3) * 1000
    rows = [row.astype("<u2").tobytes() + b"\xee" * 4 for row in pixels]  # 6 + 4 bytes per row
    back = image_to_numpy(image_msg(b"".join(rows), "16UC1", 2, 3, 10))
    np.testing.assert_array_equal(back, pixels)


def test_big_endian_data() -> None:
    depth = np.array([[1, 258], [65535, 4096]], dtype=np.uint16)
    back = image_to_numpy(image_msg(depth.astype(">u2").tobytes(), "16UC1", 2, 2, 4, bigendian=True))
    np.testing.assert_array_equal(back, depth)
    assert back.dtype == np.dtype(np.uint16)  # native order again
    floats = SAMPLES["32FC3"]
    back = image_to_numpy(image_msg(floats.astype(">f4").tobytes(), "32FC3", 5, 7, 84, bigendian=True))
    assert back.tobytes() == floats.tobytes()


def test_depth_to_metres_from_millimetres_and_metres() -> None:
    mm = np.array([[0, 1000], [1500, 65535]], dtype=np.uint16)
    metres = depth_to_metres(numpy_to_image(mm, "16UC1", SimpleNamespace))
    assert np.isnan(metres[0, 0])
    np.testing.assert_allclose(metres[~np.isnan(metres)], [1.0, 1.5, 65.535], rtol=1e-6)
    floats = np.array([[np.nan, 0.0], [-1.0, 2.25]], dtype=np.float32)
    metres = depth_to_metres(numpy_to_image(floats, "32FC1", SimpleNamespace))
    assert np.isnan(metres[0]).all() and np.isnan(metres[1, 0]) and metres[1, 1] == 2.25
    with pytest.raises(ImageConversionError, match="depth"):
        depth_to_metres(numpy_to_image(SAMPLES["rgb8"], "rgb8", SimpleNamespace))


@pytest.mark.parametrize("msg, message", [
    (image_msg(b"\0" * 12, "yuv422", 2, 2, 6), "unsupported image encoding 'yuv422'"),
    (image_msg(b"\0" * 11, "rgb8", 2, 2, 6), "11 bytes; expected height 2 x step 6 = 12"),
    (image_msg(b"\0" * 10, "rgb8", 2, 2, 5), "step 5 is smaller than width 2 x 3"),
    (image_msg(b"\0" * 8, "32FC1", 2, 2, 4), "step 4 is smaller than width 2 x 4"),
    (image_msg(b"", "mono8", 0, 2, 2), "expected positive width and height"),
    (image_msg(b"\0" * 4, "32FC0", 2, 2, 2), "unsupported image encoding '32FC0'"),
])
def test_malformed_images_raise_clear_errors(msg: SimpleNamespace, message: str) -> None:
    with pytest.raises(ImageConversionError) as info:
        image_to_numpy(msg)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_numpy_to_image_rejects_wrong_shape_and_dtype() -> None:
    with pytest.raises(ImageConversionError, match=r"shape \(H, W, 3\)"):
        numpy_to_image(np.zeros((4, 4), np.uint8), "rgb8", SimpleNamespace)
    with pytest.raises(ImageConversionError, match="uint16"):
        numpy_to_image(np.zeros((4, 4), np.int32), "16UC1", SimpleNamespace)
    with pytest.raises(ImageConversionError, match="float32"):
        numpy_to_image(np.zeros((4, 4, 64), np.uint8), "32FC64", SimpleNamespace)
    double = numpy_to_image(np.full((2, 2), 0.5), "32FC1", SimpleNamespace)  # float64 -> float32
    assert image_to_numpy(double).dtype == np.float32 and double.step == 8


def test_check_aligned() -> None:
    colour = numpy_to_image(SAMPLES["rgb8"], "rgb8", SimpleNamespace)
    check_aligned(colour, numpy_to_image(SAMPLES["16UC1"], "16UC1", SimpleNamespace))
    small = numpy_to_image(np.zeros((4, 7), np.uint16), "16UC1", SimpleNamespace)
    with pytest.raises(ImageConversionError, match="depth image is 7x4 but the colour image is 7x5"):
        check_aligned(colour, small)


@pytest.mark.parametrize("msg_type", [SimpleNamespace, TYPESTORE.types["sensor_msgs/msg/CameraInfo"]])
def test_camera_info_round_trip(msg_type: type) -> None:
    intrinsics = Intrinsics(fx=525.0, fy=520.5, cx=319.5, cy=239.25, width=640, height=480)
    msg = intrinsics_to_camera_info(intrinsics, msg_type)
    assert msg.distortion_model == "plumb_bob" and list(msg.d) == [0.0] * 5
    np.testing.assert_array_equal(np.asarray(msg.r).reshape(3, 3), np.eye(3))
    np.testing.assert_array_equal(np.asarray(msg.p).reshape(3, 4)[:, :3], intrinsics.matrix)
    assert camera_info_to_intrinsics(msg) == intrinsics


def test_camera_info_rosbags_cdr_and_errors() -> None:
    info_type = TYPESTORE.types["sensor_msgs/msg/CameraInfo"]
    intrinsics = Intrinsics(100.0, 100.0, 49.5, 39.5, 100, 80)
    raw = TYPESTORE.serialize_cdr(intrinsics_to_camera_info(intrinsics, info_type),
                                  "sensor_msgs/msg/CameraInfo")
    decoded = TYPESTORE.deserialize_cdr(raw, "sensor_msgs/msg/CameraInfo")
    assert camera_info_to_intrinsics(decoded) == intrinsics
    uncalibrated = SimpleNamespace(k=[0.0] * 9, width=640, height=480)
    with pytest.raises(CameraInfoError, match="not calibrated"):
        camera_info_to_intrinsics(uncalibrated)
    with pytest.raises(CameraInfoError, match="expected 9"):
        camera_info_to_intrinsics(SimpleNamespace(k=[1.0] * 4, width=640, height=480))
