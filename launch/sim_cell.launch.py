"""The simulated cell: sim_camera (MuJoCo bin) + the perception graph, no hardware needed.

ros2 launch dense_descriptor_ros sim_cell.launch.py model:=models/x.pt database:=/tmp/db.json
Arguments: camera (overhead | robot), gripper (suction | parallel), model, database.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(os.path.dirname(HERE), "config")


def generate_launch_description():
    graph_arguments = {name: LaunchConfiguration(name) for name in ("model", "database", "gripper")}
    return LaunchDescription([
        DeclareLaunchArgument("camera", default_value="overhead", choices=["overhead", "robot"],
                              description="fixed overhead camera or oblique robot camera"),
        DeclareLaunchArgument("gripper", default_value="suction", choices=["suction", "parallel"]),
        DeclareLaunchArgument("model", description="descriptor checkpoint written by ddr train"),
        DeclareLaunchArgument("database", description="keypoint database file"),
        Node(package="dense_descriptor_ros", executable="sim_camera", output="screen",
             parameters=[os.path.join(CONFIG, "sim_camera.yaml"), {"camera": LaunchConfiguration("camera")}]),
        # sim_camera renders in its own process, so the executor cannot move that MuJoCo world:
        # it checks and reports each pick (fake backend); `ddr sim pick` runs physical picks.
        IncludeLaunchDescription(PythonLaunchDescriptionSource(os.path.join(HERE, "perception_graph.launch.py")),
                                 launch_arguments=[*graph_arguments.items(), ("executor_backend", "fake")]),
    ])
