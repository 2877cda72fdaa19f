"""``ddr pairs``: make evaluation pair sets (``ddr pairs synthetic``, ``ddr pairs stereo``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from dense_descriptor_ros.cli.arguments import parse_size
from dense_descriptor_ros.data.images import find_images, readable_images
from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.evaluation.stereo_pairs import DIRECTIONS, STEREO_SOURCES, make_stereo_pairs
from dense_descriptor_ros.evaluation.synthetic_pairs import make_homography_pairs

NATIVE = "native"


def parse_size_or_native(text: str) -> tuple[int, int] | None:
    """``HEIGHTxWIDTH``, or ``native`` (None) to keep each source's own size."""
    return None if text.strip().lower() == NATIVE else parse_size(text)


def run_synthetic(args: argparse.Namespace) -> int:
    out_dir = args.out.resolve()
    candidates = [p for p in find_images(args.images) if not p.resolve().is_relative_to(out_dir)]
    sources = readable_images(candidates, args.images)
    path = make_homography_pairs(sources, args.out, args.pairs_per_image, args.queries,
                                 args.size, args.seed)
    print(f"wrote {len(load_pairs(path))} pairs from {len(sources)} images to {path}")
    return 0


def run_stereo(args: argparse.Namespace) -> int:
    names = list(STEREO_SOURCES) if args.source == "all" else [args.source]
    sources = {name: STEREO_SOURCES[name]() for name in names}
    path = make_stereo_pairs(sources, args.out, args.size, args.keypoints, args.seed, args.directions)
    pairs = load_pairs(path)
    print(f"wrote {len(pairs)} pairs ({sum(len(p.queries) for p in pairs)} queries) from "
          f"{', '.join(names)} to {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pairs", help="make evaluation pair sets")
    kinds = parser.add_subparsers(dest="kind", required=True)
    synthetic = kinds.add_parser(
        "synthetic", help="pairs with known homographies from a folder of images",
        description="Each image becomes A; augmented copies (colour, crop, rotation, zoom, "
                    "perspective) become B. Writes the images and OUT/pairs.json with exact "
                    "targets; use --images OUT for ddr match / ddr evaluate.")
    synthetic.add_argument("--images", type=Path, required=True, help="folder of source images")
    synthetic.add_argument("--out", type=Path, required=True, help="output folder")
    synthetic.add_argument("--pairs-per-image", type=int, default=2)
    synthetic.add_argument("--queries", type=int, default=50, help="queries per pair")
    synthetic.add_argument("--size", type=parse_size, default=(240, 320),
                           help="HEIGHTxWIDTH of the images (default 240x320)")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.set_defaults(func=run_synthetic)

    stereo = kinds.add_parser(
        "stereo", help="real photo pairs with ground-truth disparity (evaluation only)",
        description="Rectified stereo pairs that install offline: middlebury-aloe (Debian "
                    "opencv-doc) and skimage-motorcycle (scikit-image). Queries sit on textured "
                    "left pixels of known disparity that the right camera sees; targets are "
                    "exact. Writes the images and OUT/pairs.json; use --images OUT for ddr match "
                    "/ ddr evaluate. Never train on these images.")
    stereo.add_argument("--source", choices=[*STEREO_SOURCES, "all"], default="all")
    stereo.add_argument("--out", type=Path, required=True, help="output folder")
    stereo.add_argument("--size", type=parse_size_or_native, default=(240, 320),
                        help="HEIGHTxWIDTH the images are scaled and centre-cropped to, or "
                             f"'{NATIVE}' (default 240x320)")
    stereo.add_argument("--keypoints", type=int, default=500, help="queries per pair")
    stereo.add_argument("--seed", type=int, default=0)
    stereo.add_argument("--directions", choices=DIRECTIONS, default="both",
                        help="'both' adds each pair right -> left with the same correspondences")
    stereo.set_defaults(func=run_stereo)
