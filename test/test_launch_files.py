"""Launch files and config without ROS: they run against stand-ins of launch/launch_ros, every
node they start is a console_scripts entry point, every file and argument they name exists."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import yaml

from dense_descriptor_ros.ros.graph import CELL_PARAMETERS
from dense_descriptor_ros.ros.graph_processes import file_parameters

from launch_standins import (
    CONFIG_DIR,
    PACKAGE,
    REPO,
    IncludeLaunchDescription,
    LaunchConfiguration,
    Node,
    ParameterValue,
    all_nodes,
    console_scripts,
    launch_files,
    load_launch,
    node_parameter_files,
    parameter_value,
)

CELLS = ("realsense_cell", "zivid_cell")  # a camera + the included perception graph
GRAPH = {"descriptor_node", "heatmap_node", "oriented_grasp_node", "grasp_executor", "operator_console", "rviz2"}
OTHER_PACKAGES = {("rviz2", "rviz2")}  # (package, executable) a launch file starts that is not this package's
CAMERAS = {"realsense_cell": "realsense_camera", "zivid_cell": "zivid_camera"}
CLICK_READERS = {"heatmap_node", "oriented_grasp_node"}  # the nodes that store /clicked_point
REALSENSE_TOPICS = {"/camera/camera/color/image_raw", "/camera/camera/color/camera_info",
                    "/camera/camera/aligned_depth_to_color/image_raw",
                    "/camera/camera/aligned_depth_to_color/camera_info"}


def configurations(value) -> list[str]:
    """Names of the LaunchConfigurations inside a parameter value, list or dict."""
    if isinstance(value, LaunchConfiguration):
        return [value.variable_name]
    if isinstance(value, ParameterValue):
        return configurations(value.value)
    if isinstance(value, dict):
        return [n for v in value.values() for n in configurations(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in configurations(v)]
    return []


def running(description, **arguments: str) -> list[Node]:
    """The nodes ``description`` starts for ``arguments``, the others at their defaults."""
    values = {n: a.default_value for n, a in description.arguments.items() if a.default_value is not None}
    values.update(arguments)
    return [n for n in description.of(Node) if n.condition is None or n.condition.holds(values)]


def test_every_launch_file_parses_and_defines_generate_launch_description() -> None:
    names = {p.name for p in launch_files()}
    assert {f"{c}.launch.py" for c in CELLS} | {"record_training_bag.launch.py"} <= names
    for path in launch_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
        assert "generate_launch_description" in functions, path.name


@pytest.mark.parametrize("path", launch_files(), ids=lambda p: p.name)
def test_launch_file_names_only_declared_arguments_and_existing_files(path: Path) -> None:
    description = load_launch(path)
    declared = description.arguments
    for entity in description.entities:
        for name in configurations(getattr(entity, "parameters", None) or []):
            assert name in declared, f"{path.name} uses launch argument {name!r} but does not declare it"
    for node in description.of(Node):
        for item in node.parameters:
            if isinstance(item, str):
                assert Path(item).is_file(), f"{path.name}: parameter file {item} does not exist"
                assert Path(item).parent == CONFIG_DIR
    for include in description.of(IncludeLaunchDescription):
        included_path = Path(include.launch_description_source.launch_file_path)
        assert included_path.is_file(), f"{path.name} includes missing {included_path}"
        included = load_launch(included_path).arguments
        passed = set(include.launch_arguments)
        assert passed <= set(included), f"{path.name} passes {passed - set(included)} that {included_path.name} lacks"
        required = {n for n, a in included.items() if a.default_value is None}
        assert required <= passed, f"{path.name} leaves {required - passed} of {included_path.name} unset"
        for value in include.launch_arguments.values():
            assert all(n in declared for n in configurations(value))


def test_every_launched_node_is_an_entry_point_with_a_main() -> None:
    scripts = console_scripts()
    nodes = all_nodes()
    assert nodes
    for path, node in nodes:
        if (node.package, node.executable) in OTHER_PACKAGES:
            continue
        assert node.package == PACKAGE, f"{path.name} starts {node.package}/{node.executable}"
        assert node.executable in scripts, (f"{path.name} starts {node.executable!r}, which is not a "
                                            f"console_scripts entry point in setup.py ({sorted(scripts)})")
        module, function = scripts[node.executable].split(":")
        assert module.startswith(f"{PACKAGE}.ros.nodes.")
        assert (REPO / (module.replace(".", "/") + ".py")).is_file(), f"{module} does not exist"
        source = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
        assert function in {f.name for f in source.body if isinstance(f, ast.FunctionDef)}


def test_every_node_module_has_an_entry_point() -> None:
    """`ros2 run dense_descriptor_ros <node>` works for every node under ros/nodes."""
    scripts = console_scripts()
    modules = sorted(p.stem for p in (REPO / PACKAGE / "ros" / "nodes").glob("*.py") if p.stem != "__init__")
    for module in modules:
        assert scripts.get(module) == f"{PACKAGE}.ros.nodes.{module}:main", f"no entry point {module}"


@pytest.mark.parametrize("cell", CELLS)
def test_cell_launches_camera_and_the_whole_graph(cell: str) -> None:
    description = load_launch(REPO / "launch" / f"{cell}.launch.py")
    assert {"camera", "gripper", "model", "database"} <= set(description.arguments)
    assert [n.executable for n in description.of(Node)] == [CAMERAS[cell]]
    (include,) = description.of(IncludeLaunchDescription)
    graph = load_launch(Path(include.launch_description_source.launch_file_path))
    assert {n.executable for n in graph.of(Node)} == GRAPH
    assert all(n.condition.predicate_expression.left.variable_name in graph.arguments
               for n in graph.of(Node) if n.condition)
    assert description.arguments["gripper"].choices == graph.arguments["gripper"].choices == ["suction", "parallel"]


def test_graph_inputs_are_the_topics_the_cameras_publish() -> None:
    graph = load_launch(REPO / "launch" / "perception_graph.launch.py")
    relative = {t.lstrip("/") for t in REALSENSE_TOPICS}
    for node in graph.of(Node):
        for source, target in node.remappings:
            if source in ("image", "depth", "camera_info"):
                assert target in relative, f"{node.executable} reads {source} from {target}"
    zivid = load_launch(REPO / "launch" / "zivid_cell.launch.py").of(Node)[0]
    assert {target for _, target in zivid.remappings} == relative


@pytest.mark.parametrize("gripper, grasp_topic", [("suction", "grasp"), ("parallel", "oriented_grasp")])
def test_one_executor_per_gripper_reading_that_grippers_grasps(gripper: str, grasp_topic: str) -> None:
    graph = load_launch(REPO / "launch" / "perception_graph.launch.py")
    assert gripper in graph.arguments["gripper"].choices
    (executor,) = [n for n in running(graph, gripper=gripper) if n.executable == "grasp_executor"]
    inline = {k: v for item in executor.parameters if isinstance(item, dict) for k, v in item.items()}
    assert inline["gripper"] == gripper
    assert inline["backend"].variable_name == "executor_backend"
    assert graph.arguments["executor_backend"].default_value == "moveit"
    assert dict(executor.remappings).get("grasp", "grasp") == grasp_topic
    publisher = {"grasp": "heatmap_node.py", "oriented_grasp": "oriented_grasp_node.py"}[grasp_topic]
    source = (REPO / PACKAGE / "ros" / "nodes" / publisher).read_text()
    assert f'PoseStamped, "{grasp_topic}"' in source, f"{publisher} does not publish {grasp_topic}"


def test_training_bag_records_the_camera_topics_without_ros2_bag() -> None:
    """``ros2 bag`` is not on PyPI: the bag_recorder node records, under its default names."""
    description = load_launch(REPO / "launch" / "record_training_bag.launch.py")
    (recorder,) = description.of(Node)
    assert recorder.executable == "bag_recorder" and not recorder.remappings and recorder.namespace is None
    inline = {k: v for item in recorder.parameters if isinstance(item, dict) for k, v in item.items()}
    assert parameter_value(inline["output"], {"output": "bags/2024"}) == "bags/2024"  # not the number 2024
    assert description.arguments["storage"].choices == ["mcap", "sqlite3"]
    bag_recorder = importlib.import_module("dense_descriptor_ros.ros.nodes.bag_recorder")
    assert {"/" + topic for topic, _ in bag_recorder.TOPICS} == REALSENSE_TOPICS
    bag_replay = importlib.import_module("dense_descriptor_ros.cameras.bag_replay")
    assert set(bag_replay.REALSENSE_TOPICS) <= REALSENSE_TOPICS  # replay reads what was recorded


def test_parameter_files_are_one_per_launched_node() -> None:
    files = node_parameter_files()
    launched = {node.executable for _, node in all_nodes() if (node.package, node.executable) not in OTHER_PACKAGES}
    own = {path: name for path, (name, _) in files.items() if name != "/**"}  # "/**": every node's
    assert {f"{n}.yaml" for n in launched} <= {p.name for p in own}, "a launched node has no config/<node>.yaml"
    assert {p.stem for p in own} == set(own.values()), "config/<node>.yaml must configure the node <node>"
    assert [p.name for p in files if p not in own] == ["cell.yaml"]
    settings = yaml.safe_load((CONFIG_DIR / "zivid_settings.yaml").read_text())
    from dense_descriptor_ros.cameras.zivid import load_settings

    assert settings["Settings"] and load_settings(CONFIG_DIR / "zivid_settings.yaml").acquisitions


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_declares_the_executor_backend_and_passes_it_on(cell: str) -> None:
    """Each cell offers executor_backend:=... with its own default and never forces a value
    behind the operator's back."""
    description = load_launch(REPO / "launch" / f"{cell}.launch.py")
    graph = load_launch(REPO / "launch" / "perception_graph.launch.py")
    argument = description.arguments["executor_backend"]
    assert argument.default_value == "moveit" and argument.choices == graph.arguments["executor_backend"].choices
    (include,) = description.of(IncludeLaunchDescription)
    assert include.launch_arguments["executor_backend"] == LaunchConfiguration("executor_backend")


