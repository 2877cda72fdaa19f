"""``ddr sim annotate-reference`` and ``ddr sim pick``: closed-loop picking in the simulated cell.

``annotate-reference`` plays the operator once (every face of a box, see
``simulation.experiments.reference``); ``pick`` runs N trials on fresh random heaps, prints the success
table and writes ``results.json`` plus overlay PNGs of the first trials.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from dense_descriptor_ros.cli.arguments import parse_size
from dense_descriptor_ros.evaluation.report import markdown_table
from dense_descriptor_ros.grasping.appearance import GRIPPER_GATES, AppearanceCheck
from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS


def _sim_commands(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The sub-commands of ``ddr sim`` (registered by ``cli.sim``)."""
    sim = subparsers.choices.get("sim")
    if sim is None:
        raise RuntimeError("register dense_descriptor_ros.cli.sim before dense_descriptor_ros.cli.sim_pick")
    return next(a for a in sim._actions if isinstance(a, argparse._SubParsersAction))


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = _sim_commands(subparsers)
    ref = commands.add_parser("annotate-reference",
                              help="simulated operator: annotate every face of a box product once")
    ref.add_argument("--model", required=True, type=Path, help="model checkpoint (.pt)")
    ref.add_argument("--out", required=True, type=Path, help="folder for reference.json, images and the DB")
    ref.add_argument("--db", type=Path, default=None, help="keypoint database (default OUT/keypoints.sqlite)")
    ref.add_argument("--object", default="tea_box", help="box-shaped object type to annotate")
    ref.add_argument("--size", type=parse_size, default=(240, 320), help="image size HxW")
    ref.add_argument("--seed", type=int, default=0)
    ref.set_defaults(func=run_annotate_reference)

    pick = commands.add_parser("pick", help="closed-loop picking trials on random heaps")
    pick.add_argument("--gripper", required=True, choices=GRIPPER_KINDS)
    pick.add_argument("--trials", type=int, default=20)
    pick.add_argument("--model", type=Path, default=None, help="model checkpoint (.pt); not with --oracle")
    pick.add_argument("--annotations", required=True, type=Path,
                      help="reference.json written by 'ddr sim annotate-reference'")
    pick.add_argument("--out", required=True, type=Path)
    pick.add_argument("--size", type=parse_size, default=(240, 320), help="image size HxW")
    pick.add_argument("--seed", type=int, default=0)
    pick.add_argument("--overlays", type=int, default=5, help="overlay PNGs for the first N trials")
    pick.add_argument("--appearance-power", type=float, default=AppearanceCheck.power,
                      help="power of the colour check's heatmap weights (grasping.appearance; 0: no "
                           "ranking; with --appearance-min-similarity 0: descriptors alone)")
    pick.add_argument("--appearance-min-similarity", type=float, default=None,
                      help="the colour check's gate: less alike cells are never grasped (0: no gate; default: "
                           "the gripper's, " + ", ".join(f"{k} {v}" for k, v in GRIPPER_GATES.items()) + ")")
    pick.add_argument("--oracle", action="store_true",
                      help="grasp from the ground-truth annotated points (gripper physics alone)")
    pick.add_argument("--compare-oracle", action="store_true",
                      help="also pick every heap from the ground truth: reports the target success on "
                           "heaps where the true annotated spot can be picked (twice the execution time)")
    pick.add_argument("--through-ros", action="store_true",
                      help="run every grasp through the node processes of sim_cell.launch.py's graph (cell, "
                           "descriptor, planner and executor nodes over ROS); the same heaps and judging")
    pick.set_defaults(func=run_pick)

    compare = commands.add_parser("compare-trials",
                                  help="trial by trial, where two pick runs of the same heaps differ "
                                       "(e.g. in process and --through-ros)")
    compare.add_argument("first", type=Path, help="results.json of one run")
    compare.add_argument("second", type=Path, help="results.json of the other")
    compare.set_defaults(func=run_compare_trials)


def run_annotate_reference(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.model.descriptor_model import DescriptorModel
    from dense_descriptor_ros.simulation.experiments.reference import annotate_reference

    database = args.db or args.out / "keypoints.sqlite"
    annotation = annotate_reference(DescriptorModel.load(args.model), database, args.out, args.object, args.size,
                                    args.seed)
    print(f"annotated {len(annotation.faces)} faces of {annotation.object_type} in {database}; "
          f"reference: {args.out / 'reference.json'}")
    return 0


def run_pick(args: argparse.Namespace) -> int:
    if args.trials < 1:
        raise ValueError(f"--trials must be at least 1, got {args.trials}")
    if (args.model is None) != args.oracle:
        raise ValueError("pass --model for perception-driven trials, or --oracle without a model")
    if args.oracle and args.compare_oracle:
        raise ValueError("--compare-oracle compares perception with the oracle: pass --model, not --oracle")
    if args.through_ros and (args.oracle or args.compare_oracle):
        raise ValueError("--through-ros runs the perception graph: not with --oracle or --compare-oracle")
    from dense_descriptor_ros.simulation.experiments.pick_trials import run_trials, save_results, summary_row

    gate = args.appearance_min_similarity
    appearance = replace(AppearanceCheck.for_gripper(args.gripper), power=args.appearance_power,
                         **({} if gate is None else {"min_similarity": gate}))
    if args.through_ros:
        from dense_descriptor_ros.ros.sim_trials import run_trials_through_ros
        from dense_descriptor_ros.simulation.experiments.reference import ReferenceAnnotation

        results = run_trials_through_ros(args.annotations, args.gripper, args.model, args.out, args.trials,
                                         args.seed, args.size, appearance)
        summary = save_results(args.out, results, args.gripper, ReferenceAnnotation.load(args.annotations),
                               args.model, args.size, args.seed, appearance, through_ros=True)
    else:
        summary = run_trials(args.annotations, args.gripper, args.model, args.out, args.trials, args.size,
                             args.seed, args.overlays, appearance, args.compare_oracle)
    row = summary_row(summary)
    print(markdown_table([row], list(row)))
    print(f"results: {args.out / 'results.json'}")
    return 0


def run_compare_trials(args: argparse.Namespace) -> int:
    """Prints every differing trial; exit status 1 when any differs."""
    import json

    from dense_descriptor_ros.simulation.experiments.pick_trials import trial_differences

    runs = [json.loads(Path(path).read_text()) for path in (args.first, args.second)]
    differences = trial_differences(*runs)
    for difference in differences:
        fields = ", ".join(f"{k}: {a!r} / {b!r}" for k, (a, b) in difference["fields"].items())
        print(f"trial {difference['index']}: {fields}")
    print(f"{runs[0]['trials'] - len(differences)} of {runs[0]['trials']} trials identical "
          f"({args.first} / {args.second})")
    return 1 if differences else 0
