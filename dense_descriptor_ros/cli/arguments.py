"""Argument types shared by the ``ddr`` sub-commands."""
from __future__ import annotations

import argparse


def parse_size(text: str, order: str = "HxW", minimum: int = 1, maximum: int | None = None) -> tuple[int, int]:
    """Image size text -> ``(height, width)`` pixels, whatever order it was written in.

    ``ddr`` sub-commands take ``order="HxW"`` (``"240x320"``, like array shapes); benchmarks
    take ``"WxH"`` (``"320x240"``, as cameras and the performance targets state resolutions).
    """
    if order not in ("HxW", "WxH"):
        raise ValueError(f"order must be 'HxW' or 'WxH', got {order!r}")
    spelled, example = ("HEIGHTxWIDTH", "240x320") if order == "HxW" else ("WIDTHxHEIGHT", "320x240")
    parts = text.strip().lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"size must be {spelled} in pixels, e.g. {example}; got {text!r}")
    first, second = int(parts[0]), int(parts[1])
    height, width = (first, second) if order == "HxW" else (second, first)
    if min(height, width) < minimum or (maximum is not None and max(height, width) > maximum):
        limits = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise argparse.ArgumentTypeError(f"size {text!r}: each side must be {limits} pixels")
    return height, width


def parse_size_list(text: str, order: str = "HxW", minimum: int = 1) -> list[tuple[int, int]]:
    """Comma-separated sizes, e.g. ``"320x240,640x480"`` with ``order="WxH"``."""
    sizes = [parse_size(item, order, minimum) for item in text.split(",") if item.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError("no size given")
    return sizes
