"""The camera-independent part of a cell: descriptor node, the gripper's planner node and executor.

Included by the realsense/zivid cell launch files; expects a camera publishing the RealSense
topic layout (camera/camera/color/..., camera/camera/aligned_depth_to_color/...). The nodes,
parameters and remappings are ``dense_descriptor_ros.ros.graph.perception_graph``, the
description ``ddr sim pick --through-ros`` starts too.
Arguments: model (checkpoint), database (keypoint database), gripper (suction | parallel),
executor_backend (moveit | sim | fake; each cell declares its own default), cell (parameter file
of the cell: camera pose, target frame, workspace; default config/cell.yaml), console (the
operator console web page, default false), rviz (rviz2 with rviz/cell.rviz, default false).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument

from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS
from dense_descriptor_ros.ros.graph import REAL_CELL, launch_nodes, launch_rviz, perception_graph, switch_arguments

SHARE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(SHARE, "config")


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("model", description="descriptor checkpoint written by ddr train"),
        DeclareLaunchArgument("database", description="keypoint database file (created when missing)"),
        DeclareLaunchArgument("gripper", default_value=GRIPPER_KINDS[0], choices=list(GRIPPER_KINDS),
                              description="suction: heatmap grasps; parallel: two-keypoint grasps"),
        DeclareLaunchArgument("executor_backend", default_value="moveit", choices=["moveit", "sim", "fake"],
                              description="moveit: the robot; sim: the simulated cell node; fake: no motion, "
                                          "the pick sequence is checked and reported"),
        DeclareLaunchArgument(REAL_CELL, default_value=os.path.join(CONFIG, "cell.yaml"),
                              description="the cell's parameter file: camera pose (hand-eye calibration), "
                                          "target frame, workspace; every grasp node and the executor read it"),
        *switch_arguments(console=False),
        *launch_nodes(perception_graph(), CONFIG),
        launch_rviz(SHARE),
    ])
