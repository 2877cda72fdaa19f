"""Stand-ins for the ``launch`` / ``launch_ros`` APIs our launch files use (not on PyPI).

Each stand-in takes the same keyword arguments as the real class (a subset; anything else is a
TypeError, so a launch file using more than this cannot pass unnoticed) and records them.
``load_launch`` runs a launch file's ``generate_launch_description`` against them.
"""
from __future__ import annotations

import ast
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_DIR = REPO / "launch"
CONFIG_DIR = REPO / "config"
PACKAGE = "dense_descriptor_ros"


@dataclass
class LaunchConfiguration:
    variable_name: str
    default: Any = None


@dataclass
class DeclareLaunchArgument:
    name: str
    default_value: Any = None
    description: str = ""
    choices: list[str] | None = None


@dataclass
class PythonLaunchDescriptionSource:
    launch_file_path: str


@dataclass
class IncludeLaunchDescription:
    launch_description_source: PythonLaunchDescriptionSource
    launch_arguments: Any = ()

    def __post_init__(self) -> None:
        self.launch_arguments = dict(self.launch_arguments or ())


def text(value: Any, arguments: dict[str, str]) -> str:
    """A substitution (or plain value) as text, the launch ``arguments`` filled in."""
    return arguments[value.variable_name] if isinstance(value, LaunchConfiguration) else str(value)


def parameter_value(value: Any, arguments: dict[str, str]) -> Any:
    """A node parameter as launch_ros evaluates it: a substitution's text is read as YAML (so
    ``0123456`` becomes the octal integer 42798, ``''`` stays empty) unless a ParameterValue
    gives its type."""
    if isinstance(value, ParameterValue):
        return value.value_type(text(value.value, arguments))
    if isinstance(value, LaunchConfiguration):
        evaluated = text(value, arguments)
        return yaml.safe_load(evaluated) if evaluated else ""
    return value


@dataclass
class EqualsSubstitution:
    left: Any
    right: Any


@dataclass
class IfCondition:
    """Only the form the launch files use: ``IfCondition(EqualsSubstitution(...))``
    (``LaunchConfigurationEquals`` is deprecated and has no stand-in)."""

    predicate_expression: EqualsSubstitution

    def holds(self, arguments: dict[str, str]) -> bool:
        equals = self.predicate_expression
        return text(equals.left, arguments) == text(equals.right, arguments)


@dataclass
class ParameterValue:
    value: Any
    value_type: type = field(kw_only=True)  # the launch files always give it


@dataclass
class Node:
    executable: str
    package: str
    name: str | None = None
    namespace: str | None = None
    parameters: list = field(default_factory=list)
    remappings: list = field(default_factory=list)
    arguments: list = field(default_factory=list)
    output: str = "log"
    condition: IfCondition | None = None


@dataclass
class LaunchDescription:
    entities: list

    def of(self, kind: type) -> list:
        return [e for e in self.entities if isinstance(e, kind)]

    @property
    def arguments(self) -> dict[str, DeclareLaunchArgument]:
        return {a.name: a for a in self.of(DeclareLaunchArgument)}


def _modules() -> dict[str, types.ModuleType]:
    layout = {"launch": {"LaunchDescription": LaunchDescription},
              "launch.actions": {"DeclareLaunchArgument": DeclareLaunchArgument,
                                 "IncludeLaunchDescription": IncludeLaunchDescription},
              "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration,
                                       "EqualsSubstitution": EqualsSubstitution},
              "launch.conditions": {"IfCondition": IfCondition},
              "launch.launch_description_sources": {"PythonLaunchDescriptionSource": PythonLaunchDescriptionSource},
              "launch_ros": {}, "launch_ros.actions": {"Node": Node},
              "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue}}
    modules = {}
    for name, members in layout.items():
        module = types.ModuleType(name)
        module.__dict__.update(members)
        module.__path__ = []  # a package, so submodule imports resolve through sys.modules
        modules[name] = module
    for name, module in modules.items():  # launch.actions is also an attribute of launch
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    return modules


def load_launch(path: Path) -> LaunchDescription:
    """Execute ``path`` with the stand-ins in place of launch/launch_ros; return its description."""
    standins = _modules()
    saved = {name: sys.modules.get(name) for name in standins}
    sys.modules.update(standins)  # only these are put back after: what the file imported stays loaded
    try:
        spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    assert isinstance(description, LaunchDescription), f"{path.name} did not return a LaunchDescription"
    return description


def launch_files() -> list[Path]:
    return sorted(LAUNCH_DIR.glob("*.launch.py"))


def all_nodes() -> list[tuple[Path, Node]]:
    """Every Node of every launch file (included files count once, as their own file)."""
    return [(path, node) for path in launch_files() for node in load_launch(path).of(Node)]


def console_scripts() -> dict[str, str]:
    """``name -> module:function`` from setup.py's console_scripts, read with ast (not executed)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for call in ast.walk(tree):
        if isinstance(call, ast.Dict):
            for key, value in zip(call.keys, call.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    lines = ast.literal_eval(value)
                    return {n.strip(): t.strip() for n, t in (line.split("=", 1) for line in lines)}
    raise AssertionError("setup.py has no console_scripts entry points")


def flatten(parameters: dict, prefix: str = "") -> dict[str, Any]:
    """Nested ROS parameter YAML -> dotted names (``rgb_camera: {color_profile: x}`` -> ``rgb_camera.color_profile``)."""
    flat = {}
    for key, value in parameters.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def node_parameter_files() -> dict[Path, tuple[str, dict[str, Any]]]:
    """config/*.yaml files that are ROS parameter files: path -> (node name, flat parameters)."""
    import yaml

    files = {}
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        if not isinstance(document, dict):
            continue
        nodes = {name: body for name, body in document.items()
                 if isinstance(body, dict) and "ros__parameters" in body}
        if nodes:
            assert len(nodes) == len(document) == 1, f"{path.name}: expected one node per parameter file"
            (name, body), = nodes.items()
            files[path] = (name, flatten(body["ros__parameters"]))
    return files
