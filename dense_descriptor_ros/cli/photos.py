"""``ddr photos``: write the licensed real photographs that install offline, for ``ddr train --photos``."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dense_descriptor_ros.data.photos import LICENCE_FILE, write_photos

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    written = write_photos(args.out, args.max_side)
    log.info("wrote %d photographs to %s (sources and licences in %s)", len(written), args.out, LICENCE_FILE)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "photos", help="write real photographs for identical-view training",
        description="Writes every photograph with a clear licence that installs offline (scikit-image, "
                    "Matplotlib, Debian mate-backgrounds and palapeli-data) as PNG, with LICENCES.json. "
                    "Debian opencv-doc's images are never among them: they are kept for evaluation.")
    parser.add_argument("--out", type=Path, required=True, help="folder to write them to")
    parser.add_argument("--max-side", type=int, default=640,
                        help="longest side in pixels (default 640, the cameras' width)")
    parser.set_defaults(func=run)