@pytest.mark.parametrize("gripper", ["suction", "parallel"])
def test_the_simulated_cell_picks_through_its_own_node_with_nothing_faked(gripper: str) -> None:
    """sim_cell.launch.py: the cell node, the descriptor node, the gripper's planner node and an
    executor on the sim backend (the cell node's arm, vacuum and jaws), by default: no fake."""
    description = load_launch(REPO / "launch" / "sim_cell.launch.py")
    assert description.arguments["executor_backend"].default_value == "sim"
    started = running(description, gripper=gripper)
    planner = {"suction": "heatmap_node", "parallel": "oriented_grasp_node"}[gripper]
    assert [n.executable for n in started] == ["sim_cell", "descriptor_node", planner, "grasp_executor",
                                               "operator_console"]
    (executor,) = [n for n in started if n.executable == "grasp_executor"]
    inline = {k: v for item in executor.parameters if isinstance(item, dict) for k, v in item.items()}
    assert inline["backend"].variable_name == "executor_backend" and inline["gripper"] == gripper
    planner_inline = {k: v for item in started[2].parameters if isinstance(item, dict) for k, v in item.items()}
    assert planner_inline["target_frame"] == "world" and planner_inline["camera_pose"][11] == 1.05  # the scene's


@pytest.mark.parametrize("gripper", ["suction", "parallel"])
def test_a_click_reaches_only_the_annotation_the_operator_means(gripper: str) -> None:
    """One /clicked_point was stored by both the heatmap node (a suction preference) and the
    oriented-grasp node (an axis point); a cell now runs the one planner node of its gripper."""
    for path in (REPO / "launch" / "perception_graph.launch.py", REPO / "launch" / "sim_cell.launch.py"):
        readers = [n.executable for n in running(load_launch(path), gripper=gripper) if n.executable in CLICK_READERS]
        assert len(readers) == 1, (path.name, readers)


