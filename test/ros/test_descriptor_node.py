"""descriptor_node on real DDS: descriptors equal the model's, bad and stale frames skipped,
lifecycle transitions through its services, and its /diagnostics."""
from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Iterator

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

    def give_camera_info(self, node) -> None:
        """Publish camera_info until ``node`` holds one, so that it answers every image with both."""
        from sensor_msgs.msg import CameraInfo

        info = intrinsics_to_camera_info(CAMERA, CameraInfo)
        assert self.ros.spin_until(lambda: node.camera_info is not None, 5.0,
                                   every=lambda: self.info_pub.publish(info)), "camera_info did not arrive"

    def send_until_answered(self, msg, timeout_s: float = 5.0):
        """Best-effort input: publish every spin until a descriptor image and a scaled camera_info
        with its stamp arrive."""
        from sensor_msgs.msg import CameraInfo

        info = intrinsics_to_camera_info(CAMERA, CameraInfo, header=msg.header)

        def answered() -> bool:
            return (any(d.header.stamp == msg.header.stamp for d in self.descriptors)
                    and any(i.header.stamp == msg.header.stamp for i in self.infos))

        def publish() -> None:
            self.info_pub.publish(info)
            self.image_pub.publish(msg)

        assert self.ros.spin_until(answered, timeout_s, every=publish), "descriptor_node did not answer"
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
    probe.give_camera_info(node)
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
    assert node.diagnostics.health.malformed_total >= 2
    probe.send_expecting_silence(probe.image(age_s=60.0, frame_id="stale"))  # max_age_s is 5
    assert node.diagnostics.health.dropped_total >= 1

    flipped = np.ascontiguousarray(RGB[::-1])
    again = probe.send_until_answered(probe.image(flipped, frame_id="after_bad_frames"))
    assert again.header.frame_id == "after_bad_frames"
    np.testing.assert_allclose(image_to_numpy(again), expected_descriptors(checkpoint, flipped), atol=1e-5)
    assert node.diagnostics.health.published_total >= 2


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


def test_bad_parameters_fail_at_start(ros, checkpoint: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """With autostart, a failed configure ends the node with the reason (a RuntimeError, which
    spin_node logs as fatal with exit code 1), whatever the reason's own type."""
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.descriptor_node import DescriptorNode, main

    def make(**values):
        overrides = [Parameter(k, value=v) for k, v in values.items()]
        return DescriptorNode(context=ros.context, parameter_overrides=overrides)

    with pytest.raises(RuntimeError, match="configure failed: parameter model_path is required"):
        make(device="cpu")
    with pytest.raises(RuntimeError, match="both be > 0 or both 0"):
        make(model_path=str(checkpoint), input_width=64)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="bad.pt"):
        make(model_path=str(tmp_path / "bad.pt"), device="cpu")
    capfd.readouterr()
    assert main(["--ros-args", "-p", f"model_path:={tmp_path / 'missing.pt'}"]) == 1  # a FileNotFoundError
    err = capfd.readouterr().err
    assert "configure failed: model not found" in err and "Traceback" not in err, err


class Lifecycle:
    """descriptor_node's lifecycle services, called as ``ros2 lifecycle`` calls them."""

    def __init__(self, ros, node) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self.ros = ros
        self.change = node.create_client(ChangeState, "/descriptor_node/change_state")
        self.get = node.create_client(GetState, "/descriptor_node/get_state")

    def call(self, client, request):
        assert self.ros.spin_until(client.service_is_ready, 5.0), f"no {client.srv_name} service"
        future = client.call_async(request)
        assert self.ros.spin_until(future.done, 60.0), f"{client.srv_name} did not answer"
        return future.result()

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return self.call(self.get, GetState.Request()).current_state.label

    def transition(self, transition_id: int) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        return self.call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success


def managed_node(ros, **parameters):
    """descriptor_node without autostart, as a lifecycle manager finds it, with a probe and a lifecycle client."""
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.descriptor_node import DescriptorNode

    values = {"device": "cpu", "max_age_s": 5.0, "autostart": False, **parameters}
    node = ros.add(DescriptorNode(context=ros.context, parameter_overrides=[Parameter(k, value=v)
                                                                               for k, v in values.items()]))
    probe = Probe(ros)
    return node, probe, Lifecycle(ros, probe.node)


