"""Frame stamp -> grasp published, through the perception graph's node processes, per camera
rate, frame size and model.

The graph is the simulated cell's perception graph (``ros.graph.sim_cell_graph`` without the
cell node: descriptor, heatmap and executor nodes with the simulated camera's pose and
workspace), started as processes the way the launch files start them
(``ros.graph_processes``), with ``sim_camera`` as the frame source at the row's rate and size.
The heatmap node plans on the simulated operator's clicks on every face of the tea box
(``ddr sim annotate-reference``), made with the row's model at the row's size.

A probe node in this process records, per frame stamp (the camera stamps a frame when it starts
rendering it, as a driver stamps exposure): the camera's ``camera_info``, the descriptor node's
``descriptors/camera_info``, the heatmap node's decision (``grasp/plan``) and ``grasp``, and
the wall-clock time each arrived. Latency = arrival at the probe - frame stamp (one clock: all
processes run on this machine). Frames stamped in the measured window that never got a
decision are dropped: either the descriptor node skipped them (busy, or older than its
``max_age_s``) or the heatmap node did not pair them (lost, or its queue moved on).

    python -m benchmarks.bench_graph --rates 5,15,30 --sizes 320x240,640x480 --duration 40
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import environment, matmul_peak, parse_sizes, write_report

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = (REPO / "models" / "ddr_resnet18_sim.pt", REPO / "models" / "ddr_resnet18_w32_sim.pt")
DOMAIN_ID = 92
FIRST_PLAN_TIMEOUT_S = 240.0  # node start-up, model loading and the first frame on a busy 2-core machine
COLUMNS = [("model", "model", ""), ("size", "WxH", ""), ("rate_hz", "rate Hz", ".0f"),
           ("camera_hz", "camera Hz", ".1f"), ("descriptor_hz", "descr. Hz", ".2f"),
           ("plan_hz", "plans Hz", ".2f"), ("grasp_hz", "grasps Hz", ".2f"),
           ("grasp_median_ms", "grasp median ms", ".0f"), ("grasp_p95_ms", "grasp p95 ms", ".0f"),
           ("descriptor_median_ms", "descr. median ms", ".0f"), ("plan_median_ms", "plan median ms", ".0f"),
           ("dropped_fraction", "dropped", ".1%"),
           ("load_start", "load", ".1f")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=lambda s: [Path(p) for p in s.split(",")], default=list(SHIPPED_MODELS),
                        help="checkpoints, comma-separated (default: both shipped models)")
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("320x240,640x480"),
                        help="camera frame sizes WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--rates", type=lambda s: [float(v) for v in s.split(",")], default=[5.0, 15.0, 30.0],
                        help="camera rates in Hz, comma-separated")
    parser.add_argument("--duration", type=float, default=40.0, help="measured seconds per row")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds left unmeasured after the first decision (queues fill, caches warm)")
    parser.add_argument("--drain", type=float, default=5.0,
                        help="seconds to wait after the window for answers to frames stamped in it")
    parser.add_argument("--domain", type=int, default=DOMAIN_ID, help="ROS_DOMAIN_ID of the graph")
    parser.add_argument("--objects", type=int, default=8, help="objects in the simulated bin")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the annotations and node logs here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/graph.json"))
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.settle < 0 or args.drain < 0 or min(args.rates) <= 0:
        parser.error("--duration and --rates must be > 0, --settle and --drain >= 0")
    missing = [str(p) for p in args.models if not p.is_file()]
    if missing:
        parser.error(f"no such checkpoint: {', '.join(missing)}")
    return args


@dataclass
class Arrivals:
    """What the probe saw: frame stamp (ns) -> arrival time (ns) per stream."""

    camera: dict[int, int] = field(default_factory=dict)
    descriptors: dict[int, int] = field(default_factory=dict)
    plans: dict[int, int] = field(default_factory=dict)
    grasps: dict[int, int] = field(default_factory=dict)


def stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarise(arrivals: Arrivals, start_ns: int, end_ns: int) -> dict:
    """Rates, latencies and dropped frames of the frames stamped in ``[start_ns, end_ns)``."""
    seconds = (end_ns - start_ns) / 1e9

    def window(stream: dict[int, int]) -> dict[int, int]:
        return {stamp: arrived for stamp, arrived in stream.items() if start_ns <= stamp < end_ns}

    camera, descriptors, plans, grasps = (window(s) for s in (arrivals.camera, arrivals.descriptors,
                                                              arrivals.plans, arrivals.grasps))
    grasp_ms = [(arrived - stamp) / 1e6 for stamp, arrived in grasps.items()]
    plan_ms = [(arrived - stamp) / 1e6 for stamp, arrived in plans.items()]
    descriptor_ms = [(arrived - stamp) / 1e6 for stamp, arrived in descriptors.items()]
    frames = set(camera) | set(descriptors) | set(plans)  # a camera_info lost by the probe still counts
    undecided = frames - set(plans)
    return {
        "frames": len(frames), "descriptor_frames": len(descriptors), "plans": len(plans), "grasps": len(grasps),
        "camera_hz": len(frames) / seconds, "descriptor_hz": len(descriptors) / seconds,
        "plan_hz": len(plans) / seconds, "grasp_hz": len(grasps) / seconds,
        "grasp_median_ms": percentile(grasp_ms, 50), "grasp_p95_ms": percentile(grasp_ms, 95),
        "grasp_max_ms": max(grasp_ms, default=None),
        "descriptor_median_ms": percentile(descriptor_ms, 50), "descriptor_p95_ms": percentile(descriptor_ms, 95),
        "plan_median_ms": percentile(plan_ms, 50), "plan_p95_ms": percentile(plan_ms, 95),
        "dropped": len(undecided), "dropped_fraction": len(undecided) / len(frames) if frames else None,
        "dropped_before_descriptors": len(undecided - set(descriptors)),
        "dropped_after_descriptors": len(undecided & set(descriptors)),
    }


def annotate(model_path: Path, size: tuple[int, int], folder: Path) -> Path:
    """The simulated operator's tea-box clicks for ``model_path`` at ``size`` (H, W); the database."""
    from dense_descriptor_ros.model import DescriptorModel
    from dense_descriptor_ros.simulation.experiments.reference import REFERENCE_OBJECT, annotate_reference

    database = folder / "keypoints.sqlite"
    annotate_reference(DescriptorModel.load(model_path), database, folder, REFERENCE_OBJECT["suction"], size)
    return database


