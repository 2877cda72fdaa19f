"""``ddr export``: write a checkpoint as TorchScript or ONNX for deployment (descriptor node, TensorRT)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dense_descriptor_ros.cli.arguments import parse_size
from dense_descriptor_ros.model.export import FORMATS, export_model, metadata_path

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    out = export_model(args.model, args.out, args.format, args.size)
    log.info("wrote %s model %s (metadata %s)", args.format, out, metadata_path(out))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a checkpoint to TorchScript or ONNX",
        description="Writes the network (fp32, input (B, 3, H, W) RGB in [0, 1], output stride-8 "
                    "unit descriptors) and OUT.json with its metadata. Load it with "
                    "dense_descriptor_ros.model.export.load_exported.")
    parser.add_argument("--model", type=Path, required=True, help="checkpoint written by ddr train")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="exported model file")
    parser.add_argument("--size", type=parse_size, default=(240, 320),
                        help="HEIGHTxWIDTH the model is traced and checked at (default 240x320)")
    parser.set_defaults(func=run)