def test_launch_files_use_no_deprecated_condition() -> None:
    """LaunchConfigurationEquals prints a deprecation warning on every launch in Jazzy."""
    for path in launch_files():
        source = path.read_text()
        assert "LaunchConfigurationEquals" not in source and "LaunchConfigurationNotEquals" not in source, path.name


@pytest.mark.parametrize("cell, parameter", [("realsense_cell", "serial_no"), ("zivid_cell", "serial_number")])
def test_an_all_digit_camera_serial_reaches_the_node_as_text(cell: str, parameter: str) -> None:
    """launch_ros reads a substitution as YAML: camera:=0123456 would arrive as the integer 42798."""
    (camera,) = load_launch(REPO / "launch" / f"{cell}.launch.py").of(Node)
    inline = {k: v for item in camera.parameters if isinstance(item, dict) for k, v in item.items()}
    assert parameter_value(inline[parameter], {"camera": "0123456"}) == "0123456"
    assert parameter_value(inline[parameter], {"camera": ""}) == ""


def cell_values(node: Node, arguments: dict[str, str]) -> dict:
    """The cell's parameters as ``node`` ends up with them: its files and values in order."""
    values = {}
    for item in node.parameters:
        if isinstance(item, str):
            values.update(file_parameters(Path(item), node.executable))
        elif isinstance(item, LaunchConfiguration):  # a parameter file named by a launch argument
            values.update(file_parameters(Path(arguments[item.variable_name]), node.executable))
        else:
            values.update({k: parameter_value(v, arguments) for k, v in item.items()})
    return {k: v for k, v in values.items() if k in CELL_PARAMETERS}


