"""The pairs file of ``ddr match`` / ``ddr evaluate``: read, validate, write.

Layout (paths relative to an images directory, never absolute nor leaving it with ``..``)::

    {"pairs": [{"image_a": "a.png", "image_b": "b.png", "queries": [[x, y], ...],
                "targets": [[x, y] | null, ...], "visible": [true, ...], "meta": {...},
                "predictions": [[x, y], ...], "confidence": [c, ...]}]}

``targets``, ``visible``, ``meta``, ``predictions`` and ``confidence`` are optional. A target
may be ``null`` only where ``visible`` is false (a point with no image in B). Every field this
module does not interpret is kept verbatim in :attr:`Pair.extra` and written back, so a file
goes through ``ddr match`` without losing anything.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

KNOWN_FIELDS = ("image_a", "image_b", "queries", "targets", "visible", "predictions", "confidence")


class PairsFormatError(ValueError):
    """A pairs file or pair that does not follow the layout above."""


@dataclass
class Pair:
    """One image pair with query points in A and what is known or predicted about them in B."""

    image_a: str
    image_b: str
    queries: np.ndarray  # (N, 2) pixels in image A
    targets: np.ndarray | None = None  # (N, 2) true pixels in image B; NaN where unknown
    visible: np.ndarray | None = None  # (N,) bool: the query has an image in B
    predictions: np.ndarray | None = None  # (N, 2) predicted pixels in image B
    confidence: np.ndarray | None = None  # (N,) match score (cosine similarity)
    extra: dict[str, Any] = field(default_factory=dict)  # every other field, e.g. "meta"

    @property
    def meta(self) -> dict:
        return self.extra.get("meta") or {}

    def scored(self) -> np.ndarray:
        """``(N,)`` bool: queries that have a target and are visible in B."""
        if self.targets is None:
            return np.zeros(len(self.queries), dtype=bool)
        mask = np.all(np.isfinite(self.targets), axis=-1)
        return mask if self.visible is None else mask & self.visible


def _points(value: Any, name: str, where: str, allow_null: bool = False) -> np.ndarray:
    """A JSON list of ``[x, y]`` -> ``(N, 2)`` float array (``null`` -> NaN when allowed)."""
    if not isinstance(value, list):
        raise PairsFormatError(f"{where}: {name!r} must be a list of [x, y] points, "
                               f"got {type(value).__name__}")
    out = np.full((len(value), 2), np.nan)
    for i, point in enumerate(value):
        if point is None and allow_null:
            continue
        if (not isinstance(point, (list, tuple)) or len(point) != 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool)
                           and math.isfinite(c) for c in point)):
            raise PairsFormatError(f"{where}: {name}[{i}] must be [x, y] with two finite numbers"
                                   f"{' or null' if allow_null else ''}, got {point!r}")
        out[i] = point
    return out


def _vector(value: Any, name: str, where: str, kind: type) -> np.ndarray:
    if not isinstance(value, list):
        raise PairsFormatError(f"{where}: {name!r} must be a list, got {type(value).__name__}")
    for i, item in enumerate(value):
        ok = isinstance(item, bool) if kind is bool else (
            isinstance(item, (int, float)) and not isinstance(item, bool) and math.isfinite(item))
        if not ok:
            expected = "true/false" if kind is bool else "a finite number"
            raise PairsFormatError(f"{where}: {name}[{i}] must be {expected}, got {item!r}")
    return np.asarray(value, dtype=kind)


def _check_length(array: np.ndarray | None, name: str, n: int, where: str) -> None:
    if array is not None and len(array) != n:
        raise PairsFormatError(f"{where}: {name!r} has {len(array)} entries but 'queries' has {n}")


def pair_from_dict(data: Any, where: str = "pair") -> Pair:
    """Validate one JSON pair and build a :class:`Pair`; errors name ``where`` and the field."""
    if not isinstance(data, dict):
        raise PairsFormatError(f"{where}: must be an object, got {type(data).__name__}")
    for key in ("image_a", "image_b", "queries"):
        if key not in data:
            raise PairsFormatError(f"{where}: missing required key {key!r} "
                                   f"(has {sorted(data)})")
    for key in ("image_a", "image_b"):
        if not isinstance(data[key], str) or not data[key]:
            raise PairsFormatError(f"{where}: {key!r} must be a non-empty relative path string")
        image = PurePath(data[key])
        if image.is_absolute() or ".." in image.parts:
            raise PairsFormatError(f"{where}: {key!r} must be a path inside the images folder, "
                                   f"relative and without '..', got {data[key]!r}")
    queries = _points(data["queries"], "queries", where)
    if len(queries) == 0:
        raise PairsFormatError(f"{where}: 'queries' is empty; a pair needs at least one query")
    n = len(queries)
    targets = _points(data["targets"], "targets", where, allow_null=True) if "targets" in data else None
    visible = _vector(data["visible"], "visible", where, bool) if "visible" in data else None
    predictions = _points(data["predictions"], "predictions", where) if "predictions" in data else None
    confidence = _vector(data["confidence"], "confidence", where, float) if "confidence" in data else None
    for name, array in (("targets", targets), ("visible", visible),
                        ("predictions", predictions), ("confidence", confidence)):
        _check_length(array, name, n, where)
    if targets is not None:
        missing = ~np.all(np.isfinite(targets), axis=-1)
        unexplained = missing if visible is None else missing & visible
        if unexplained.any():
            i = int(np.flatnonzero(unexplained)[0])
            raise PairsFormatError(f"{where}: targets[{i}] is null but the query is not marked "
                                   "invisible; give 'visible' with false there")
    if (predictions is None) != (confidence is None):
        raise PairsFormatError(f"{where}: 'predictions' and 'confidence' come together")
    extra = {k: v for k, v in data.items() if k not in KNOWN_FIELDS}
    if "meta" in extra and not isinstance(extra["meta"], dict):
        raise PairsFormatError(f"{where}: 'meta' must be an object, got {type(extra['meta']).__name__}")
    return Pair(data["image_a"], data["image_b"], queries, targets, visible, predictions,
                confidence, extra)


def _json_points(points: np.ndarray) -> list:
    return [[float(x), float(y)] if math.isfinite(x) and math.isfinite(y) else None
            for x, y in np.asarray(points, dtype=float).tolist()]


def pair_to_dict(pair: Pair) -> dict:
    """The JSON form of a pair: known fields first, then ``extra`` in its original order."""
    out: dict[str, Any] = {"image_a": pair.image_a, "image_b": pair.image_b,
                           "queries": _json_points(pair.queries)}
    if pair.targets is not None:
        out["targets"] = _json_points(pair.targets)
    if pair.visible is not None:
        out["visible"] = [bool(v) for v in np.asarray(pair.visible).tolist()]
    out.update(pair.extra)
    if pair.predictions is not None:
        out["predictions"] = _json_points(pair.predictions)
    if pair.confidence is not None:
        out["confidence"] = [float(c) for c in np.asarray(pair.confidence).tolist()]
    return out


def load_pairs(path: str | Path) -> list[Pair]:
    """Read and validate a pairs file; errors say which pair and field is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file not found: {path}")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PairsFormatError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or "pairs" not in document:
        raise PairsFormatError(f"{path}: expected an object {{\"pairs\": [...]}}")
    unknown = sorted(set(document) - {"pairs"})
    if unknown:
        raise PairsFormatError(f"{path}: unknown top-level keys {unknown}; "
                               "put per-pair information in each pair's 'meta'")
    if not isinstance(document["pairs"], list):
        raise PairsFormatError(f"{path}: 'pairs' must be a list")
    return [pair_from_dict(item, f"{path}: pair {i}") for i, item in enumerate(document["pairs"])]


def require_file_target(path: str | Path) -> None:
    """Refuse an output path that is a folder, before any work is done for it."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the pairs file to write, "
                                f"e.g. {Path(path) / 'pairs.json'}")


def save_pairs(path: str | Path, pairs: list[Pair]) -> None:
    """Validate and write pairs atomically (temp file + rename), creating parent folders; a
    failed write leaves neither a partial file nor the temp file."""
    path = Path(path)
    require_file_target(path)
    items = [pair_to_dict(p) for p in pairs]
    for i, item in enumerate(items):
        pair_from_dict(item, f"pair {i} to be written to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    # one pair per line: compact for thousands of points, still readable and diff-friendly
    lines = ",\n".join(" " + json.dumps(item, allow_nan=False) for item in items)
    try:
        tmp.write_text('{"pairs": [\n' + lines + "\n]}\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
