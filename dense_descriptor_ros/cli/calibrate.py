"""``ddr calibrate``: measure a model's heatmap distance scale and store it in the checkpoint.

Run it on held-out pairs with ground truth (for example ``ddr sim dataset --kind
cross-scene-pairs --object-set train``), never on the test pairs a model is scored on.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from dense_descriptor_ros.model.rotations import ROTATIONS

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calibrate", help="store the model's heatmap eta (median true-match distance)")
    p.add_argument("--model", required=True, type=Path, help="checkpoint to calibrate (updated in place)")
    p.add_argument("--pairs", required=True, type=Path, help="pairs.json with targets and visibility")
    p.add_argument("--images", required=True, type=Path, help="folder the pairs' image paths are relative to")
    p.add_argument("--rotations", type=int, default=None, choices=ROTATIONS,
                   help="test-time rotation ensemble to calibrate for and store with the model "
                        "(image turns averaged; default: the checkpoint's own)")
    p.add_argument("--dry-run", action="store_true", help="print eta, leave the checkpoint as it is")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.evaluation.calibration import calibrated_eta, true_match_distances
    from dense_descriptor_ros.evaluation.pairs import load_pairs
    from dense_descriptor_ros.model.checkpoint import update_metadata
    from dense_descriptor_ros.model.descriptor_model import DescriptorModel

    model = DescriptorModel.load(args.model, rotations=args.rotations)
    distances = true_match_distances(model, load_pairs(args.pairs), args.images)
    eta = calibrated_eta(distances)
    quartiles = np.percentile(distances, [25, 75])
    print(f"heatmap eta {eta:.3f} ({model.card.rotations} rotation(s)): median descriptor distance "
          f"of {len(distances)} true matches (quartiles {quartiles[0]:.3f}-{quartiles[1]:.3f})")
    if not args.dry_run:
        update_metadata(args.model, model=model.network.config.to_dict(), heatmap_eta=round(eta, 4),
                        heatmap_eta_pairs=str(args.pairs))
        log.info("stored heatmap_eta in %s (its file hash changed: re-embed keypoint databases)", args.model)
    return 0