def test_the_cell_is_written_once() -> None:
    """camera_pose was written in heatmap_node.yaml and in oriented_grasp_node.yaml (and the
    workspace in the executor's too): one edit could leave the nodes with two cameras. The cell's
    parameters are in config/cell.yaml alone, for every node."""
    writers = {path.name: (name, sorted(set(values) & set(CELL_PARAMETERS)))
               for path, (name, values) in node_parameter_files().items() if set(values) & set(CELL_PARAMETERS)}
    assert writers == {"cell.yaml": ("/**", sorted(CELL_PARAMETERS))}


CALIBRATED = {"target_frame": "base", "camera_frame": "", "camera_pose": [0.1, 0.2, 0.9, 1.0, 0.0, 0.0, 0.0],
              "workspace_min": [0.0, 0.0, 0.0], "workspace_max": [1.0, 1.0, 1.0]}
GRASP_READERS = {"heatmap_node", "oriented_grasp_node", "grasp_executor"}


def calibrated_cell(folder: Path) -> Path:
    """A cell file of the operator's own (another camera pose), passed as cell:=..."""
    path = folder / "my_cell.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": CALIBRATED}}))
    return path


@pytest.mark.parametrize("launch_file", ["perception_graph", "sim_cell"])
def test_every_node_that_places_or_checks_grasps_reads_the_one_cell(launch_file: str, tmp_path: Path) -> None:
    """Both planner nodes and every executor of a launch end with the same camera pose, frames
    and workspace: the real cell's file (the `cell` argument), or the simulation's values."""
    description = load_launch(REPO / "launch" / f"{launch_file}.launch.py")
    arguments = {**{n: a.default_value for n, a in description.arguments.items() if a.default_value is not None},
                 "model": "model.pt", "database": "keypoints.db"}
    readers = [n for n in description.of(Node) if n.executable in GRASP_READERS]
    assert len(readers) == 4  # a planner and an executor per gripper kind
    seen = [cell_values(node, arguments) for node in readers]
    assert all(values == seen[0] for values in seen) and set(seen[0]) == set(CELL_PARAMETERS), seen
    if launch_file == "perception_graph":
        assert seen[0] == file_parameters(CONFIG_DIR / "cell.yaml", "heatmap_node")
        mine = dict(arguments, cell=str(calibrated_cell(tmp_path)))
        assert [cell_values(node, mine) for node in readers] == [CALIBRATED] * 4
    else:
        assert seen[0]["target_frame"] == "world" and seen[0]["camera_pose"][11] == 1.05  # the scene's camera


@pytest.mark.parametrize("cell", CELLS)
def test_each_real_cell_passes_its_cell_file_on(cell: str) -> None:
    description = load_launch(REPO / "launch" / f"{cell}.launch.py")
    (include,) = description.of(IncludeLaunchDescription)
    assert include.launch_arguments["cell"] == LaunchConfiguration("cell")
    assert description.arguments["cell"].default_value == str(CONFIG_DIR / "cell.yaml")


