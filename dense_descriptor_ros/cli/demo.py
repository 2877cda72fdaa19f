"""``ddr demo``: the simulated bin-picking demo with the shipped model.

The operator's part is played once per gripper on a reference image (``simulation.experiments.reference``
stores the clicked descriptors in a keypoint database); then every trial drops a fresh random
heap, renders the overhead camera, computes descriptors, the preference heatmap or the
two-keypoint grasp, and executes it with the simulated suction cup or parallel gripper.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from dense_descriptor_ros.cli.arguments import parse_size
from dense_descriptor_ros.evaluation.report import markdown_table, write_markdown_table
from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "ddr_resnet18_sim.pt"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="simulated bin-picking demo: annotate once, pick N times")
    p.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="descriptor checkpoint")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--trials", type=int, default=10, help="picks per gripper")
    p.add_argument("--grippers", nargs="+", choices=GRIPPER_KINDS, default=list(GRIPPER_KINDS))
    p.add_argument("--size", type=parse_size, default=(240, 320), help="camera image size HxW")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.model.descriptor_model import DescriptorModel
    from dense_descriptor_ros.simulation.experiments.pick_trials import run_trials, summary_row
    from dense_descriptor_ros.simulation.experiments.reference import REFERENCE_OBJECT, annotate_reference

    if not args.model.is_file():
        raise FileNotFoundError(f"model not found: {args.model} (train one with ddr train, "
                                "see docs/results.md)")
    model = DescriptorModel.load(args.model)
    rows = []
    for gripper in args.grippers:
        folder = args.out / gripper
        reference = folder / "reference"
        annotate_reference(model, reference / "keypoints.sqlite", reference, REFERENCE_OBJECT[gripper], args.size,
                           args.seed)
        summary = run_trials(reference / "reference.json", gripper, args.model, folder / "picks",
                             args.trials, args.size, args.seed + 1, overlays=args.trials)
        rows.append(summary_row(summary))
    table = write_markdown_table(rows, args.out / "results.md",
                                 title=f"Simulated bin-picking with {args.model.name}")
    print(markdown_table(rows, list(rows[0])))
    print(f"table: {table}; overlays: {args.out}/<gripper>/picks/overlay_*.png")
    return 0
