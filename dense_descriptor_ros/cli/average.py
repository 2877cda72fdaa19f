"""``ddr average-weights``: one checkpoint from several runs of one model (the mean of their weights)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("average-weights",
                              help="average the weights of runs trained from one start (e.g. two seeds)")
    p.add_argument("checkpoints", nargs="+", type=Path, help="two or more checkpoints of one architecture")
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write (then run ddr calibrate on it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.model.averaging import average_checkpoints

    out = average_checkpoints(args.checkpoints, args.out)
    print(f"wrote {out}: the mean of {len(args.checkpoints)} checkpoints' weights; calibrate it with "
          f"ddr calibrate --model {out} --pairs VALIDATION/pairs.json --images VALIDATION")
    return 0
