"""Training images from rosbag2 recordings (sqlite3 or mcap), read with ``rosbags`` (no ROS).

Writes the colour frames of one ``sensor_msgs/msg/Image`` topic as PNGs into an unordered
image folder (the identical-view / CCL training format), minus blurry and near-duplicate
frames (see :mod:`dense_descriptor_ros.bags.frame_filter`). Each PNG is written atomically
as soon as it is judged, so a bag that turns out corrupt half-way keeps what came before.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from PIL import Image
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from tqdm import tqdm

from dense_descriptor_ros.bags.frame_filter import (
    DEFAULT_MIN_CHANGE,
    DEFAULT_MIN_SHARPNESS,
    DEFAULT_RELATIVE_SHARPNESS,
    FrameFilter,
    Verdict,
)
from dense_descriptor_ros.messages import COLOUR_ENCODINGS, image_to_rgb

log = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
# sensor_msgs/Image is the same in every ROS 2 distribution; pick the store the bag names.
TYPESTORES = {"humble": Stores.ROS2_HUMBLE}
DEFAULT_TYPESTORE = Stores.ROS2_JAZZY


class BagError(RuntimeError):
    """A bag that cannot be read (missing topic, corrupt storage); carries the partial summary."""

    def __init__(self, message: str, summary: "ExtractionSummary | None" = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class ExtractionSummary:
    """What happened to every frame of the topic, and the thresholds that decided it."""

    bag: str
    topic: str
    out_dir: str
    min_change: float
    min_sharpness: float
    relative_sharpness: float
    frames: int = 0
    kept: int = 0
    duplicate: int = 0
    blurry: int = 0
    failed: int = 0

    def count(self, verdict: Verdict) -> None:
        setattr(self, verdict.value, getattr(self, verdict.value) + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        rows = [
            ("bag", self.bag),
            ("topic", self.topic),
            ("output", self.out_dir),
            ("frames read", self.frames),
            ("kept (written)", self.kept),
            (f"near-duplicate (change < {self.min_change:g})", self.duplicate),
            (f"blurry (sharpness < {self.min_sharpness:g} or < {self.relative_sharpness:g} x recent median)",
             self.blurry),
            ("failed to decode", self.failed),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _guarded(messages: Iterator, bag: Path, what: str) -> Iterator:
    """Re-raise any storage failure of ``messages`` as :class:`BagError`.

    rosbags surfaces corruption as backend errors (ReaderError, apsw.CorruptError, ...),
    so everything raised while *reading* means the bag, not this code, is broken.
    """
    try:
        yield from messages
    except Exception as exc:
        raise BagError(f"bag {bag} is corrupt or unreadable while {what}: "
                       f"{type(exc).__name__}: {exc}") from exc


def _choose_topic(reader: Reader, typestore: Any, bag: Path, topic: str | None) -> list:
    """Connections of the requested topic, or of the first Image topic carrying colour."""
    images = [c for c in reader.connections if c.msgtype == IMAGE_TYPE]
    listing = ", ".join(sorted({c.topic for c in images})) or "none"
    if topic is not None:
        chosen = [c for c in images if c.topic == topic]
        if not chosen:
            raise BagError(f"topic {topic!r} is not a {IMAGE_TYPE} topic in {bag}; image topics: {listing}")
        return chosen
    for name in dict.fromkeys(c.topic for c in images):  # bag order, each topic once
        connections = [c for c in images if c.topic == name]
        first = next(_guarded(reader.messages(connections=connections), bag, f"probing {name}"), None)
        if first is None:
            continue
        try:
            encoding = typestore.deserialize_cdr(first[2], IMAGE_TYPE).encoding
        except Exception as exc:  # a malformed first message: this topic cannot be judged
            log.warning("cannot decode the first message of %s: %s", name, exc)
            continue
        if encoding in COLOUR_ENCODINGS:
            return connections
    raise BagError(f"no {IMAGE_TYPE} topic with a colour encoding ({', '.join(COLOUR_ENCODINGS)}) "
                   f"in {bag}; image topics: {listing}; pick one with --topic")


def _write_png(rgb: Any, path: Path) -> None:
    """Write through a temporary name so an interrupted run never leaves a broken PNG."""
    partial = path.with_name(path.name + ".part")
    Image.fromarray(rgb).save(partial, format="PNG")
    os.replace(partial, path)


def extract_images(bag: str | Path, out_dir: str | Path, topic: str | None = None, *,
                   min_change: float = DEFAULT_MIN_CHANGE,
                   min_sharpness: float = DEFAULT_MIN_SHARPNESS,
                   relative_sharpness: float = DEFAULT_RELATIVE_SHARPNESS,
                   progress: bool = True) -> ExtractionSummary:
    """Write the sharp, distinct colour frames of ``bag`` as ``<bag name>_<index>.png``.

    ``bag`` is a rosbag2 directory or its ``.db3`` / ``.mcap`` file; ``index`` is the frame's
    position in the topic. Frames that fail to deserialise or convert are counted and
    skipped. Raises :class:`BagError` (with the partial summary) when the storage is corrupt,
    PNGs written before that staying, and when not one frame of the topic could be decoded.
    """
    bag, out_dir = Path(bag), Path(out_dir)
    if not bag.exists():
        raise FileNotFoundError(f"bag not found: {bag}")
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"output {out_dir} exists and is not a folder; give a folder for the PNGs")
    frame_filter = FrameFilter(min_change, min_sharpness, relative_sharpness)
    reader = Reader(bag)
    try:
        reader.open()
    except Exception as exc:  # backend-specific errors, see _guarded
        raise BagError(f"cannot open bag {bag}: {type(exc).__name__}: {exc}") from exc
    try:
        typestore = get_typestore(TYPESTORES.get(reader.ros_distro or "", DEFAULT_TYPESTORE))
        connections = _choose_topic(reader, typestore, bag, topic)
        summary = ExtractionSummary(bag=str(bag), topic=connections[0].topic, out_dir=str(out_dir),
                                    min_change=min_change, min_sharpness=min_sharpness,
                                    relative_sharpness=relative_sharpness)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = bag.stem if bag.is_file() else bag.name
        total = sum(c.msgcount for c in connections)
        messages = _guarded(reader.messages(connections=connections), bag, f"reading {summary.topic}")
        try:
            for index, (_, _, raw) in enumerate(tqdm(messages, total=total, unit="frame",
                                                     desc=f"extract {summary.topic}", disable=not progress)):
                summary.frames += 1
                try:
                    rgb = image_to_rgb(typestore.deserialize_cdr(raw, IMAGE_TYPE))
                except Exception as exc:  # ImageConversionError, or struct/index errors of bad CDR
                    log.warning("frame %d of %s skipped: %s: %s", index, summary.topic,
                                type(exc).__name__, exc)
                    summary.failed += 1
                    continue
                verdict = frame_filter.judge(rgb)
                if verdict is Verdict.KEPT:
                    _write_png(rgb, out_dir / f"{stem}_{index:06d}.png")
                summary.count(verdict)
        except BagError as exc:
            raise BagError(f"{exc}; the {summary.kept} frames written to {out_dir} before it were kept",
                           summary) from exc.__cause__
        if summary.failed == summary.frames:
            raise BagError(f"none of the {summary.frames} messages of {summary.topic} in {bag} could be "
                           "decoded as an image; nothing was written", summary)
        return summary
    finally:
        with contextlib.suppress(Exception):  # a corrupt database may also fail to close
            reader.close()
