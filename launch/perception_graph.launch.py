"""The camera-independent part of a cell: descriptor, heatmap, oriented-grasp and executor nodes.

Included by the realsense/zivid/sim cell launch files; expects a camera publishing the
RealSense topic layout (camera/camera/color/..., camera/camera/aligned_depth_to_color/...).
Arguments: model (checkpoint), database (keypoint database), gripper (suction | parallel).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import LaunchConfigurationEquals
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")
COLOR = "camera/camera/color/image_raw"
COLOR_INFO = "camera/camera/color/camera_info"
DEPTH = "camera/camera/aligned_depth_to_color/image_raw"
CAMERA_INPUTS = [("image", COLOR), ("depth", DEPTH), ("camera_info", COLOR_INFO)]


def config(node):
    return os.path.join(CONFIG, f"{node}.yaml")


def generate_launch_description():
    model, database = LaunchConfiguration("model"), LaunchConfiguration("database")
    backend = LaunchConfiguration("executor_backend")
    return LaunchDescription([
        DeclareLaunchArgument("model", description="descriptor checkpoint written by ddr train"),
        DeclareLaunchArgument("database", description="keypoint database file (created when missing)"),
        DeclareLaunchArgument("gripper", default_value="suction", choices=["suction", "parallel"],
                              description="suction: heatmap grasps; parallel: two-keypoint grasps"),
        DeclareLaunchArgument("executor_backend", default_value="moveit", choices=["moveit", "sim", "fake"],
                              description="moveit: the robot; fake: no motion, the pick sequence is "
                                          "checked and reported (simulated camera cell)"),
        Node(package="dense_descriptor_ros", executable="descriptor_node", output="screen",
             parameters=[config("descriptor_node"), {"model_path": model}],
             remappings=[("image", COLOR), ("camera_info", COLOR_INFO)]),
        Node(package="dense_descriptor_ros", executable="heatmap_node", output="screen",
             parameters=[config("heatmap_node"), {"model_path": model, "database": database}],
             remappings=CAMERA_INPUTS),
        Node(package="dense_descriptor_ros", executable="oriented_grasp_node", output="screen",
             parameters=[config("oriented_grasp_node"), {"model_path": model, "database": database}],
             remappings=CAMERA_INPUTS),
        # suction picks the heatmap node's grasp, parallel the oriented-grasp node's (with width)
        Node(package="dense_descriptor_ros", executable="grasp_executor", output="screen",
             condition=LaunchConfigurationEquals("gripper", "suction"),
             parameters=[config("grasp_executor"), {"gripper": "suction", "backend": backend}]),
        Node(package="dense_descriptor_ros", executable="grasp_executor", output="screen",
             condition=LaunchConfigurationEquals("gripper", "parallel"),
             parameters=[config("grasp_executor"), {"gripper": "parallel", "backend": backend}],
             remappings=[("grasp", "oriented_grasp"), ("grasp/confidence", "oriented_grasp/confidence"),
                         ("grasp/width", "oriented_grasp/width")]),
    ])
