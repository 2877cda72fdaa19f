"""bag_recorder on real DDS: camera frames in, a rosbag2 (mcap) out that `ddr bag extract` and
bag_replay read; the bag is complete after SIGINT."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rosbags.rosbag2 import Reader
from skimage import data as skdata

from dense_descriptor_ros.bags.extract import extract_images
from dense_descriptor_ros.cameras.bag_replay import replay_frames
from dense_descriptor_ros.cameras.frames import CameraFrame
from dense_descriptor_ros.geometry.camera import Intrinsics

pytestmark = pytest.mark.ros

H, W = 96, 128
K = Intrinsics(90.0, 91.0, 63.5, 47.5, W, H)
COLOR = "/camera/camera/color/image_raw"


def frames(count: int) -> list[CameraFrame]:
    """Sharp, distinct views (a moving crop of a photo) at 0.6, 0.7, ... m: extraction keeps each."""
    photo = skdata.astronaut()
    return [CameraFrame(np.ascontiguousarray(photo[100 + 20 * i:100 + 20 * i + H, 150 + 20 * i:150 + 20 * i + W]),
                        np.full((H, W), 0.6 + 0.1 * i, np.float32), K, 0, "camera_color_optical_frame")
            for i in range(count)]


def camera(ros):
    from dense_descriptor_ros.ros.camera_publisher import REALSENSE_TOPICS, CameraPublisher

    return CameraPublisher(ros.node("camera"), REALSENSE_TOPICS, "16UC1")


def all_matched(publisher) -> bool:
    return all(p.get_subscription_count() > 0 for p in (publisher.color, publisher.color_info,
                                                        publisher.depth, publisher.depth_info))


def bag_counts(bag: Path) -> dict[str, int]:
    with Reader(bag) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


def test_recorded_frames_extract_and_replay(ros, tmp_path: Path) -> None:
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.bag_recorder import BagRecorderNode

    bag = tmp_path / "shift1"
    recorder = ros.add(BagRecorderNode(context=ros.context, parameter_overrides=[Parameter("output", value=str(bag))]))
    publisher = camera(ros)
    assert ros.spin_until(lambda: all_matched(publisher) and recorder.count_publishers(COLOR) > 0, 5.0)
    sent = frames(3)
    for index, frame in enumerate(sent, start=1):
        publisher.publish(frame)
        assert ros.spin_until(lambda: min(recorder.bag.counts.values(), default=0) == index
                              and len(recorder.bag.counts) == 4, 5.0), recorder.bag.counts
    ros.executor.remove_node(recorder)
    ros.nodes.remove(recorder)
    recorder.destroy_node()  # what spin_node does on SIGINT: the bag is closed

    assert set(bag_counts(bag).values()) == {3} and len(bag_counts(bag)) == 4
    summary = extract_images(bag, tmp_path / "images", progress=False)  # what `ddr bag extract` runs
    assert (summary.topic, summary.frames, summary.kept) == (COLOR, 3, 3)
    for frame, png in zip(sent, sorted((tmp_path / "images").glob("*.png"))):
        np.testing.assert_array_equal(np.asarray(Image.open(png)), frame.rgb)
    replayed = list(replay_frames(bag))
    assert [round(float(np.nanmedian(f.depth)), 3) for f in replayed] == [0.6, 0.7, 0.8]
    assert all(f.intrinsics == K for f in replayed)


@pytest.mark.parametrize("ctrl_c", ["once", "repeated"])
def test_sigint_closes_a_bag_that_holds_everything_received(ros, tmp_path: Path, ctrl_c: str) -> None:
    """Ctrl-C under ros2 launch is two SIGINTs (the terminal's, then launch's): the second one
    interrupted writing the bag's index, and a bag without it cannot be opened. "repeated" keeps
    sending SIGINT every 5 ms until the process ends."""
    from helpers import interrupt, node_process

    bag = tmp_path / "bag"
    with node_process("bag_recorder", ["-p", f"output:={bag}"]) as (process, lines):  # ROS_DOMAIN_ID: the fixture's
        publisher = camera(ros)
        assert ros.spin_until(lambda: all_matched(publisher), 60.0), "".join(lines)
        ros.spin_until(lambda: False, 1.0)  # let the recorder's side of discovery finish too
        for frame in frames(3):
            publisher.publish(frame)
            ros.spin_until(lambda: False, 0.2)
        code = interrupt(process, repeated=ctrl_c == "repeated")
    closed = next((line for line in lines if "closed" in line), None)
    assert closed is not None, "".join(lines)
    reported = {topic: int(n) for n, topic in re.findall(r"(\d+) on (\S+?)(?:,|$)", closed.strip())}
    assert reported == bag_counts(bag) and reported[COLOR] >= 1, closed
    assert extract_images(bag, tmp_path / "images", progress=False).frames == reported[COLOR]
    if ctrl_c == "once":
        assert code == 0, "".join(lines)
