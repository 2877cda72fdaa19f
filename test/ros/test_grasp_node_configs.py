"""config/{heatmap_node,oriented_grasp_node,grasp_executor}.yaml: parsed by rcl itself, and every
parameter in them is one the node declares, and every declared parameter is in them or in the
cell's file (config/cell.yaml: camera pose, frames, workspace)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grasp_scene import make_checkpoint

pytestmark = pytest.mark.ros

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize("name", ["heatmap_node", "oriented_grasp_node", "grasp_executor"])
def test_config_matches_declared_parameters(ros, tmp_path: Path, name: str) -> None:
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.grasp_executor import GraspExecutorNode
    from dense_descriptor_ros.ros.nodes.heatmap_node import HeatmapNode
    from dense_descriptor_ros.ros.nodes.oriented_grasp_node import OrientedGraspNode

    path, cell_path = CONFIG / f"{name}.yaml", CONFIG / "cell.yaml"
    written = yaml.safe_load(path.read_text())[name]["ros__parameters"]
    cell = yaml.safe_load(cell_path.read_text())["/**"]["ros__parameters"]
    if name == "grasp_executor":
        node_type, overrides = GraspExecutorNode, {"backend": "fake"}  # moveit_msgs is not on PyPI
    else:
        node_type = HeatmapNode if name == "heatmap_node" else OrientedGraspNode
        overrides = {"database": str(tmp_path / "k.db"), "model_path": str(make_checkpoint(tmp_path))}
    node = node_type(context=ros.context, cli_args=["--ros-args", "--params-file", str(path),
                                                    "--params-file", str(cell_path)],
                     parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    try:
        declared = set(node._parameters) - {"use_sim_time", "start_type_description_service"}
        assert set(written) <= declared and not set(written) & set(cell)
        assert set(written) | (set(cell) & declared) == declared
        for key, value in {**written, **cell}.items():  # rcl read the files: values arrive as written
            if key in declared and key not in overrides:
                got = node.get_parameter(key).value
                assert (list(got) if isinstance(value, list) else got) == value, key
    finally:
        node.destroy_node()


def test_oriented_grasp_config_ships_the_measured_gripper_room_settings() -> None:
    """The gripper body, safety margin and search written in the YAML are the library's
    defaults, the settings the closed-loop figures were measured with."""
    from dense_descriptor_ros.grasping.oriented import ParallelGripperConfig

    document = yaml.safe_load((CONFIG / "oriented_grasp_node.yaml").read_text())
    written = document["oriented_grasp_node"]["ros__parameters"]
    defaults = ParallelGripperConfig()
    fields = {"finger_length": "finger_length", "palm_length": "palm_length", "palm_width": "palm_width",
              "palm_height": "palm_height", "approach_distance": "approach", "safety_margin": "safety",
              "max_shift": "max_shift", "width_tolerance": "width_tolerance"}
    assert {key: written[key] for key in fields} == {key: getattr(defaults, field) for key, field in fields.items()}


def test_the_yaml_files_carry_the_one_gripper_description() -> None:
    """A jaw opening, finger or palm size is written once (grasping.gripper): the node YAMLs the
    launch files load hold the same numbers, so the room check and the executor cannot drift."""
    from dense_descriptor_ros.grasping.gripper import PARALLEL_JAW

    def written(name: str) -> dict:
        return yaml.safe_load((CONFIG / f"{name}.yaml").read_text())[name]["ros__parameters"]

    oriented, executor = written("oriented_grasp_node"), written("grasp_executor")
    body = ("max_opening", "finger_depth", "finger_thickness", "finger_width", "finger_length", "palm_length",
            "palm_width", "palm_height", "open_margin")
    assert {key: oriented[key] for key in body} == {key: getattr(PARALLEL_JAW, key) for key in body}
    motion = ("max_opening", "finger_depth", "open_margin")
    assert {key: executor[key] for key in motion} == {key: getattr(PARALLEL_JAW, key) for key in motion}
