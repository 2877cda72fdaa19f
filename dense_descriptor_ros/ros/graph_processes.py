"""A graph description (``ros.graph``) started as node processes, the way ``ros2 launch`` starts it.

``launch`` is not on PyPI, so this starts the same executables with the same parameters (the
config files, then the values, merged into one parameter file per node) and remappings, each in
its own process with its output in ``<log_dir>/<node>.log``; stopping sends SIGINT, as launch
does on Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from dense_descriptor_ros.ros.graph import Arg, NodeSpec

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
STOP_TIMEOUT_S = 10.0


class GraphError(RuntimeError):
    """A node of the graph could not start or stopped on its own."""


def file_parameters(path: Path, node: str) -> dict[str, Any]:
    """What the parameter file ``path`` sets for ``node``: its ``/**`` (every node) section, then
    the node's own."""
    document = yaml.safe_load(Path(path).read_text())
    return {k: v for section in ("/**", node) for k, v in document.get(section, {}).get("ros__parameters", {}).items()}


def node_parameters(spec: NodeSpec, arguments: dict[str, Any], config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Every parameter ``spec`` sets, as launch_ros would apply them: files, then values in order."""
    merged: dict[str, Any] = {}
    for item in spec.parameters:
        if isinstance(item, str):
            merged.update(file_parameters(config_dir / f"{item}.yaml", spec.executable))
        elif isinstance(item, Arg):
            merged.update(file_parameters(arguments[item.name], spec.executable))
        else:
            merged.update({k: arguments[v.name] if isinstance(v, Arg) else v for k, v in item.items()})
    return merged


class GraphProcesses:
    """The nodes of ``specs`` that run for ``arguments`` (their gripper kind and switches), started
    on ``__enter__``."""

    def __init__(self, specs: list[NodeSpec], arguments: dict[str, Any], log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.specs = [s for s in specs if s.runs(arguments)]
        self.arguments, self.log_dir, self.env = arguments, Path(log_dir), env
        self.processes: dict[str, subprocess.Popen] = {}

    def command(self, spec: NodeSpec) -> list[str]:
        executable = Path(sys.executable).parent / spec.executable
        if not executable.is_file():
            raise GraphError(f"no {executable}: install the package's entry points (pip install -e .)")
        parameters = self.log_dir / f"{spec.executable}.params.yaml"
        document = {spec.executable: {"ros__parameters": node_parameters(spec, self.arguments)}}
        parameters.write_text(yaml.safe_dump(document))
        remaps = [arg for source, target in spec.remappings for arg in ("-r", f"{source}:={target}")]
        return [str(executable), "--ros-args", "--params-file", str(parameters), *remaps]

    def __enter__(self) -> "GraphProcesses":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for spec in self.specs:
                log = open(self.log_dir / f"{spec.executable}.log", "w")  # noqa: SIM115 (closed with the process)
                self.processes[spec.executable] = subprocess.Popen(
                    self.command(spec), stdout=log, stderr=subprocess.STDOUT, env=self.env)
                log.close()
        except BaseException:
            self.stop()
            raise
        return self

    def check(self) -> None:
        """Raise if a node has stopped, naming it with the end of its log."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text().strip().splitlines()[-5:]
                raise GraphError(f"{name} stopped with exit code {process.returncode}: " + " | ".join(tail))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def local_ros_environment(domain_id: int) -> dict[str, str]:
    """This process's environment with a ROS domain of the graph's own, on this machine only."""
    return {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
