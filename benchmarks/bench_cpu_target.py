"""Issue 26's CPU target: image -> suction pose <= 100 ms at 320x240 on 2 cores, per model file.

For each checkpoint, the path a user's node runs (``DescriptorModel.load`` with or without
``torch.compile``, ``describe``, ``SuctionPlanner.plan`` with the colour check and depth), timed
end to end; where the time goes in the eager network (stem to layer3, the dilated layer4, head
and normalisation) and in the planner; FLOPs; and, with ``--val-pairs``, AUC@50 on validation
pairs, so a faster model is only taken with its accuracy.

    python -m benchmarks.bench_cpu_target --models models/ddr_resnet18_sim.pt,models/ddr_resnet18_l4x256_sim.pt \
        --val-pairs VAL/pairs.json --out docs/benchmarks/cpu_target.json
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data

from benchmarks.bench_heatmap import camera, colour_check, tilted_bin_depth
from benchmarks.common import (add_common_arguments, count_flops, environment, matmul_peak, parse_list,
                               parse_sizes, setup_run, time_call, write_report)
from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.evaluation.predict import evaluate_pairs, predict_pairs
from dense_descriptor_ros.grasping import depth_in_metres
from dense_descriptor_ros.grasping.planner import Observation, PlannerSettings, SuctionPlanner
from dense_descriptor_ros.model import DescriptorModel, load_checkpoint
from dense_descriptor_ros.model.inference import COMPILE_MODES, prepare_for_inference
from dense_descriptor_ros.training.distillation import trunk

COLUMNS = [("model", "model", ""), ("stage", "stage", ""), ("compile", "compile", ""),
           ("median_ms", "median ms", ".1f"), ("p90_ms", "p90 ms", ".1f"),
           ("gflop_per_frame", "GFLOP/frame", ".2f"), ("val_auc50", "val AUC@50", ".4f"),
           ("grasp_ok", "grasp ok", "")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=lambda s: [Path(p) for p in s.split(",")],
                        default=[Path("models/ddr_resnet18_sim.pt")], help="checkpoints, comma-separated")
    parser.add_argument("--size", type=parse_sizes, default=parse_sizes("320x240"))
    parser.add_argument("--compile", type=parse_list(["none", *COMPILE_MODES]), default=["none", "default"])
    parser.add_argument("--val-pairs", type=Path, default=None,
                        help="validation pairs.json (images beside it): adds AUC@50 per model")
    add_common_arguments(parser, "docs/benchmarks/cpu_target.json")
    parser.set_defaults(repeats=20)
    return parser.parse_args(argv)


def scene(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A real photo as the frame, the depth of a tilted bin floor (metres) and an operator's
    clicks ``(10, 2)`` around one spot."""
    rgb = np.asarray(Image.fromarray(data.coffee()).resize((width, height)))
    depth = depth_in_metres(tilted_bin_depth(height, width, camera(height, width)))
    rng = np.random.default_rng(0)
    clicks = np.array([width / 2, height / 2]) + rng.uniform(-4, 4, (10, 2))
    return rgb, depth, clicks


def network_stage_rows(path: Path, images: torch.Tensor, args: argparse.Namespace) -> list[dict]:
    """Eager time of stem..layer3, layer4 and head + normalisation (channels_last, no grad)."""
    network, _ = load_checkpoint(path)
    network = prepare_for_inference(network, "cpu")
    images = images.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        features = trunk(network, images)
        deep = network.backbone.layer4(features)
        stages = {"stem..layer3": lambda: trunk(network, images),
                  "layer4": lambda: network.backbone.layer4(features),
                  "head + normalise": lambda: F.normalize(network.head(deep), dim=1)}
        rows = []
        for stage, fn in stages.items():
            timing = time_call(fn, torch.device("cpu"), args.warmup, args.repeats)
            rows.append({"model": path.name, "stage": stage, "compile": "none", **timing.to_dict()})
    flops = {"stem..layer3": count_flops(network, images) - count_flops(network.backbone.layer4, features)
             - count_flops(network.head, deep),
             "layer4": count_flops(network.backbone.layer4, features), "head + normalise": count_flops(network.head, deep)}
    for row in rows:
        row["gflop_per_frame"] = flops[row["stage"]] / 1e9
    return rows


def end_to_end_rows(path: Path, args: argparse.Namespace) -> list[dict]:
    """Image -> suction pose through the user's path, per compile mode, and the planner alone."""
    (height, width), = args.size[:1]
    rgb, depth, clicks = scene(height, width)
    intrinsics = camera(height, width)
    flops = count_flops(load_checkpoint(path)[0], torch.rand(1, 3, height, width)) / 1e9
    rows = []
    for mode in args.compile:
        model = DescriptorModel.load(path, "cpu", compile_mode=None if mode == "none" else mode)
        signatures, check = colour_check(rgb, clicks)
        planner = SuctionPlanner({"object": torch.from_numpy(model.describe_pixels(rgb, clicks))}, signatures,
                                 PlannerSettings(eta=model.eta, appearance=check))

        def image_to_pose():
            return planner.plan(Observation(rgb, depth, intrinsics, model.describe(rgb), None))

        plan = image_to_pose()
        timing = time_call(image_to_pose, torch.device("cpu"), args.warmup, args.repeats)
        rows.append({"model": path.name, "stage": "image->suction pose", "compile": mode, **timing.to_dict(),
                     "gflop_per_frame": flops, "grasp_ok": plan.ok})
        if mode == "none":
            observation = Observation(rgb, depth, intrinsics, model.describe(rgb), None)
            timing = time_call(lambda: planner.plan(observation), torch.device("cpu"), args.warmup, args.repeats)
            rows.append({"model": path.name, "stage": "planner (colour check, heatmap, pose)", "compile": mode,
                         **timing.to_dict(), "grasp_ok": plan.ok})
    return rows


def validation_auc(path: Path, pairs_file: Path) -> float:
    """AUC@50 of the model on validation pairs (full-resolution matching, as ``ddr evaluate``)."""
    model = DescriptorModel.load(path, "cpu")
    return evaluate_pairs(predict_pairs(model, load_pairs(pairs_file), pairs_file.parent, progress=False))["auc@50"]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_run(args)
    if device.type != "cpu":
        raise SystemExit("this benchmark is the CPU target: run it with --device cpu")
    env = environment(device)
    peaks = {"fp32": matmul_peak(device, "fp32")}
    (height, width), = args.size[:1]
    rgb, _, _ = scene(height, width)
    images = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float().div(255.0)
    rows = []
    for path in args.models:
        auc = validation_auc(path, args.val_pairs) if args.val_pairs else None
        for row in [*network_stage_rows(path, images, args), *end_to_end_rows(path, args)]:
            rows.append({**row, "val_auc50": auc if row["stage"] == "image->suction pose" else None})
    notes = ["image->suction pose: uint8 frame -> DescriptorModel.describe (channels_last, fp32) -> "
             "SuctionPlanner.plan (colour check with depth, fused heatmap, suction pose) on one object "
             "of 10 clicks", f"fp32 matmul peak {peaks['fp32']['flops_per_s'] / 1e9:.0f} GFLOP/s in this run"]
    write_report(args.out, "CPU target", env, peaks, rows, COLUMNS, notes)


if __name__ == "__main__":
    main()
