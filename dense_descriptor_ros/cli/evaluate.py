"""``ddr evaluate``: metrics, tables and figures for matched pairs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dense_descriptor_ros.cli.match import add_model_arguments, match_file, resolve_device
from dense_descriptor_ros.evaluation.matchers import XFEAT_SPEC, load_matcher
from dense_descriptor_ros.evaluation.metrics import summarize
from dense_descriptor_ros.evaluation.pairs import Pair, load_pairs
from dense_descriptor_ros.evaluation.predict import collect_errors, read_image
from dense_descriptor_ros.evaluation.report import (invariance_errors, markdown_table,
                                                    plot_descriptor_pca, plot_error_histogram,
                                                    plot_invariance, plot_matches, plot_pck_curve,
                                                    write_markdown_table)

PCA_PAIRS = 2  # pairs whose images A and B are shown in descriptor_pca.png


def invariance_rows(pairs: list[Pair]) -> list[dict]:
    """One table row per (kind, magnitude): count, median and 75 % quantile error."""
    return [{"kind": kind, "magnitude": magnitude, "count": int(e.size),
             "median": float(np.median(e)), "q75": float(np.quantile(e, 0.75))}
            for kind, by_magnitude in invariance_errors(pairs).items()
            for magnitude, e in by_magnitude.items()]


def write_report(pairs: list[Pair], image_dir: Path, out_dir: Path, name: str) -> dict:
    """metrics.json, metrics.md and the figures for predicted ``pairs``; returns the metrics."""
    errors, diagonals = collect_errors(pairs, image_dir)
    metrics = summarize(errors, diagonals)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    table = write_markdown_table([{"set": name, **metrics}], out_dir / "metrics.md",
                                 title=f"Evaluation: {name}")
    rows = invariance_rows(pairs)
    if rows:
        with open(table, "a") as fh:
            fh.write("\n## Invariance (pixel error by perturbation)\n\n" + markdown_table(rows))
        plot_invariance(pairs, out_dir)
    plot_pck_curve({name: errors}, out_dir / "pck_curve.png")
    plot_error_histogram(errors, out_dir / "error_histogram.png")
    plot_matches(pairs, image_dir, out_dir / "matches.png")
    return metrics


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    model = None
    if args.pairs is not None:
        if args.model is None:
            raise ValueError("--pairs needs --model to match them first "
                             "(or pass already matched pairs with --predictions)")
        pairs, model = match_file(args.model, args.pairs, args.images,
                                  args.out / "predictions.json", device, args.precision, args.rotations)
    else:
        pairs = load_pairs(args.predictions)
        missing = [i for i, p in enumerate(pairs) if p.predictions is None]
        if missing:
            raise ValueError(f"{args.predictions}: pairs {missing[:10]} have no 'predictions'; "
                             "run `ddr match` on it first")
        if args.model is not None:
            model = load_matcher(args.model, device, args.rotations, args.precision)
    name = args.name or (args.model.stem if args.model else args.predictions.stem)
    metrics = write_report(pairs, args.images, args.out, name)
    if model is not None:
        images = [read_image(args.images, path) for pair in pairs[:PCA_PAIRS]
                  for path in (pair.image_a, pair.image_b)]
        plot_descriptor_pca(model, images, args.out / "descriptor_pca.png")
    print(f"{name}: {metrics['count']} queries  PCK@5 {metrics['pck@5']:.3f}  "
          f"PCK@10 {metrics['pck@10']:.3f}  AUC@50 {metrics['auc@50']:.3f}  "
          f"median {metrics['median']:.1f} px  -> {args.out}")
    if args.cycles:
        write_cycle_check(args, pairs, device)
    return 0


def write_cycle_check(args: argparse.Namespace, pairs: list[Pair], device) -> None:
    """cycles.json: how often the model's CCL-kept cycles rest on right matches."""
    if args.model is None or str(args.model) == XFEAT_SPEC:
        raise ValueError("--cycles needs a descriptor checkpoint as --model")
    from dense_descriptor_ros.evaluation.cycle_check import cycle_check
    from dense_descriptor_ros.model.descriptor_model import DescriptorModel

    result = cycle_check(DescriptorModel.load(args.model, device), pairs, args.images)
    (args.out / "cycles.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"cycles: A->B right {result['forward_right']:.3f} of all, {result['kept_forward_right']:.3f} "
          f"of the CCL-kept {result['quantile']:.0%}; kept cycles closed through a right match "
          f"{result['kept_closed_through_right_match']:.3f}, through a wrong one "
          f"{result['kept_closed_through_wrong_match']:.3f}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="metrics and figures for matched pairs",
        description="Score predictions against ground truth: writes metrics.json, metrics.md, "
                    "pck_curve.png, error_histogram.png, matches.png, descriptor_pca.png (with "
                    "--model) and invariance_<kind>.png (pairs with meta kind + magnitude).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--predictions", type=Path, help="output of `ddr match`")
    source.add_argument("--pairs", type=Path, help="pairs.json to match with --model first")
    parser.add_argument("--model", type=Path, default=None,
                        help=f"checkpoint, or '{XFEAT_SPEC}' for the pretrained XFeat baseline: "
                             "matches --pairs, and draws descriptor_pca.png")
    parser.add_argument("--images", type=Path, required=True,
                        help="directory the image paths in the pairs file are relative to")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--name", default=None, help="label in tables and plots "
                        "(default: the model or predictions file name)")
    parser.add_argument("--cycles", action="store_true",
                        help="also write cycles.json: how often the model's most certain CCL cycles "
                             "pass through the true match (can CCL learn from this model?)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)
