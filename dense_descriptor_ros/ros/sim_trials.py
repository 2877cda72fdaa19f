"""``ddr sim pick --through-ros``: the closed-loop trials, every grasp through the node processes.

The simulated cell graph (``ros.graph.sim_cell_graph``, the one ``sim_cell.launch.py`` starts)
runs as processes; this client only drives the trials as an operator would: lay the next heap
(``/sim_cell/reshuffle``), wait for the planner node's decision on a frame of that heap
(``grasp/plan``), let the executor pick (``/grasp_executor/execute``: it drives the cell node's
arm, vacuum and jaws itself) and read the cell's verdict (``sim_cell/pick``). The heaps and the
judging are those of the in-process trials for the same seed, so the two agree trial by trial.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from std_msgs.msg import String
from std_srvs.srv import Trigger
from tqdm import tqdm

from dense_descriptor_ros.grasping.appearance import AppearanceCheck
from dense_descriptor_ros.ros.graph import PLANNER_NODES, sim_cell_graph
from dense_descriptor_ros.ros.graph_processes import GraphProcesses, local_ros_environment
from dense_descriptor_ros.simulation.experiments.pick_trials import TrialResult
from dense_descriptor_ros.simulation.experiments.reference import ReferenceAnnotation

PLAN_TOPICS = {"suction": "grasp/plan", "parallel": "oriented_grasp/plan"}
STARTUP_TIMEOUT_S = 180.0  # the first frame: node start-up and model loading on a busy machine
STEP_TIMEOUT_S = 120.0


class TrialClient:
    """The operator's side of the graph: services to call, topics to read, in one node."""

    def __init__(self, node: Node, gripper: str, graph: GraphProcesses) -> None:
        self.node, self.graph = node, graph
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)
        self.plans: list[dict] = []
        self.picks: list[dict] = []
        self.status: dict = {}
        reliable = QoSProfile(depth=50)
        node.create_subscription(String, PLAN_TOPICS[gripper], lambda m: self.plans.append(json.loads(m.data)), reliable)
        self.verdicts = node.create_subscription(String, "sim_cell/pick", lambda m: self.picks.append(json.loads(m.data)),
                                                 reliable)
        node.create_subscription(String, "execution/status", self._on_status, reliable)
        self.reshuffle = node.create_client(Trigger, "/sim_cell/reshuffle")
        self.execute = node.create_client(Trigger, "/grasp_executor/execute")

    def _on_status(self, msg: String) -> None:
        self.status = json.loads(msg.data)

    def wait(self, done, timeout: float, what: str):
        """Spin until ``done()`` gives something, checking that every node still runs."""
        deadline = time.monotonic() + timeout
        while (found := done()) is None or found is False:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout:.0f} s (node logs: {self.graph.log_dir})")
            self.graph.check()
            self.executor.spin_once(timeout_sec=0.05)
        return found

    def call(self, client, what: str) -> Trigger.Response:
        self.wait(lambda: client.service_is_ready() or None, STEP_TIMEOUT_S, f"{what} service")
        future = client.call_async(Trigger.Request())
        return self.wait(lambda: future.result() if future.done() else None, STEP_TIMEOUT_S, f"{what} answer")

    def trial(self, index: int) -> TrialResult:
        """Trial ``index``: lay its heap (trial 0's lies at start), plan on it, pick, judge."""
        began = time.perf_counter()
        laid = 0 if index == 0 else json.loads(self.call(self.reshuffle, "reshuffle").message)["stamp_ns"]
        plan = self.wait(lambda: next((p for p in self.plans if p["stamp_ns"] >= laid), None),
                         STARTUP_TIMEOUT_S if index == 0 else STEP_TIMEOUT_S, f"plan for trial {index}")
        self.plans.clear()
        timings = {"plan": 1000 * (time.perf_counter() - began)}
        shift = plan["shift"]
        if not plan["ok"]:
            return TrialResult(index, False, False, False, False, plan["detail"], plan["object"], plan["confidence"],
                               timings)
        began = time.perf_counter()
        self.wait(lambda: (self.status.get("grasp_stamp_ns") or 0) >= laid or None, STEP_TIMEOUT_S,
                  "the plan's grasp at the executor")
        # a verdict published before the cell's publisher matched ours is lost (volatile topic); nothing
        # else of the trial so far needs the cell's node, so on a busy machine it may not have matched yet
        self.wait(lambda: self.verdicts.get_publisher_count() > 0 or None, STEP_TIMEOUT_S, "the cell's verdict topic")
        answer = self.call(self.execute, "execute")
        if not answer.success:
            raise RuntimeError(f"the executor did not start trial {index}'s pick: {answer.message}")
        verdict = self.wait(lambda: next((p for p in self.picks if p["index"] == index), None), STEP_TIMEOUT_S,
                            f"verdict of trial {index}")
        self.picks.clear()
        timings["execution"] = 1000 * (time.perf_counter() - began)
        return TrialResult(index, True, verdict["success"], verdict["target_picked"], verdict["preference_hit"],
                           verdict["outcome"]["detail"], plan["object"], plan["confidence"], timings,
                           verdict["outcome"], shift=None if shift is None else float(shift))


def run_trials_through_ros(annotations: Path, gripper: str, model: Path, out: Path, trials: int, seed: int,
                           size: tuple[int, int] = (240, 320), appearance: AppearanceCheck | None = None,
                           progress: bool = True) -> list[TrialResult]:
    """``trials`` picks of seed ``seed`` at image ``size`` (H, W) through the launched graph's
    processes (their logs under ``out/logs``), with the colour check ``appearance`` (None: the
    gripper's own)."""
    reference = ReferenceAnnotation.load(annotations)
    if gripper not in PLANNER_NODES:
        raise ValueError(f"gripper must be one of {tuple(PLANNER_NODES)}, got {gripper!r}")
    appearance = appearance or AppearanceCheck.for_gripper(gripper)
    colour = {f"appearance_{name}": float(getattr(appearance, name))
              for name in ("radius", "power", "min_similarity", "depth_tolerance")}
    arguments = {"gripper": gripper, "model": str(Path(model).resolve()), "database": str(reference.database.resolve()),
                 "reference": str(Path(annotations).resolve()), "seed": seed, "first_trial": 0,
                 "executor_backend": "sim", "height": size[0], "width": size[1]}
    domain = 100 + os.getpid() % 100  # a domain of this run's own: another graph on the machine is not ours
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # the graph runs on this machine
    results = []
    with GraphProcesses(sim_cell_graph(colour), arguments, Path(out) / "logs", local_ros_environment(domain)) as graph:
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=domain)
        node = rclpy.create_node("sim_trials", context=context)
        try:
            client = TrialClient(node, gripper, graph)
            for index in tqdm(range(trials), desc=f"{gripper} picks through ROS", unit="trial", disable=not progress):
                results.append(client.trial(index))
        finally:
            node.destroy_node()
            rclpy.try_shutdown(context=context)
    return results
