"""Record a training bag of the camera topics (RealSense layout, which every camera node of this
package publishes or is remapped to): colour, aligned depth and both camera_infos.

ros2 launch dense_descriptor_ros record_training_bag.launch.py output:=bags/shift1 storage:=mcap
Then: ddr bag extract bags/shift1 images/  (training images).
Written by the bag_recorder node (rosbags), not `ros2 bag`, which is not on PyPI; Ctrl-C closes
the bag.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("output", description="bag directory to create"),
        DeclareLaunchArgument("storage", default_value="mcap", choices=["mcap", "sqlite3"]),
        Node(package="dense_descriptor_ros", executable="bag_recorder", output="screen",
             parameters=[os.path.join(CONFIG, "bag_recorder.yaml"),
                         {"output": ParameterValue(LaunchConfiguration("output"), value_type=str),
                          "storage": LaunchConfiguration("storage")}]),
    ])
