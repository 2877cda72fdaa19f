"""Entry point of ``ddr``; sub-commands register themselves from their own modules."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module defines ``register(subparsers)`` which adds its parser and sets ``func``.
COMMAND_MODULES = (
    "dense_descriptor_ros.cli.train",
    "dense_descriptor_ros.cli.match",
    "dense_descriptor_ros.cli.evaluate",
    "dense_descriptor_ros.cli.calibrate",
    "dense_descriptor_ros.cli.pairs",
    "dense_descriptor_ros.cli.db",
    "dense_descriptor_ros.cli.bag",
    "dense_descriptor_ros.cli.sim",
    "dense_descriptor_ros.cli.sim_pick",  # adds to the `sim` parser: keep after cli.sim
    "dense_descriptor_ros.cli.annotate",
    "dense_descriptor_ros.cli.export",
    "dense_descriptor_ros.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddr", description="dense descriptors for bin-picking")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ImportError, ValueError, RuntimeError) as exc:
        print(f"ddr {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
