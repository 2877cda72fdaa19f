"""Grasp-preference heatmap + suction grasp per keypoint database size, and end to end.

Two tables in one report:

* heatmap (stride-8 grid, one matrix product for all keypoints) and heatmap + suction grasp
  for 1, 10, 100 keypoints on a 640x480 frame's 64-d descriptors, and the colour check's
  weights (``grasping.appearance``, disks of 8 px per 320 px of width) for one object;
* end to end: uint8 RGB + uint16 depth (host) -> descriptors -> heatmap ranked by the colour
  check -> suction grasp pose, ResNet-18 at 320x240 by default (issue 6's CPU target: median
  <= 100 ms).

    python -m benchmarks.bench_heatmap --sizes 640x480 --e2e-size 320x240
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from benchmarks.common import (backbone_label, achieved, add_common_arguments, bf16_notes, count_flops, environment,
                               matmul_peak, parse_list, parse_sizes, precision_supported,
                               setup_run, time_call, write_report)
from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.grasping import (AppearanceCheck, appearance_weights, depth_in_metres, fused_heatmap,
                                           suction_grasp)
from dense_descriptor_ros.grasping.appearance import colour_signature
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, autocast_context
from dense_descriptor_ros.model.backbone import LAYOUTS
from dense_descriptor_ros.model.inference import COMPILE_MODES, prepare_for_inference

COLUMNS = [("stage", "stage", ""), ("backbone", "backbone", ""), ("size", "WxH", ""),
           ("precision", "prec", ""), ("compile", "compile", ""), ("keypoints", "keypoints", ""),
           ("median_ms", "median ms", ".2f"), ("p90_ms", "p90 ms", ".2f"),
           ("gflop_per_frame", "GFLOP/frame", ".4f"), ("gflop_per_s", "GFLOP/s", ".2f"),
           ("peak_fraction", "of peak", ".1%"), ("grasp_ok", "grasp ok", "")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("640x480"),
                        help="frame sizes for the heatmap table (WIDTHxHEIGHT, comma-separated)")
    parser.add_argument("--keypoints", type=lambda s: [int(v) for v in s.split(",")], default=[1, 10, 100],
                        help="keypoint database sizes")
    parser.add_argument("--descriptor-dim", type=int, default=64)
    parser.add_argument("--e2e-backbone", type=parse_list(LAYOUTS), default=["resnet18"])
    parser.add_argument("--e2e-size", type=parse_sizes, default=parse_sizes("320x240"))
    parser.add_argument("--e2e-precisions", type=parse_list(["fp32", "bf16", "fp16"]), default=None,
                        help="default: fp32,bf16 on CPU; fp32,fp16 on CUDA")
    parser.add_argument("--e2e-keypoints", type=int, default=10)
    parser.add_argument("--e2e-compile", type=parse_list(["none", *COMPILE_MODES]), default=["none", "default"],
                        help="torch.compile modes of the network to compare (none = eager)")
    parser.add_argument("--skip-e2e", action="store_true")
    add_common_arguments(parser, "docs/benchmarks/heatmap.json")
    return parser.parse_args(argv)


def tilted_bin_depth(height: int, width: int, intrinsics: Intrinsics) -> np.ndarray:
    """uint16 millimetre depth ``(H, W)`` of a plane 0.8 m away tilted 20 degrees, as a camera sends it."""
    ys, xs = np.mgrid[0:height, 0:width]
    normal = np.array([np.sin(np.radians(20.0)), 0.0, -np.cos(np.radians(20.0))])
    rays = np.stack([(xs - intrinsics.cx) / intrinsics.fx, (ys - intrinsics.cy) / intrinsics.fy,
                     np.ones(xs.shape)], -1)
    depth = np.dot(normal, [0.0, 0.0, 0.8]) / (rays @ normal)
    return np.round(depth * 1000.0).astype(np.uint16)


def camera(height: int, width: int) -> Intrinsics:
    return Intrinsics(fx=0.95 * width, fy=0.95 * width, cx=(width - 1) / 2, cy=(height - 1) / 2,
                      width=width, height=height)


def colour_check(rgb: np.ndarray, clicks: np.ndarray) -> tuple[dict, AppearanceCheck]:
    """The signature around ``clicks (N, 2)`` and the check, scaled to the image width."""
    check = AppearanceCheck(radius=8.0 * rgb.shape[1] / 320)
    return {"object": colour_signature(rgb, clicks, check)}, check


def heatmap_rows(args: argparse.Namespace, device: torch.device, peak: dict) -> list[dict]:
    rows = []
    generator = torch.Generator().manual_seed(0)
    for height, width in args.sizes:
        rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
        signature, check = colour_check(rgb, np.array([[width / 2, height / 2]]))
        grid = (-(-height // 8), -(-width // 8))
        intrinsics = camera(height, width)
        depth = depth_in_metres(tilted_bin_depth(height, width, intrinsics))
        timing = time_call(lambda: appearance_weights(rgb, signature, grid, check, depth), torch.device("cpu"),
                           args.warmup, args.repeats)
        rows.append({"stage": "colour check", "size": f"{width}x{height}", "precision": "uint8 + fp64",
                     "keypoints": 1, **timing.to_dict()})
        descriptors = F.normalize(torch.randn(1, args.descriptor_dim, *grid, generator=generator), dim=1).to(device)
        for count in tqdm(args.keypoints, desc=f"heatmap {width}x{height}", leave=False):
            # one grasp spot annotated ``count`` times (views differ a little: cosine ~0.99 to the
            # frame's descriptor there), so the fused map is confident and a grasp exists
            cell = int(torch.randint(0, grid[0] * grid[1], (1,), generator=generator))
            spot = descriptors.flatten(2)[0, :, cell].cpu()
            noise = 0.02 * torch.randn(count, args.descriptor_dim, generator=generator)
            keypoints = F.normalize(spot + noise, dim=-1).to(device)
            flops = 2 * count * args.descriptor_dim * grid[0] * grid[1]

            def heatmap_only() -> None:
                fused_heatmap(descriptors, keypoints, (height, width)).best()

            def heatmap_and_grasp() -> object:
                return suction_grasp(fused_heatmap(descriptors, keypoints, (height, width)), depth, intrinsics)

            grasp_ok = heatmap_and_grasp().ok
            for stage, fn in (("heatmap", heatmap_only), ("heatmap+suction", heatmap_and_grasp)):
                timing = time_call(fn, device, args.warmup, args.repeats)
                rows.append({"stage": stage, "size": f"{width}x{height}", "precision": "fp64 product",
                             "keypoints": count, **timing.to_dict(), "gflop_per_frame": flops / 1e9,
                             **achieved(flops, timing.median_ms, peak),
                             "grasp_ok": grasp_ok if stage != "heatmap" else None})
    return rows


def end_to_end_rows(args: argparse.Namespace, device: torch.device, peaks: dict) -> list[dict]:
    rows = []
    (height, width), = args.e2e_size[:1]
    intrinsics = camera(height, width)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    depth_mm = tilted_bin_depth(height, width, intrinsics)
    for backbone in args.e2e_backbone:
        torch.manual_seed(0)
        model = DescriptorNet(ModelConfig(backbone, args.descriptor_dim, args.width)).to(device).eval()
        # clicks within a few pixels of one spot, as an operator marks one grasp spot, so the
        # heatmap and the colour check agree there and a grasp exists
        spot = np.array([rng.uniform(16, width - 17), rng.uniform(16, height - 17)])
        pixels = spot + rng.uniform(-4, 4, (args.e2e_keypoints, 2))
        keypoints = torch.from_numpy(DescriptorModel.of(model).describe_pixels(rgb, pixels)).to(device)
        signature, check = colour_check(rgb, pixels)
        flops = count_flops(model, torch.rand(1, 3, height, width, device=device))
        flops += 2 * args.e2e_keypoints * args.descriptor_dim * (-(-height // 8)) * (-(-width // 8))
        for compile_mode in args.e2e_compile:
            fast = prepare_for_inference(model, device, None if compile_mode == "none" else compile_mode)
            for precision in args.e2e_precisions:
                def image_to_grasp() -> object:
                    # pinned host memory lets the upload run asynchronously on a GPU
                    frame = torch.from_numpy(rgb)
                    if device.type == "cuda":
                        frame = frame.pin_memory()
                    frame = frame.to(device, non_blocking=True).permute(2, 0, 1)[None].float().div_(255.0)
                    frame = frame.contiguous(memory_format=torch.channels_last)
                    with torch.inference_mode(), autocast_context(device, precision):
                        descriptors = fast(frame)
                    heatmap = fused_heatmap(descriptors, keypoints, (height, width))
                    metres = depth_in_metres(depth_mm)
                    weights = appearance_weights(rgb, signature, tuple(descriptors.shape[-2:]), check, metres)
                    return suction_grasp(heatmap.with_weights(weights["object"].to(heatmap.grid.device)),
                                         metres, intrinsics)

                grasp = image_to_grasp()
                timing = time_call(image_to_grasp, device, args.warmup, args.repeats)
                rows.append({"stage": "image->suction pose", "backbone": backbone_label(backbone, args.width), "size": f"{width}x{height}",
                             "precision": precision, "compile": compile_mode, "keypoints": args.e2e_keypoints,
                             **timing.to_dict(),
                             "gflop_per_frame": flops / 1e9, **achieved(flops, timing.median_ms, peaks[precision]),
                             "grasp_ok": grasp.ok})
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_run(args)
    env = environment(device)
    precisions = args.e2e_precisions or (["fp32", "fp16"] if device.type == "cuda" else ["fp32", "bf16"])
    skipped = [p for p in precisions if not precision_supported(device, p)]
    args.e2e_precisions = [p for p in precisions if p not in skipped]
    wanted = {"fp64", *(() if args.skip_e2e else args.e2e_precisions)}
    peaks = {p: matmul_peak(device, p) for p in tqdm(sorted(wanted), desc="matmul peak", leave=False)}
    rows = heatmap_rows(args, device, peaks["fp64"])
    if not args.skip_e2e:
        rows += end_to_end_rows(args, device, peaks)
    notes = [f"precision {p} not supported on {device.type}: skipped" for p in skipped]
    notes += bf16_notes(device, env, args.e2e_precisions)
    notes += ["the heatmap's similarity product runs in float64 (grasping/heatmap.py keeps "
              "precision near perfect matches), so its fraction is of the fp64 matmul peak",
              "end-to-end rows count network + heatmap FLOPs against the network precision's peak; "
              "they include uint8 -> float conversion, upload, the depth conversion and the colour "
              "check (on the host, not counted in FLOPs)"]
    write_report(args.out, "heatmap and grasp", env, peaks, rows, COLUMNS, notes)


if __name__ == "__main__":
    main()
