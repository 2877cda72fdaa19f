"""Entry point of ``ddr``; sub-commands register themselves from their own modules.

A bad input (a missing, damaged or wrong file, a wrong argument) ends a command with one line on
stderr and exit status 2, never a traceback (``-v`` adds it, for a bug report); output cut off by
its reader (``ddr db list | head``) ends it quietly.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import pickle
import sqlite3
import sys
import traceback

from PIL import Image

# Each module defines ``register(subparsers)`` which adds its parser and sets ``func``.
COMMAND_MODULES = (
    "dense_descriptor_ros.cli.train",
    "dense_descriptor_ros.cli.match",
    "dense_descriptor_ros.cli.evaluate",
    "dense_descriptor_ros.cli.calibrate",
    "dense_descriptor_ros.cli.average",
    "dense_descriptor_ros.cli.pairs",
    "dense_descriptor_ros.cli.photos",
    "dense_descriptor_ros.cli.db",
    "dense_descriptor_ros.cli.bag",
    "dense_descriptor_ros.cli.sim",
    "dense_descriptor_ros.cli.sim_pick",  # adds to the `sim` parser: keep after cli.sim
    "dense_descriptor_ros.cli.annotate",
    "dense_descriptor_ros.cli.export",
    "dense_descriptor_ros.cli.demo",
)


# What each exception a bad input lets through means, most specific first ({}: its message).
INPUT_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (sqlite3.DatabaseError, "the database is damaged or not a keypoint database: {}"),
    (pickle.UnpicklingError, "not a torch file, or a truncated one: {}"),
    (Image.DecompressionBombError, "image too large: {}"),
    (KeyError, "a file lacks the entry {}: it is truncated or of another kind"),
    (IndexError, "a file ends early or is of another kind ({})"),
    (OSError, "{}"),
    (ImportError, "{}"),
    (ValueError, "{}"),
    (RuntimeError, "{}"),
)
EXIT_INPUT_ERROR = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool its reader left


def error_line(exc: Exception) -> str | None:
    """The one line that tells an operator what went wrong, or None when ``exc`` is a bug."""
    for kind, template in INPUT_ERRORS:
        if isinstance(exc, kind):
            lines = str(exc).strip().splitlines()
            return template.format(lines[0] if lines else type(exc).__name__)
    return None


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
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so a reader that left shows as BrokenPipeError below
        return status
    except BrokenPipeError:
        # stdout goes nowhere from now on, so the interpreter's last flush cannot fail either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        line = error_line(exc)
        if line is None:
            raise
        if args.verbose:
            traceback.print_exc()
        print(f"ddr {args.command}: error: {line}", file=sys.stderr)
        return EXIT_INPUT_ERROR


if __name__ == "__main__":
    sys.exit(main())
