"""``ddr sim annotate-reference`` and ``ddr sim pick``: closed-loop picking in the simulated cell.

``annotate-reference`` plays the operator once (every face of a box, see
``simulation.reference``); ``pick`` runs N trials on fresh random heaps, prints the success
table and writes ``results.json`` plus overlay PNGs of the first trials.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from dense_descriptor_ros.cli.arguments import parse_size
from dense_descriptor_ros.evaluation.report import markdown_table
from dense_descriptor_ros.grasping.appearance import AppearanceCheck
from dense_descriptor_ros.model.checkpoint import file_hash, load_checkpoint

GRIPPERS = ("suction", "parallel")
DEFAULT_OBJECT = {"suction": "tea_box", "parallel": "toothpaste_box"}
# summary keys written by --compare-oracle -> their table columns
ORACLE_COLUMNS = {"oracle_target_success_rate": "oracle target success",
                  "target_success_where_oracle_picks": "target success where the oracle picks",
                  "preference_hit_where_oracle_picks": "preference hit where the oracle picks"}


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
    pick.add_argument("--gripper", required=True, choices=GRIPPERS)
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
    pick.add_argument("--appearance-min-similarity", type=float, default=AppearanceCheck.min_similarity,
                      help="the colour check's gate: less alike cells are never grasped (0: no gate)")
    pick.add_argument("--oracle", action="store_true",
                      help="grasp from the ground-truth annotated points (gripper physics alone)")
    pick.add_argument("--compare-oracle", action="store_true",
                      help="also pick every heap from the ground truth: reports the target success on "
                           "heaps where the true annotated spot can be picked (twice the execution time)")
    pick.set_defaults(func=run_pick)


def run_annotate_reference(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.simulation.reference import annotate_reference

    model, _ = load_checkpoint(args.model)
    database = args.db or args.out / "keypoints.sqlite"
    annotation = annotate_reference(model, file_hash(args.model), database, args.out, args.object, args.size,
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
    appearance = AppearanceCheck(power=args.appearance_power, min_similarity=args.appearance_min_similarity)
    summary = pick_trials(args.annotations, args.gripper, args.model, args.out, args.trials, args.size,
                          args.seed, args.overlays, appearance, args.compare_oracle)
    row = summary_row(summary)
    print(markdown_table([row], list(row)))
    print(f"results: {args.out / 'results.json'}")
    return 0


def pick_trials(annotations: Path, gripper: str, model_path: Path | None, out: Path, trials: int,
                size: tuple[int, int], seed: int, overlays: int,
                appearance: AppearanceCheck = AppearanceCheck(), compare_oracle: bool = False) -> dict:
    """Run ``trials`` picks (oracle grasps when ``model_path`` is None) with the colour check
    ``appearance`` (and, with ``compare_oracle``, an oracle pick of every heap); writes
    results.json and the first ``overlays`` overlay PNGs to ``out``; returns the summary."""
    from dataclasses import asdict

    import numpy as np
    from PIL import Image

    from dense_descriptor_ros.grasping.heatmap import DEFAULT_ETA, model_eta
    from dense_descriptor_ros.simulation.pick_trials import PickTrials, summarise
    from dense_descriptor_ros.simulation.reference import ReferenceAnnotation

    reference = ReferenceAnnotation.load(annotations)
    oracle = model_path is None
    model = model_hash = None
    eta = DEFAULT_ETA
    if not oracle:
        model, meta = load_checkpoint(model_path)
        model_hash, eta = file_hash(model_path), model_eta(meta)
    runner = PickTrials(reference, gripper, model, model_hash, size, seed, oracle, eta=eta, appearance=appearance,
                        compare_oracle=compare_oracle)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for index in tqdm(range(trials), desc=f"{gripper} picks", unit="trial"):
        result, overlay = runner.run(index)
        results.append(result)
        if index < overlays:
            Image.fromarray(np.ascontiguousarray(overlay)).save(out / f"overlay_{index:03d}.png")
    summary = {"format": "ddr-sim-pick", "version": 1, "gripper": gripper,
               "object_type": reference.object_type, "oracle": oracle,
               "model": None if oracle else str(model_path), "model_hash": model_hash, "eta": eta,
               "appearance": None if oracle else asdict(appearance), "size": list(size), "seed": seed,
               **summarise(results),
               "results": [r.to_dict() for r in results]}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


def summary_row(summary: dict) -> dict:
    """One table row: rates and the median time of every stage."""
    return {"gripper": summary["gripper"], "object": summary["object_type"],
            "mode": "oracle" if summary["oracle"] else "model", "trials": summary["trials"],
            "grasp": summary["grasp_rate"], "success": summary["success_rate"],
            "target success": summary["target_success_rate"],
            "preference hit": summary["preference_hit_rate"],
            **{name: summary[key] for key, name in ORACLE_COLUMNS.items() if key in summary},
            **{f"{stage} ms": value for stage, value in summary["timings_ms"].items()}}