def test_lifecycle_loads_on_activate_and_frees_on_deactivate(ros, checkpoint: Path) -> None:
    from lifecycle_msgs.msg import Transition
    from rclpy.parameter import Parameter

    node, probe, lifecycle = managed_node(ros, model_path=str(checkpoint))
    assert lifecycle.state() == "unconfigured" and node.model is None
    assert lifecycle.transition(Transition.TRANSITION_CONFIGURE) and lifecycle.state() == "inactive"
    assert node.model is None and node.image_sub is None  # configure reads the model's card only
    probe.send_expecting_silence(probe.image(frame_id="while_inactive"))

    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE) and lifecycle.state() == "active"
    ros.wait_matched(probe.image_pub, node.image_sub)
    probe.give_camera_info(node)
    got = probe.send_until_answered(probe.image(frame_id="active"))
    np.testing.assert_allclose(image_to_numpy(got), expected_descriptors(checkpoint, RGB), atol=1e-5)

    network = weakref.ref(node.model.network)
    assert lifecycle.transition(Transition.TRANSITION_DEACTIVATE) and lifecycle.state() == "inactive"
    gc.collect()
    assert node.model is None and network() is None, "deactivate must free the network"
    probe.send_expecting_silence(probe.image(frame_id="after_deactivate"))
    diagnostics = DiagnosticsProbe(ros, probe.node)
    assert diagnostics.wait(lambda status: status.message == "inactive", 5.0)

    # cleanup, then a parameter changed while unconfigured applies on the next configure
    assert lifecycle.transition(Transition.TRANSITION_CLEANUP) and lifecycle.state() == "unconfigured"
    assert node.descriptor_pub is None
    node.set_parameters([Parameter("input_width", value=64), Parameter("input_height", value=40)])
    assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
    ros.wait_matched(probe.image_pub, node.image_sub)
    ros.wait_matched(node.descriptor_pub, probe.sub)
    probe.give_camera_info(node)
    again = probe.send_until_answered(probe.image(frame_id="reactivated"))
    assert (again.height, again.width) == (5, 8)


def test_a_bad_model_fails_configure_with_the_reason_and_the_node_lives_on(
        ros, checkpoint: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    from lifecycle_msgs.msg import Transition
    from rclpy.parameter import Parameter

    missing = tmp_path / "missing.pt"
    node, probe, lifecycle = managed_node(ros, model_path=str(missing))
    assert not lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == "unconfigured"
    assert f"configure failed: model not found: {missing}" in capfd.readouterr().err

    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    node.set_parameters([Parameter("model_path", value=str(tmp_path / "bad.pt"))])
    assert not lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == "unconfigured"
    assert "configure failed" in (err := capfd.readouterr().err) and "bad.pt" in err, err

    node.set_parameters([Parameter("model_path", value=str(checkpoint))])  # fixed: the same node goes on
    assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE) and lifecycle.state() == "active"
    ros.wait_matched(probe.image_pub, node.image_sub)
    probe.give_camera_info(node)
    assert probe.send_until_answered(probe.image(frame_id="fixed")).encoding == "32FC16"


class DiagnosticsProbe:
    """descriptor_node's status on /diagnostics."""

    def __init__(self, ros, node, name: str = "descriptor_node: /descriptors") -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        self.ros, self.name, self.statuses = ros, name, []
        node.create_subscription(DiagnosticArray, "/diagnostics", self.on_array, 10)

    def on_array(self, msg) -> None:
        self.statuses += [s for s in msg.status if s.name == self.name]

    def wait(self, condition, timeout_s: float):
        """The first status that meets ``condition``, or None."""
        def found():
            return next((s for s in self.statuses if condition(s)), None)

        self.ros.spin_until(lambda: found() is not None, timeout_s)
        return found()


def values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Two torch threads on a loaded 2-core machine wait on each other, up to a second a frame:
    too slow to follow a camera in a rate test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_diagnostics_report_the_input_rate_and_malformed_frames(ros, checkpoint: Path, one_torch_thread) -> None:
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import Image

    node, probe = start_node(ros, checkpoint)
    diagnostics = DiagnosticsProbe(ros, probe.node)
    camera = probe.node.create_timer(0.5, lambda: probe.image_pub.publish(probe.image()))  # a 2 Hz camera
    status = diagnostics.wait(lambda s: int(values(s)["Published in window"]) >= 8, 30.0)
    assert status is not None, [s.message for s in diagnostics.statuses]
    assert status.level == DiagnosticStatus.OK and status.hardware_id == "cpu", status
    assert float(values(status)["Frequency (Hz)"]) == pytest.approx(2.0, rel=0.2)
    assert 0.0 < float(values(status)["Mean latency (ms)"]) < 5000.0  # below max_age_s
    assert values(status)["Latency limit (ms)"] == "5000.0"

    camera.cancel()
    wrong_encoding = numpy_to_image(np.ones((H, W), np.float32), "32FC1", Image)
    wrong_encoding.header.frame_id = "wrong_encoding"
    probe.send_expecting_silence(wrong_encoding)
    status = diagnostics.wait(lambda s: int(values(s)["Malformed in window"]) >= 1, 5.0)
    assert status is not None, [s.message for s in diagnostics.statuses]
    assert status.level in (DiagnosticStatus.WARN, DiagnosticStatus.ERROR) and "malformed frame" in status.message
    assert int(values(status)["Malformed"]) == node.diagnostics.health.malformed_total >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_deactivate_gives_the_gpu_memory_back(ros, checkpoint: Path) -> None:
    from lifecycle_msgs.msg import Transition

    before = torch.cuda.memory_reserved()
    node, probe, lifecycle = managed_node(ros, model_path=str(checkpoint), device="cuda")
    assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
    ros.wait_matched(probe.image_pub, node.image_sub)
    probe.give_camera_info(node)
    probe.send_until_answered(probe.image(frame_id="on_cuda"), timeout_s=60.0)
    assert torch.cuda.memory_reserved() > before
    assert lifecycle.transition(Transition.TRANSITION_DEACTIVATE)
    gc.collect()
    assert torch.cuda.memory_allocated() == 0 and torch.cuda.memory_reserved() == before
