"""Argument types shared by the ``ddr`` sub-commands."""
from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """``"240x320"`` -> ``(240, 320)`` (height x width, pixels)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH in pixels, e.g. 240x320; got {text!r}")
    return int(parts[0]), int(parts[1])