def test_the_processes_of_a_graph_read_the_one_cell(tmp_path: Path) -> None:
    """The through-ROS runner starts the same descriptions: their nodes agree as the launched ones."""
    from dense_descriptor_ros.ros.graph import perception_graph, sim_cell_graph
    from dense_descriptor_ros.ros.graph_processes import node_parameters

    arguments = {"model": "model.pt", "database": "keypoints.db", "executor_backend": "sim",
                 "cell": str(calibrated_cell(tmp_path))}

    def seen(graph) -> list[dict]:
        return [{k: v for k, v in node_parameters(spec, arguments).items() if k in CELL_PARAMETERS}
                for spec in graph if spec.executable in GRASP_READERS]

    assert seen(perception_graph()) == [CALIBRATED] * 4
    simulated = seen(sim_cell_graph())
    assert len(simulated) == 4 and all(values == simulated[0] for values in simulated)
    assert set(simulated[0]) == set(CELL_PARAMETERS) and simulated[0]["camera_pose"][11] == 1.05


SWITCHED = {"console": "operator_console", "rviz": "rviz2"}
CONSOLE_DEFAULT = {"sim_cell": "true", "perception_graph": "false", "realsense_cell": "false", "zivid_cell": "false"}


@pytest.mark.parametrize("launch_file", sorted(CONSOLE_DEFAULT))
def test_console_and_rviz_are_switched_by_their_arguments(launch_file: str) -> None:
    """The operator console starts by default on the simulated cell only; RViz on none. A real
    cell passes both switches to the graph it includes."""
    description = load_launch(REPO / "launch" / f"{launch_file}.launch.py")
    for switch in SWITCHED:
        assert description.arguments[switch].choices == ["true", "false"]
    assert description.arguments["console"].default_value == CONSOLE_DEFAULT[launch_file]
    assert description.arguments["rviz"].default_value == "false"
    if launch_file in CELLS:
        (include,) = description.of(IncludeLaunchDescription)
        passed = (*SWITCHED, "console_port")
        assert {s: include.launch_arguments[s] for s in passed} == {s: LaunchConfiguration(s) for s in passed}
        description = load_launch(Path(include.launch_description_source.launch_file_path))
    for console in ("true", "false"):
        for rviz in ("true", "false"):
            started = {n.executable for n in running(description, console=console, rviz=rviz)}
            assert ("operator_console" in started, "rviz2" in started) == (console == "true", rviz == "true")
    (viewer,) = [n for n in description.of(Node) if n.executable == "rviz2"]
    assert viewer.package == "rviz2" and viewer.arguments[0] == "-d"
    assert Path(viewer.arguments[1]) == REPO / "rviz" / "cell.rviz"  # the package's share in an install
    # the view is in the frame grasps come in: the simulation's world, else the file's (cell.yaml's base_link)
    assert viewer.arguments[2:] == (["-f", "world"] if launch_file == "sim_cell" else [])
    (console_node,) = [n for n in description.of(Node) if n.executable == "operator_console"]
    inline = {k: v for item in console_node.parameters if isinstance(item, dict) for k, v in item.items()}
    assert inline == {name: LaunchConfiguration(argument) for name, argument in
                      (("gripper", "gripper"), ("database", "database"), ("port", "console_port"))}


def test_the_graph_processes_start_the_console_only_when_switched_on(tmp_path: Path) -> None:
    """``ddr sim pick --through-ros`` passes no ``console``: its graph has no web server."""
    from dense_descriptor_ros.ros.graph import sim_cell_graph
    from dense_descriptor_ros.ros.graph_processes import GraphProcesses

    def started(**arguments) -> list[str]:
        return [s.executable for s in GraphProcesses(sim_cell_graph(), arguments, tmp_path).specs]

    assert started(gripper="parallel") == ["sim_cell", "descriptor_node", "oriented_grasp_node", "grasp_executor"]
    assert started(gripper="suction", console="true")[-2:] == ["grasp_executor", "operator_console"]
    assert "operator_console" not in started(gripper="suction", console="false")
