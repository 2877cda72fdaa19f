"""Descriptor inference per backbone x resolution x precision (x test-time rotations), batch 1,
channels_last.

Reports median/p90 milliseconds, FLOPs per frame and the achieved FLOP/s as a fraction of the
matmul peak measured in the same run for the same precision. Input is already on the device
(model time only; bench_heatmap's end-to-end row includes the upload).

    python -m benchmarks.bench_inference --backbones resnet18 --sizes 320x240,640x480
    python -m benchmarks.bench_inference --backbones resnet18 --width 32 --sizes 320x240 --rotations 1,4
"""
from __future__ import annotations

import argparse

import torch
from tqdm import tqdm

from benchmarks.common import (backbone_label, achieved, add_common_arguments, bf16_notes, count_flops,
                               descriptor_fn, environment, matmul_peak, parse_list, parse_sizes,
                               precision_supported, setup_run, time_call,
                               write_report)
from dense_descriptor_ros.model.inference import COMPILE_MODES, prepare_for_inference
from dense_descriptor_ros.model import DescriptorNet, ModelConfig
from dense_descriptor_ros.model.backbone import LAYOUTS
from dense_descriptor_ros.model.rotations import ROTATIONS

COLUMNS = [("backbone", "backbone", ""), ("size", "WxH", ""), ("precision", "prec", ""),
           ("layout", "layout", ""), ("rotations", "rot", ""), ("median_ms", "median ms", ".1f"),
           ("p90_ms", "p90 ms", ".1f"),
           ("gflop_per_frame", "GFLOP/frame", ".2f"), ("gflop_per_s", "GFLOP/s", ".1f"),
           ("peak_fraction", "of peak", ".1%")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", type=parse_list(LAYOUTS), default=list(LAYOUTS))
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("320x240,640x480,1280x720"),
                        help="comma-separated WIDTHxHEIGHT")
    parser.add_argument("--precisions", type=parse_list(["fp32", "bf16", "fp16"]), default=None,
                        help="default: fp32,bf16 on CPU; fp32,fp16 on CUDA")
    parser.add_argument("--layouts", type=parse_list(["channels_last", "contiguous"]),
                        default=["channels_last"], help="memory formats to compare")
    parser.add_argument("--rotations", type=parse_list(map(str, ROTATIONS)), default=["1"],
                        help="test-time rotation ensembles to time (model.rotations: passes per frame)")
    parser.add_argument("--descriptor-dim", type=int, default=64)
    parser.add_argument("--compile", default=None, choices=COMPILE_MODES,
                        help="torch.compile mode (reduce-overhead = CUDA graphs on a GPU)")
    add_common_arguments(parser, "docs/benchmarks/inference.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_run(args)
    env = environment(device)
    precisions = args.precisions or (["fp32", "fp16"] if device.type == "cuda" else ["fp32", "bf16"])
    skipped = [p for p in precisions if not precision_supported(device, p)]
    precisions = [p for p in precisions if p not in skipped]
    peaks = {p: matmul_peak(device, p) for p in tqdm(precisions, desc="matmul peak", leave=False)}

    grid = [(b, s, p, layout, int(r)) for b in args.backbones for s in args.sizes for p in precisions
            for layout in args.layouts for r in args.rotations]
    rows, flops_cache = [], {}
    for backbone, (height, width), precision, layout, rotations in tqdm(grid, desc="inference"):
        torch.manual_seed(0)
        model = DescriptorNet(ModelConfig(backbone, args.descriptor_dim, args.width, rotations=rotations))
        images = torch.rand(1, 3, height, width, device=device)
        if (backbone, height, width) not in flops_cache:
            flops_cache[backbone, height, width] = count_flops(model.to(device), images)
        flops = flops_cache[backbone, height, width] * rotations
        model = prepare_for_inference(model, device, args.compile, layout == "channels_last")
        if layout == "channels_last":
            images = images.contiguous(memory_format=torch.channels_last)
        timing = time_call(descriptor_fn(model, images, device, precision), device,
                           args.warmup, args.repeats)
        rows.append({"backbone": backbone_label(backbone, args.width), "size": f"{width}x{height}", "precision": precision,
                     "layout": layout, "rotations": rotations, "compile": args.compile, "batch": 1,
                     **timing.to_dict(),
                     "gflop_per_frame": flops / 1e9,
                     **achieved(flops, timing.median_ms, peaks[precision])})
    notes = [f"precision {p} not supported on {device.type}: skipped" for p in skipped]
    notes += bf16_notes(device, env, precisions)
    notes.append("random-initialised weights (timing does not depend on them); FLOPs count "
                 "conv/linear multiply-adds x 2; input already on the device")
    write_report(args.out, "descriptor inference", env, peaks, rows, COLUMNS, notes)


if __name__ == "__main__":
    main()
