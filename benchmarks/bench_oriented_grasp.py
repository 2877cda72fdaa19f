"""Oriented parallel grasp from depth, per stage, on simulated heaps.

The keypoint pair is planted in random descriptors where the annotated axis of the toothpaste
box lies in each rendered heap, so the timings cover the grasp maths on real heap depth (not
the network, see bench_inference): the face outline, its narrowest direction, the gripper-room
check (fingers and palm along the approach), and the whole oriented grasp with the keypoints
alone (paper IV-E) or with the face (moving along it where there is no room).

    python -m benchmarks.bench_oriented_grasp --sizes 320x240,640x480 --scenes 5
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from benchmarks.common import (add_common_arguments, environment, parse_sizes, setup_run, time_call,
                               write_report)
from dense_descriptor_ros.geometry.camera import project, transform_points
from dense_descriptor_ros.grasping.clearance import blocked_parts
from dense_descriptor_ros.grasping.face import planar_face
from dense_descriptor_ros.grasping.oriented import ParallelGripperConfig, oriented_grasp
from dense_descriptor_ros.matching import pixel_to_grid
from dense_descriptor_ros.simulation.world.grippers import open_cell
from dense_descriptor_ros.simulation.experiments.pick_trials import sample_heap
from dense_descriptor_ros.simulation.experiments.reference import box_faces, held_out_instance
from dense_descriptor_ros.simulation.world.scene import SceneSpec

COLUMNS = [("stage", "stage", ""), ("size", "WxH", ""), ("scenes", "scenes", ""),
           ("median_ms", "median ms", ".2f"), ("p90_ms", "p90 ms", ".2f"), ("grasp_ok", "grasps", "")]
TARGET = "toothpaste_box"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("320x240,640x480"))
    parser.add_argument("--scenes", type=int, default=5, help="heaps per size (the target's axis visible)")
    add_common_arguments(parser, "docs/benchmarks/oriented_grasp.json")
    return parser.parse_args(argv)


def heap_frames(height: int, width: int, count: int) -> list[tuple]:
    """``count`` rendered heaps with the target's upward face: ``(frame, axis pixels (2, 2))``."""
    target = held_out_instance(TARGET)
    faces = box_faces(target.type)
    found, seed = [], 0
    while len(found) < count:
        rng = np.random.default_rng([seed, 7])
        seed += 1
        spec = SceneSpec(tuple(sample_heap(rng, target)), int(rng.integers(2**31)), max_width=width,
                         max_height=height)
        with open_cell(spec, "parallel", width, height) as cell:
            cell.drop(rng)
            frame = cell.render()
        pose = np.linalg.inv(frame.T_world_camera) @ frame.object_poses[target.instance_id]
        up = min(faces, key=lambda f: (pose[:3, :3] @ f.normal)[2])  # facing the camera: most negative z
        pixels, _ = project(frame.intrinsics, transform_points(pose, up.axis_points))
        inside = (pixels >= 0).all() and (pixels[:, 0] < width).all() and (pixels[:, 1] < height).all()
        if inside and (frame.segmentation[tuple(np.rint(pixels[:, ::-1]).astype(int).T)] == target.instance_id).all():
            found.append((frame, pixels))
    return found


def planted(pixels: np.ndarray, size: tuple[int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random unit descriptors ``(1, 16, h, w)`` with the two keypoints ``(2, 16)`` at ``pixels``."""
    generator = torch.Generator().manual_seed(seed)
    grid_size = (-(-size[0] // 8), -(-size[1] // 8))
    grid = F.normalize(torch.randn(1, 16, *grid_size, generator=generator), dim=1)
    keypoints = F.normalize(torch.randn(2, 16, generator=generator), dim=1)
    cells = pixel_to_grid(torch.as_tensor(pixels, dtype=torch.float32), size, grid_size).round().long()
    for keypoint, (x, y) in zip(keypoints, cells.tolist()):
        grid[0, :, y, x] = keypoint
    return grid, keypoints


def rows_for(height: int, width: int, args: argparse.Namespace, device: torch.device) -> list[dict]:
    timings: dict[str, list[float]] = {}
    grasps: dict[str, int] = {}
    config = ParallelGripperConfig()
    for index, (frame, pixels) in enumerate(tqdm(heap_frames(height, width, args.scenes),
                                                 desc=f"{width}x{height}", leave=False)):
        depth = frame.depth_or_nan
        grid, keypoints = planted(pixels, (height, width), index)
        centre = pixels.mean(axis=0)
        face = planar_face(frame.intrinsics, depth, centre, config)
        with_face = oriented_grasp(grid, keypoints, depth, frame.intrinsics, config=config)
        stages = {
            "face outline": (lambda: planar_face(frame.intrinsics, depth, centre, config), None),
            "narrowest direction": (face.narrowest, None),
            "gripper room": (lambda: blocked_parts(with_face.pose_camera, with_face.width, depth,
                                                   frame.intrinsics, config), None)
            if with_face.ok else None,
            "grasp, keypoints alone": (lambda: oriented_grasp(
                grid, keypoints, depth, frame.intrinsics, config=replace(config, fit_face=False, finger_depth=0.0)),
                "keypoints"),
            "grasp, face + gripper room": (lambda: oriented_grasp(grid, keypoints, depth, frame.intrinsics,
                                                                 config=config), "face"),
        }
        for stage, entry in stages.items():
            if entry is None:
                continue
            fn, kind = entry
            timings.setdefault(stage, []).extend(time_call(fn, device, args.warmup, args.repeats).samples_ms)
            if kind is not None:
                grasps[stage] = grasps.get(stage, 0) + int(fn().ok)
    rows = []
    for stage, samples in timings.items():
        ordered = sorted(samples)
        rows.append({"stage": stage, "size": f"{width}x{height}", "scenes": args.scenes,
                     "median_ms": float(np.median(ordered)),
                     "p90_ms": ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))],
                     "grasp_ok": f"{grasps[stage]}/{args.scenes}" if stage in grasps else None})
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_run(args)
    env = environment(device)
    rows = [row for height, width in args.sizes for row in rows_for(height, width, args, device)]
    write_report(args.out, "oriented grasp stages", env, {}, rows, COLUMNS,
                 notes=["descriptors are random with the axis pair planted at the true axis keypoints: "
                        "this times the grasp maths on rendered heap depth, not the network"])


if __name__ == "__main__":
    main()
