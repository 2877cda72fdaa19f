"""The ROS-free core never imports ROS: only dense_descriptor_ros/ros/ may."""
import ast
from pathlib import Path

import dense_descriptor_ros

PACKAGE = Path(dense_descriptor_ros.__file__).parent
ROS_MODULES = {"rclpy", "sensor_msgs", "geometry_msgs", "std_msgs", "std_srvs", "visualization_msgs",
               "builtin_interfaces", "tf2_ros", "moveit_msgs", "control_msgs", "launch", "launch_ros",
               "cv_bridge", "message_filters"}


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
