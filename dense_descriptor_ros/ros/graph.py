"""The cell graphs, described once: which nodes run, with which parameters and remappings.

``launch`` is not on PyPI, so one ROS-agnostic description serves both ways of starting a
graph: the launch files turn it into launch_ros ``Node`` actions (:func:`launch_nodes`), and
``ddr sim pick --through-ros`` starts the very same nodes as processes
(``ros.graph_processes``). Parameters are config files (``config/<name>.yaml``), values and
parameter files named by a launch argument (an :class:`Arg` in place of a config name), applied
in order; a value may be an :class:`Arg` too. A cell carries one gripper kind: the planner node
and executor of that kind start, so an operator's click reaches the one annotation it is meant for.
A node may be switched on by a true/false launch argument (:data:`SWITCHES`): the operator
console (``console``) and RViz (``rviz``, not this package's, see :func:`launch_rviz`).

Where the camera is and where grasps may go (:data:`CELL_PARAMETERS`) is the cell's, not a
node's: one source hands the same values to every node that places or checks grasps. On a real
cell that is the parameter file of the ``cell`` launch argument (``config/cell.yaml`` by
default, the hand-eye calibration's place); on the simulated cell, the simulation itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COLOR = "camera/camera/color/image_raw"
COLOR_INFO = "camera/camera/color/camera_info"
DEPTH = "camera/camera/aligned_depth_to_color/image_raw"
CAMERA_INPUTS = (("image", COLOR), ("depth", DEPTH), ("camera_info", COLOR_INFO))
# each gripper kind's planner node, and what the executor reads of it
PLANNER_NODES = {"suction": ("heatmap_node", ()),
                 "parallel": ("oriented_grasp_node", (("grasp", "oriented_grasp"),
                                                      ("grasp/confidence", "oriented_grasp/confidence"),
                                                      ("grasp/width", "oriented_grasp/width")))}


# the sim cell's launch arguments, passed on to the cell node under the same names
SIM_CELL_ARGUMENTS = ("gripper", "reference", "seed", "first_trial", "width", "height")
# what a cell's description sets for every node that reads it (grasp nodes and executor)
CELL_PARAMETERS = ("target_frame", "camera_frame", "camera_pose", "workspace_min", "workspace_max")
REAL_CELL = "cell"  # the launch argument naming a real cell's parameter file (default config/cell.yaml)
# true/false launch arguments that start a node: name -> what it starts
SWITCHES = {"console": "operator_console: the operator console, a local web page (its URL and token in the log)",
            "rviz": "rviz2 with the package's rviz/cell.rviz"}
CONSOLE_PORT = "console_port"  # the launch argument of the console's port on 127.0.0.1


@dataclass(frozen=True)
class Arg:
    """A launch argument's value, named."""

    name: str


@dataclass(frozen=True)
class NodeSpec:
    """One node: its executable (also its name), parameters in order (config names, files named
    by an :class:`Arg`, values), remappings, the gripper kind it belongs to (None: every kind) and
    the :data:`SWITCHES` argument that starts it (None: always started)."""

    executable: str
    parameters: tuple[str | Arg | dict[str, Any], ...] = ()
    remappings: tuple[tuple[str, str], ...] = ()
    gripper: str | None = None
    switch: str | None = None

    def runs(self, arguments: dict[str, Any]) -> bool:
        """Whether the node starts for these launch arguments (a switch left out is off)."""
        return (self.gripper in (None, arguments.get("gripper"))
                and (self.switch is None or str(arguments.get(self.switch, "false")).lower() == "true"))


def perception_graph(cell: Arg | dict[str, Any] = Arg(REAL_CELL),
                     overrides: dict[str, dict[str, Any]] | None = None) -> list[NodeSpec]:
    """Descriptor node, each gripper kind's planner node and executor, and the operator console
    (switched by ``console``); ``cell`` (a parameter file argument or values of
    :data:`CELL_PARAMETERS`) goes to the planner nodes and executors after their config files,
    ``overrides`` add values per executable."""
    extra = overrides or {}
    model = {"model_path": Arg("model")}
    nodes = [NodeSpec("descriptor_node", ("descriptor_node", model, extra.get("descriptor_node", {})),
                      (("image", COLOR), ("camera_info", COLOR_INFO)))]
    for kind, (planner, executor_remaps) in PLANNER_NODES.items():
        nodes.append(NodeSpec(planner, (planner, cell, {**model, "database": Arg("database")}, extra.get(planner, {})),
                              CAMERA_INPUTS, kind))
        executor = {"gripper": kind, "backend": Arg("executor_backend"), **extra.get("grasp_executor", {})}
        nodes.append(NodeSpec("grasp_executor", ("grasp_executor", cell, executor), executor_remaps, kind))
    console = {"gripper": Arg("gripper"), "database": Arg("database"), "port": Arg(CONSOLE_PORT)}
    nodes.append(NodeSpec("operator_console", ("operator_console", console), switch="console"))
    return nodes


