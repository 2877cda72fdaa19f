"""The ROS-free core never imports ROS (only dense_descriptor_ros/ros/ may), and imports run
one way, from the layers that use a thing down to the layers that define it."""
import ast
import sys
from pathlib import Path

import dense_descriptor_ros

PACKAGE = Path(dense_descriptor_ros.__file__).parent
ROS_MODULES = {"rclpy", "sensor_msgs", "geometry_msgs", "std_msgs", "std_srvs", "visualization_msgs",
               "builtin_interfaces", "tf2_ros", "moveit_msgs", "control_msgs", "launch", "launch_ros",
               "cv_bridge", "message_filters", "diagnostic_msgs", "lifecycle_msgs", "rcl_interfaces"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_modules_do_not_import_ros():
    offenders = {}
    core_files = [p for p in PACKAGE.rglob("*.py") if "ros" not in p.relative_to(PACKAGE).parts[:1]]
    assert len(core_files) > 20
    for path in core_files:
        bad = imported_roots(path) & ROS_MODULES
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert offenders == {}


def test_the_check_sees_ros_imports(tmp_path):
    sample = tmp_path / "node.py"
    sample.write_text("import rclpy\nfrom sensor_msgs.msg import Image\n")
    assert imported_roots(sample) & ROS_MODULES == {"rclpy", "sensor_msgs"}


# Each top-level part of the package and its layer: a part imports only its own layer and below.
LAYERS = {
    "geometry": 0, "matching": 0, "messages": 0, "data": 0,
    "augmentation": 1, "losses": 1, "model": 1, "bags": 1,
    "grasping": 2, "evaluation": 2,
    "execution": 3, "annotation": 3, "training": 3,
    "simulation": 4,
    "cameras": 5,
    "ros": 6, "cli": 6,
}


def package_imports(path: Path) -> set[str]:
    """The top-level parts of the package that ``path`` imports (absolute or relative)."""
    parts, found = path.relative_to(PACKAGE).parts, set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(parts[:-node.level]) + (node.module.split(".") if node.module else [])
            found.add(base[0] if base else "")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dense_descriptor_ros."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("dense_descriptor_ros.")}
    return found - {""}


def test_imports_run_from_higher_layers_to_lower_ones():
    upward = {}
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if part == "__init__":
            continue
        assert part in LAYERS, f"{part} has no layer: add it to LAYERS"
        above = sorted(t for t in package_imports(path) if LAYERS[t] > LAYERS[part])
        if above:
            upward[str(path.relative_to(PACKAGE))] = above
    assert upward == {}


def test_no_core_module_imports_the_ros_adapters():
    """Only the command line (``ddr sim pick --through-ros``, imported when asked for) may start ROS."""
    offenders = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                 if path.relative_to(PACKAGE).parts[0] not in ("ros", "cli") and "ros" in package_imports(path)]
    assert offenders == []


def test_the_layer_check_sees_relative_and_absolute_imports(tmp_path, monkeypatch):
    sample = PACKAGE / "geometry" / "camera.py"
    assert package_imports(sample) == set()
    fake = tmp_path / "pkg" / "grasping" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..ros.clicks import ClickInput\nimport dense_descriptor_ros.cli.main\n"
                    "from dense_descriptor_ros.model import DescriptorModel\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "pkg")
    assert package_imports(fake) == {"ros", "cli", "model"}
