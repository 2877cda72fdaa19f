"""The simulated cell: sim_cell (one MuJoCo world: camera, arm, vacuum, jaws) + the perception graph.

ros2 launch dense_descriptor_ros sim_cell.launch.py model:=models/ddr_resnet18_sim.pt \
    database:=runs/demo/suction/reference/keypoints.sqlite
The executor drives the cell node over ROS (backend sim), in its own process, as it would drive
a robot: the graph picks physically. Every number that describes the cell (camera pose,
workspace, cup, jaw, the executor's motions) comes from the simulation
(``dense_descriptor_ros.ros.graph.sim_cell_graph``, which ``ddr sim pick --through-ros`` starts).
Arguments: gripper (suction | parallel), model, database, reference (reference.json of
``ddr sim annotate-reference``: the target product and its preferred regions), seed, first_trial,
width, height, executor_backend (sim | fake), console (the operator console web page, default
true: its URL with the token is in the log), rviz (rviz2 with rviz/cell.rviz, default false).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument

from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS
from dense_descriptor_ros.ros.graph import launch_nodes, launch_rviz, sim_cell_graph, switch_arguments
from dense_descriptor_ros.simulation.world.grippers import WORLD_FRAME

SHARE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(SHARE, "config")


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("gripper", default_value=GRIPPER_KINDS[0], choices=list(GRIPPER_KINDS)),
        DeclareLaunchArgument("model", description="descriptor checkpoint written by ddr train"),
        DeclareLaunchArgument("database", description="keypoint database file"),
        DeclareLaunchArgument("reference", default_value="",
                              description="reference.json of ddr sim annotate-reference ('' = the gripper's "
                                          "reference product, no preferred regions judged)"),
        DeclareLaunchArgument("seed", default_value="0", description="heap k is ddr sim pick's trial k"),
        DeclareLaunchArgument("first_trial", default_value="0", description="the trial whose heap lies at start"),
        DeclareLaunchArgument("width", default_value="320", description="camera image width (pixels)"),
        DeclareLaunchArgument("height", default_value="240", description="camera image height (pixels)"),
        DeclareLaunchArgument("executor_backend", default_value="sim", choices=["sim", "fake"],
                              description="sim: the executor drives the cell node; fake: picks only checked"),
        *switch_arguments(console=True),
        *launch_nodes(sim_cell_graph(), CONFIG),
        launch_rviz(SHARE, WORLD_FRAME),  # the simulation's grasps are in its world frame
    ])
