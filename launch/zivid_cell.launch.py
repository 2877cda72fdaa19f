"""The Zivid cell: zivid_camera + the perception graph, colour/depth remapped into the layout
the graph expects (camera/camera/...).

ros2 launch dense_descriptor_ros zivid_cell.launch.py model:=... database:=... camera:=2020C0DE
Arguments: camera (serial_number, '' = first found; passed as text, so an all-digit serial keeps
its digits), settings (Zivid settings YAML), gripper (suction | parallel), model, database,
executor_backend (moveit | sim | fake), cell (the cell's parameter file: camera pose, target frame,
workspace; default config/cell.yaml), console (the operator console web page, default false), rviz
(rviz2 with rviz/cell.rviz, default false).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from dense_descriptor_ros.ros.graph import CONSOLE_PORT, SWITCHES, switch_arguments

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(os.path.dirname(HERE), "config")
TO_GRAPH_LAYOUT = [("color/image_color", "camera/camera/color/image_raw"),
                   ("color/camera_info", "camera/camera/color/camera_info"),
                   ("depth/image", "camera/camera/aligned_depth_to_color/image_raw"),
                   ("depth/camera_info", "camera/camera/aligned_depth_to_color/camera_info")]


def generate_launch_description():
    graph_arguments = {name: LaunchConfiguration(name)
                       for name in ("model", "database", "gripper", "executor_backend", "cell", *SWITCHES, CONSOLE_PORT)}
    return LaunchDescription([
        DeclareLaunchArgument("camera", default_value="", description="Zivid serial number ('' = first found)"),
        DeclareLaunchArgument("settings", default_value=os.path.join(CONFIG, "zivid_settings.yaml"),
                              description="Zivid capture settings YAML"),
        DeclareLaunchArgument("gripper", default_value="suction", choices=["suction", "parallel"]),
        DeclareLaunchArgument("model", description="descriptor checkpoint written by ddr train"),
        DeclareLaunchArgument("database", description="keypoint database file"),
        DeclareLaunchArgument("executor_backend", default_value="moveit", choices=["moveit", "sim", "fake"],
                              description="moveit: the robot; fake: a dry run, picks checked and reported"),
        DeclareLaunchArgument("cell", default_value=os.path.join(CONFIG, "cell.yaml"),
                              description="the cell's parameter file: camera pose (hand-eye calibration), "
                                          "target frame, workspace"),
        *switch_arguments(console=False),
        Node(package="dense_descriptor_ros", executable="zivid_camera", output="screen",
             parameters=[os.path.join(CONFIG, "zivid_camera.yaml"),
                         {"serial_number": ParameterValue(LaunchConfiguration("camera"), value_type=str),
                          "settings_file_path": LaunchConfiguration("settings")}],
             remappings=TO_GRAPH_LAYOUT),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(os.path.join(HERE, "perception_graph.launch.py")),
                                 launch_arguments=graph_arguments.items()),
    ])
