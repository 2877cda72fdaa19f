"""Every parameter that config/*.yaml or a launch file sets is one its node declares.

Checked by instantiating each node class under rclpy with those values as overrides, rather
than by scanning the source for ``declare_parameter`` calls: nodes declare through helpers
(``typed_parameters.declare``, ``declare_grasp_inputs``) whose names a scan would have to
know, and instantiation also checks each value's type against the declared one (rclpy refuses
a string for an integer parameter) and that the YAML's node name is the node's real name.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import torch

from dense_descriptor_ros.ros.graph import CELL_PARAMETERS
from dense_descriptor_ros.ros.graph_processes import file_parameters
from launch_standins import (CONFIG_DIR, PACKAGE, LaunchConfiguration, all_nodes, load_launch,
                             node_parameter_files, parameter_value)
from test_camera_nodes import FakeZivid

pytestmark = pytest.mark.ros

CONSTRUCTOR_ARGUMENTS = {"zivid_camera": {"adapter_factory": FakeZivid}}  # no Zivid SDK here
# moveit_msgs is not on PyPI: the executor's real-robot default backend refuses to start here.
VALUE_SUBSTITUTES = {"grasp_executor": {"backend": "fake"},
                     "operator_console": {"port": 0}}  # a free port: the default may be taken on a shared machine


@pytest.fixture(scope="module")
def argument_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Values for the launch arguments without a default (a user must pass them)."""
    from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint

    folder = tmp_path_factory.mktemp("launch_args")
    torch.manual_seed(0)
    model = save_checkpoint(folder / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)), method="test")
    return {"model": str(model), "database": str(folder / "keypoints.json"), "output": str(folder / "bag")}


def node_class(executable: str) -> type:
    """The rclpy Node subclass defined in the executable's module."""
    from rclpy.node import Node

    module = importlib.import_module(f"dense_descriptor_ros.ros.nodes.{executable}")
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, Node) and c is not Node and c.__module__ == module.__name__]
    assert len(classes) == 1, f"{module.__name__} should define exactly one Node class, has {classes}"
    return classes[0]


def launched_parameters(argument_values: dict[str, str]) -> dict[str, dict[str, object]]:
    """executable -> every parameter its launch files set (YAML files and inline dicts)."""
    files = node_parameter_files()
    result: dict[str, dict[str, object]] = {}
    for path, node in all_nodes():
        if node.package != PACKAGE:  # rviz2: another package's node, configured by its .rviz file
            continue
        defaults = {n: a.default_value for n, a in load_launch(path).arguments.items() if a.default_value is not None}
        arguments = {**defaults, **argument_values}
        values = result.setdefault(node.executable, {})
        for item in node.parameters:
            if isinstance(item, str):
                name, parameters = files[Path(item)]
                values.update(parameters)
                values["__node_name__"] = name
            elif isinstance(item, LaunchConfiguration):  # a parameter file named by a launch argument
                values.update(file_parameters(arguments[item.variable_name], node.executable))
            else:
                values.update({k: parameter_value(v, arguments) for k, v in item.items()})
    return result


def test_every_configured_parameter_is_declared_by_its_node(ros, argument_values: dict[str, str]) -> None:
    from rclpy.parameter import Parameter

    configured = launched_parameters(argument_values)
    assert {"sim_cell", "realsense_camera", "zivid_camera", "descriptor_node", "operator_console"} <= set(configured)
    for executable, values in configured.items():
        expected_name = values.pop("__node_name__", executable)
        values.update(VALUE_SUBSTITUTES.get(executable, {}))
        overrides = [Parameter(name, value=value) for name, value in values.items()]
        node = node_class(executable)(**CONSTRUCTOR_ARGUMENTS.get(executable, {}),
                                      context=ros.context, parameter_overrides=overrides)
        try:
            assert node.get_name() == expected_name, f"config names {expected_name}, node is {node.get_name()}"
            # the cell's description reaches the executor too, which takes only its workspace
            undeclared = sorted(name for name in values if not node.has_parameter(name) and name not in CELL_PARAMETERS)
            assert not undeclared, f"{executable} does not declare {undeclared}"
            for name, value in values.items():
                if node.has_parameter(name):
                    assert node.get_parameter(name).value == value, f"{executable}.{name} did not take {value!r}"
        finally:
            node.destroy_node()


def test_parameter_files_without_a_launch_are_checked_too(ros) -> None:
    """A config file for a node no launch file starts still has to match that node."""
    from rclpy.parameter import Parameter

    launched = {node.executable for _, node in all_nodes() if node.package == PACKAGE}
    for path, (name, values) in node_parameter_files().items():
        if name in launched or name == "/**":  # a file for every node (the cell's) is checked where launched
            continue
        values = {**values, **VALUE_SUBSTITUTES.get(name, {})}
        node = node_class(name)(**CONSTRUCTOR_ARGUMENTS.get(name, {}), context=ros.context,
                                parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        try:
            assert not [k for k in values if not node.has_parameter(k)], path.name
        finally:
            node.destroy_node()
    assert CONFIG_DIR.is_dir()
