"""``ddr sim dataset`` and ``ddr sim record-bag``: data from the simulated bin cell, as image
folders or as the rosbag2 a real cell's camera records."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..simulation.world.objects import OBJECT_SETS
from .arguments import parse_size

log = logging.getLogger(__name__)

DEFAULT_COUNTS = {"unordered": 200, "rgbd-sequences": 8, "rearranged-sequences": 8, "cross-scene-pairs": 100,
                  "invariance": 4}
TRAINING_KINDS = ("unordered", "rgbd-sequences", "rearranged-sequences")


def sim_size(text: str) -> tuple[int, int]:
    """``--size`` of rendered images: HxW, 16 to 2048 pixels per side."""
    return parse_size(text, minimum=16, maximum=2048)


def register(subparsers: argparse._SubParsersAction) -> None:
    sim = subparsers.add_parser("sim", help="simulated bin-picking cell")
    sim_commands = sim.add_subparsers(dest="sim_command", required=True)
    p = sim_commands.add_parser("dataset", help="render a dataset from the simulated cell")
    p.add_argument("--kind", required=True, choices=tuple(DEFAULT_COUNTS))
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--count", type=int, default=None,
                   help="frames / sequences / pairs / scenes (default per kind: "
                        + ", ".join(f"{k} {v}" for k, v in DEFAULT_COUNTS.items()) + ")")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=sim_size, default="480x640", help="image size HxW")
    p.add_argument("--object-set", choices=OBJECT_SETS, default=None,
                   help="object instances to use (default: train for training kinds, test for "
                        "evaluation kinds)")
    p.add_argument("--hands", action="store_true", help="unordered: operator hands as distractors")
    p.add_argument("--tilt", type=float, default=0.0,
                   help="unordered: each recording's camera tilted from vertical by up to this many degrees")
    p.add_argument("--frames", type=int, default=24, help="rgbd-sequences: frames per sequence")
    p.add_argument("--scenes", type=int, default=4, help="rearranged-sequences: bins per sequence")
    p.add_argument("--views", type=int, default=6, help="rearranged-sequences: views per bin")
    p.set_defaults(func=run_dataset)

    r = sim_commands.add_parser(
        "record-bag", help="record an operator reshuffling the heap as a rosbag2 of the camera topics",
        description="A fixed overhead camera at 30 Hz over a heap the simulated operator reshuffles: "
                    "still stretches (repeated frames), hands shuffling, knocks that blur a frame. "
                    "Writes colour, aligned depth and camera_info on the RealSense driver's topics, "
                    "as the bag_recorder node does; extract training images with 'ddr bag extract'.")
    r.add_argument("--out", required=True, type=Path, help="bag directory to create (must not exist)")
    r.add_argument("--frames", type=int, default=600, help="frames to record (default %(default)s)")
    r.add_argument("--size", type=sim_size, default="480x640", help="image size HxW")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--repeats", type=int, default=2,
                   help="repeated frames of each still heap (default %(default)s)")
    r.add_argument("--blur-every", type=int, default=3,
                   help="one shuffle in this many knocks the bin and blurs a frame (default %(default)s)")
    r.add_argument("--object-set", choices=OBJECT_SETS, default="test",
                   help="products in the bin (default: test, the products 'ddr sim pick' picks)")
    r.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    r.add_argument("--manifest", type=Path, default=None,
                   help="also write each frame's moment (rest, repeat, hands, blurred) to this JSON")
    r.set_defaults(func=run_record_bag)


def run_dataset(args: argparse.Namespace) -> int:
    from ..simulation.experiments import datasets  # imported here: it picks the OpenGL backend and loads MuJoCo

    count = DEFAULT_COUNTS[args.kind] if args.count is None else args.count
    if count < 1:
        raise ValueError(f"--count must be at least 1, got {count}")
    size = datasets.Size(*args.size)
    object_set = args.object_set or ("train" if args.kind in TRAINING_KINDS else "test")
    if args.kind == "unordered":
        out = datasets.generate_unordered(args.out, count, args.seed, size, args.hands, object_set,
                                           tilt=args.tilt)
    elif args.kind == "rgbd-sequences":
        if args.frames < 2:
            raise ValueError(f"--frames must be at least 2, got {args.frames}")
        out = datasets.generate_rgbd_sequences(args.out, count, args.seed, size, args.frames, object_set)
    elif args.kind == "rearranged-sequences":
        if args.scenes < 1 or args.views < 1 or args.scenes * args.views < 2:
            raise ValueError(f"--scenes and --views must give two or more frames, got {args.scenes} x {args.views}")
        out = datasets.generate_rearranged_sequences(args.out, count, args.seed, size, args.scenes, args.views,
                                                     object_set)
    elif args.kind == "cross-scene-pairs":
        out = datasets.generate_cross_scene_pairs(args.out, count, args.seed, size, object_set)
    else:
        out = datasets.generate_invariance(args.out, count, args.seed, size, object_set)
    log.info("wrote %s dataset to %s", args.kind, out)
    return 0


def run_record_bag(args: argparse.Namespace) -> int:
    from ..simulation.experiments.operator_recording import COLOR_TOPIC, Moment, RecordingPlan, record_operator_bag

    plan = RecordingPlan(args.frames, args.size, args.seed, args.repeats, args.blur_every, args.object_set)
    counts = record_operator_bag(args.out, plan, args.storage, args.manifest)
    print(f"recorded {args.frames} frames on {COLOR_TOPIC} (+ aligned depth, camera_info) into {args.out}: "
          + ", ".join(f"{counts[m]} {m.value}" for m in Moment))
    return 0
