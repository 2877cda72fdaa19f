"""``ddr demo``: the end-to-end job on a simulated cell, start to finish on one machine.

Renders an unordered training set of the simulated bin (training objects only), trains
identical-view and then CCL + identical-view from it, and scores random init, identical-view
and CCL on held-out cross-scene pairs of objects never seen in training. Budgets are small
so it finishes in minutes on a CPU; the learning rates are raised to suit them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from dense_descriptor_ros.cli.evaluate import write_report
from dense_descriptor_ros.cli.arguments import parse_size
from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.evaluation.predict import predict_pairs
from dense_descriptor_ros.evaluation.report import markdown_table, write_markdown_table
from dense_descriptor_ros.model import DescriptorNet, ModelConfig, load_checkpoint, save_checkpoint
from dense_descriptor_ros.training.config import TrainConfig

COLUMNS = ("model", "count", "pck@3", "pck@5", "pck@10", "pck@25", "pck@50", "auc@50", "median", "q90")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="simulated end-to-end run: data, training, evaluation")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--size", type=parse_size, default=(120, 160), help="image size HxW")
    p.add_argument("--images", type=int, default=80, help="training images to render")
    p.add_argument("--pairs", type=int, default=12, help="held-out cross-scene test pairs")
    p.add_argument("--width", type=int, default=32, help="backbone width (64 = standard ResNet-18)")
    p.add_argument("--steps", type=int, default=60, help="training steps per epoch")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.simulation.datasets import (Size, generate_cross_scene_pairs,
                                                          generate_unordered)
    from dense_descriptor_ros.training.trainer import train

    out: Path = args.out
    size = Size(*args.size)
    train_dir = generate_unordered(out / "data" / "unordered", args.images, args.seed, size,
                                   object_set="train")
    test_dir = generate_cross_scene_pairs(out / "data" / "cross_scene", args.pairs, args.seed + 1,
                                          size, object_set="test")
    common = dict(data=str(train_dir), width=args.width, descriptor_dim=32, image_size=args.size,
                  batch_size=4, epochs=args.epochs, steps_per_epoch=args.steps, workers=1,
                  seed=args.seed, num_keypoints=300)
    identical = train(TrainConfig.for_method("identical-view", out_dir=str(out / "identical_view"),
                                             lr=1e-3, **common))
    cycle = train(TrainConfig.for_method("ccl+identical-view", out_dir=str(out / "ccl"), lr=1e-4,
                                         init_checkpoint=str(identical.best_checkpoint), **common))
    random_init = save_checkpoint(out / "random_init.pt",
                                  DescriptorNet(ModelConfig("resnet18", 32, args.width)),
                                  method="random-init")

    test_pairs = load_pairs(test_dir / "pairs.json")
    rows = []
    for name, checkpoint in (("random-init", random_init), ("identical-view", identical.best_checkpoint),
                             ("ccl+identical-view", cycle.best_checkpoint)):
        model, _ = load_checkpoint(checkpoint)
        predicted = predict_pairs(model, test_pairs, test_dir)
        metrics = write_report(predicted, test_dir, out / "eval" / name, name)
        rows.append({"model": name, **metrics})
    write_markdown_table(rows, out / "results.md", columns=COLUMNS,
                         title="Demo: held-out cross-scene pairs (objects unseen in training)")
    print(markdown_table(rows, COLUMNS))
    print(f"report: {out / 'results.md'}; plots under {out / 'eval'}")
    return 0
