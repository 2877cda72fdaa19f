"""``ddr bag extract``: training images from a recorded rosbag2 (sqlite3 or mcap)."""
from __future__ import annotations

import argparse
from pathlib import Path

from dense_descriptor_ros.bags.extract import BagError, extract_images
from dense_descriptor_ros.bags.frame_filter import DEFAULT_MIN_CHANGE, DEFAULT_MIN_SHARPNESS, DEFAULT_RELATIVE_SHARPNESS


def run_extract(args: argparse.Namespace) -> int:
    try:
        summary = extract_images(args.bag, args.out, args.topic, min_change=args.min_change,
                                 min_sharpness=args.min_sharpness, relative_sharpness=args.relative_sharpness,
                                 progress=not args.no_progress)
    except BagError as exc:
        if exc.summary is not None:  # show what was kept before the bag broke
            print(exc.summary.table())
        raise
    print(summary.table())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bag", help="work with recorded rosbag2 files")
    commands = parser.add_subparsers(dest="bag_command", required=True)
    extract = commands.add_parser(
        "extract", help="write the sharp, distinct colour frames of a bag as PNGs",
        description="Read a rosbag2 (directory, .db3 or .mcap) with rosbags and write one colour "
                    "image topic as an unordered training folder, dropping blurry frames and "
                    "near-duplicates of the last kept frame. Prints the counts and thresholds.")
    extract.add_argument("bag", type=Path, help="rosbag2 directory or its .db3 / .mcap file")
    extract.add_argument("out", type=Path, help="output folder for the PNGs")
    extract.add_argument("--topic", default=None,
                         help="sensor_msgs/Image topic (default: the first one with a colour encoding)")
    extract.add_argument("--min-change", type=float, default=DEFAULT_MIN_CHANGE,
                         help="drop a frame whose mean absolute grey difference (0..255, on a "
                              "~64 px thumbnail) to the last kept frame is below this "
                              "(default %(default)s)")
    extract.add_argument("--min-sharpness", type=float, default=DEFAULT_MIN_SHARPNESS,
                         help="drop a frame whose variance of the Laplacian (grey 0..255) is below "
                              "this: a floor for featureless frames (default %(default)s)")
    extract.add_argument("--relative-sharpness", type=float, default=DEFAULT_RELATIVE_SHARPNESS,
                         help="drop a frame whose sharpness is below this fraction of the median of "
                              "the last 61 frames': blur relative to the recording's own texture and "
                              "size (default %(default)s)")
    extract.add_argument("--no-progress", action="store_true", help="no progress bar")
    extract.set_defaults(func=run_extract)