def graph_specs(size: tuple[int, int], rate: float, objects: int) -> list:
    """``sim_camera`` at ``rate`` and ``size``, then the simulated cell's perception nodes."""
    from dense_descriptor_ros.ros.graph import NodeSpec, sim_cell_graph

    camera = NodeSpec("sim_camera", ("sim_camera", {"width": size[1], "height": size[0], "rate": rate,
                                                    "n_objects": objects, "seed": 0}))
    return [camera, *(spec for spec in sim_cell_graph() if spec.executable != "sim_cell")]


def measure(model_path: Path, database: Path, size: tuple[int, int], rate: float,
            args: argparse.Namespace, log_dir: Path) -> dict:
    """One row: start the graph, wait for its first decision, settle, measure, drain, stop."""
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import String

    from dense_descriptor_ros.ros.graph import COLOR_INFO
    from dense_descriptor_ros.ros.graph_processes import GraphProcesses, local_ros_environment

    arguments = {"gripper": "suction", "model": str(model_path.resolve()), "database": str(database),
                 "executor_backend": "fake"}
    arrivals = Arrivals()
    env = {**local_ros_environment(args.domain), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    with GraphProcesses(graph_specs(size, rate, args.objects), arguments, log_dir, env) as graph:
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=args.domain)
        executor = SingleThreadedExecutor(context=context)
        try:
            probe = rclpy.create_node("graph_probe", context=context)
            executor.add_node(probe)
            any_reliability = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)

            def record(stream: dict[int, int], stamp_of):
                return lambda msg: stream.setdefault(stamp_of(msg), time.time_ns())

            probe.create_subscription(CameraInfo, COLOR_INFO, record(arrivals.camera, lambda m: stamp_ns(m.header)),
                                      any_reliability)
            probe.create_subscription(CameraInfo, "descriptors/camera_info",
                                      record(arrivals.descriptors, lambda m: stamp_ns(m.header)), any_reliability)
            probe.create_subscription(String, "grasp/plan",
                                      record(arrivals.plans, lambda m: json.loads(m.data)["stamp_ns"]),
                                      QoSProfile(depth=100))
            probe.create_subscription(PoseStamped, "grasp", record(arrivals.grasps, lambda m: stamp_ns(m.header)),
                                      any_reliability)

            def spin_for(seconds: float, until=lambda: False) -> None:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline and not until():
                    graph.check()
                    executor.spin_once(timeout_sec=0.05)

            spin_for(FIRST_PLAN_TIMEOUT_S, lambda: bool(arrivals.plans))
            if not arrivals.plans:
                raise TimeoutError(f"no decision from heatmap_node within {FIRST_PLAN_TIMEOUT_S:.0f} s "
                                   f"(node logs: {log_dir})")
            spin_for(args.settle)
            load_start = os.getloadavg()[0]
            start_ns = time.time_ns()
            spin_for(args.duration)
            end_ns = time.time_ns()
            load_end = os.getloadavg()[0]
            spin_for(args.drain)
        finally:
            executor.shutdown()
            context.try_shutdown()
    return {**summarise(arrivals, start_ns, end_ns), "load_start": load_start, "load_end": load_end}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    env = environment(torch.device("cpu"))
    peaks = {"fp32": matmul_peak(torch.device("cpu"), "fp32")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_graph_") as temporary:
        folder = args.work_dir or temporary
        for model_path in args.models:
            for size in args.sizes:
                row_dir = Path(folder) / f"{model_path.stem}_{size[1]}x{size[0]}"
                database = annotate(model_path, size, row_dir / "reference")
                for rate in args.rates:
                    print(f"{model_path.name} {size[1]}x{size[0]} at {rate:g} Hz ...", flush=True)
                    result = measure(model_path, database, size, rate, args, row_dir / f"logs_{rate:g}hz")
                    rows.append({"model": model_path.name, "size": f"{size[1]}x{size[0]}", "rate_hz": rate,
                                 "duration_s": args.duration, **result})
    notes = ["latency = frame stamp (camera, before rendering) -> arrival at a probe node; decisions "
             "(grasp/plan) come for every frame planned, grasps only where one passed the node's checks",
             "dropped = frames stamped in the window with no decision: before descriptors (descriptor "
             "node busy or frame too old) or after (heatmap node did not pair the frame)",
             "descriptor node as the simulated cell launches it: device cpu, fp32, eager",
             "load = 1-minute load average at the window's start; other jobs shared this machine"]
    write_report(args.out, "perception graph: frame -> grasp through node processes", env, peaks, rows,
                 COLUMNS, notes)


if __name__ == "__main__":
    main()