def sim_cell_graph(appearance: dict[str, float] | None = None) -> list[NodeSpec]:
    """The simulated cell (``sim_cell``) and the perception graph, every number that describes
    the cell taken from the simulation itself: camera pose, workspace, the cup and the jaw, the
    executor's motions (those ``ddr sim pick`` runs in process); ``appearance`` overrides the
    planner nodes' colour check (``appearance_*`` parameters)."""
    from dense_descriptor_ros.ros.gripper_parameters import EXECUTOR_PARAMETERS, PARALLEL_PARAMETERS
    from dense_descriptor_ros.simulation.experiments.pick import BIN_WORKSPACE, SIM_EXECUTOR
    from dense_descriptor_ros.simulation.experiments.pick_trials import cell_parallel_config, cell_suction_config
    from dense_descriptor_ros.simulation.world.grippers import WORLD_FRAME
    from dense_descriptor_ros.simulation.world.scene import overhead_camera_pose

    cell = {"target_frame": WORLD_FRAME, "camera_frame": "",
            "camera_pose": [float(v) for v in overhead_camera_pose().ravel()],
            "workspace_min": [float(v) for v in BIN_WORKSPACE.lower],
            "workspace_max": [float(v) for v in BIN_WORKSPACE.upper]}
    suction, parallel = cell_suction_config(), cell_parallel_config()
    colour = appearance or {}
    overrides = {
        "descriptor_node": {"device": "cpu", "half": False},  # the in-process trials' precision
        "heatmap_node": {**colour, **{name: getattr(suction, name)
                                      for name in ("min_confidence", "cup_radius", "seal_search")}},
        "oriented_grasp_node": {**colour, **{name: getattr(parallel, config_field)
                                             for name, (config_field, _) in PARALLEL_PARAMETERS.items()}},
        "grasp_executor": {name: getattr(SIM_EXECUTOR, name) for name in EXECUTOR_PARAMETERS},
    }
    cell_node = NodeSpec("sim_cell", ("sim_cell", {name: Arg(name) for name in SIM_CELL_ARGUMENTS}))
    return [cell_node, *perception_graph(cell, overrides)]


def launch_nodes(specs: list[NodeSpec], config_dir: str) -> list[Any]:
    """``specs`` as launch_ros ``Node`` actions (arguments as LaunchConfigurations; a gripper
    kind's nodes only when the ``gripper`` argument names it, a switched node when its switch
    is true)."""
    import os

    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def value(v: Any) -> Any:
        return LaunchConfiguration(v.name) if isinstance(v, Arg) else v

    def parameters(spec: NodeSpec) -> list[Any]:  # a config name or an Arg names a parameter file
        return [os.path.join(config_dir, f"{p}.yaml") if isinstance(p, str) else
                value(p) if isinstance(p, Arg) else {k: value(v) for k, v in p.items()}
                for p in spec.parameters]

    def condition(spec: NodeSpec) -> Any:
        if spec.gripper is not None and spec.switch is not None:
            raise ValueError(f"{spec.executable}: a node is started by its gripper kind or by a switch, not both")
        return (_when(spec.switch, "true") if spec.switch else
                None if spec.gripper is None else _when("gripper", spec.gripper))

    return [Node(package="dense_descriptor_ros", executable=spec.executable, output="screen",
                 parameters=parameters(spec), remappings=list(spec.remappings), condition=condition(spec))
            for spec in specs]


def _when(argument: str, value: str) -> Any:
    """The launch condition ``argument == value``."""
    from launch.conditions import IfCondition
    from launch.substitutions import EqualsSubstitution, LaunchConfiguration

    return IfCondition(EqualsSubstitution(LaunchConfiguration(argument), value))


def switch_arguments(console: bool) -> list[Any]:
    """The :data:`SWITCHES` launch arguments, ``console`` defaulting to ``console``, rviz off,
    and the console's port."""
    from launch.actions import DeclareLaunchArgument

    from dense_descriptor_ros.annotation.console import DEFAULT_PORT

    defaults = {"console": str(console).lower(), "rviz": "false"}
    return [*(DeclareLaunchArgument(name, default_value=defaults[name], choices=["true", "false"], description=what)
              for name, what in SWITCHES.items()),
            DeclareLaunchArgument(CONSOLE_PORT, default_value=str(DEFAULT_PORT),
                                  description="the operator console's port on 127.0.0.1 (0: a free one)")]


def launch_rviz(share_dir: str, fixed_frame: str | None = None) -> Any:
    """rviz2 with ``<share_dir>/rviz/cell.rviz`` (this package's share), when ``rviz`` is true;
    ``fixed_frame`` replaces the file's (the real cell's ``base_link``) where grasps come in another."""
    import os

    from launch_ros.actions import Node

    frame = [] if fixed_frame is None else ["-f", fixed_frame]
    return Node(package="rviz2", executable="rviz2", output="screen", condition=_when("rviz", "true"),
                arguments=["-d", os.path.join(share_dir, "rviz", "cell.rviz"), *frame])
