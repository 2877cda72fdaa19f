"""rviz/cell.rviz shows what the cell's nodes publish: RViz cannot run here, so the file is read
and every topic it displays is looked up, with its message type, on a running cell graph (the
real cell's perception graph as the launch files start it, a simulated camera in front)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import yaml

from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
RVIZ = ROOT / "rviz" / "cell.rviz"
# the message type each RViz display class subscribes to
DISPLAY_TYPES = {"rviz_default_plugins/Image": "sensor_msgs/msg/Image",
                 "rviz_default_plugins/Pose": "geometry_msgs/msg/PoseStamped",
                 "rviz_default_plugins/PoseArray": "geometry_msgs/msg/PoseArray",
                 "rviz_default_plugins/MarkerArray": "visualization_msgs/msg/MarkerArray"}


def rviz_config() -> dict:
    return yaml.safe_load(RVIZ.read_text())


def displayed_topics() -> dict[str, str]:
    """Topic -> message type of every display that subscribes to one."""
    displays = rviz_config()["Visualization Manager"]["Displays"]
    topics = {}
    for display in displays:
        if "Topic" in display:
            assert display["Class"] in DISPLAY_TYPES, f"{display['Name']}: no type known for {display['Class']}"
            topics[display["Topic"]["Value"]] = DISPLAY_TYPES[display["Class"]]
    return topics


def publish_point_topic() -> str:
    tools = rviz_config()["Visualization Manager"]["Tools"]
    return next(t["Topic"]["Value"] for t in tools if t["Class"] == "rviz_default_plugins/PublishPoint")


def test_the_view_is_in_the_frame_grasps_are_published_in() -> None:
    cell = yaml.safe_load((ROOT / "config" / "cell.yaml").read_text())["/**"]["ros__parameters"]
    config = rviz_config()["Visualization Manager"]
    assert config["Global Options"]["Fixed Frame"] == cell["target_frame"]
    assert config["Views"]["Current"]["Target Frame"] == "<Fixed Frame>"
    names = [d["Name"] for d in config["Displays"]]
    assert len(names) == len(set(names)), "RViz keys window state by display name"


def graph_topics(ros, gripper: str, model: Path, folder: Path, published: set[str], taken: str) -> tuple[dict, dict]:
    """Publishers' and subscribers' types per topic on the perception graph of ``gripper``
    (started as the launch files start it), once every ``published`` topic has a publisher and
    ``taken`` a subscriber (or a minute passed)."""
    from dense_descriptor_ros.ros.graph import NodeSpec, perception_graph
    from dense_descriptor_ros.ros.graph_processes import GraphProcesses

    camera = NodeSpec("sim_camera", ("sim_camera", {"width": 64, "height": 48, "rate": 2.0, "n_objects": 2}))
    arguments = {"gripper": gripper, "model": str(model), "database": str(folder / "keypoints.sqlite"),
                 "executor_backend": "fake", "cell": str(ROOT / "config" / "cell.yaml")}
    probe = ros.node(f"rviz_probe_{gripper}")

    def by_topic(info_of) -> dict[str, set[str]]:
        return {topic: {i.topic_type for i in info_of(topic)} for topic, _ in probe.get_topic_names_and_types()}

    with GraphProcesses([camera, *perception_graph()], arguments, folder / "logs") as graph:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            graph.check()
            publishers, subscribers = by_topic(probe.get_publishers_info_by_topic), \
                by_topic(probe.get_subscriptions_info_by_topic)
            if published <= {topic for topic, types in publishers.items() if types} and subscribers.get(taken):
                break
            ros.spin_until(lambda: False, 0.5)
        return publishers, subscribers


def test_every_displayed_topic_is_published_with_its_type(ros, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = save_checkpoint(tmp_path / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))
    displayed = displayed_topics()
    kind_topics = {"suction": {"/heatmap/overlay", "/grasp", "/grasp/candidates", "/grasp/markers"},
                   "parallel": {"/oriented_grasp/overlay", "/oriented_grasp", "/oriented_grasp/markers"}}
    common = set(displayed) - set().union(*kind_topics.values())
    assert common == {"/camera/camera/color/image_raw", "/execution/markers"}
    clicks = publish_point_topic()
    for gripper, own in kind_topics.items():
        publishers, subscribers = graph_topics(ros, gripper, model, tmp_path / gripper, own | common, clicks)
        for topic in own | common:
            assert publishers.get(topic) == {displayed[topic]}, f"{gripper} cell: {topic} published as " \
                                                               f"{publishers.get(topic)}, RViz shows {displayed[topic]}"
        # the Publish Point tool reaches the planner node of this gripper
        assert subscribers.get(clicks) == {"geometry_msgs/msg/PointStamped"}, f"{gripper}: nobody takes {clicks}"
