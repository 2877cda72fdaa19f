"""One operator's annotation of one image: clicks become stored grasp preferences at once.

Each click is written to the keypoint database in its own transaction as soon as it arrives,
so closing the page or killing the process loses nothing already clicked. A session annotates
any number of objects (those the database holds and new ones the operator names); undo takes
back this session's clicks, the latest of one object first, as the heatmap node's undo does.
The heatmap one object's stored preferences produce on this image, ranked by the same colour
check as the grasp nodes, is rendered for feedback; where the image comes with depth and
intrinsics, the width of the flat face under a click is measured by the oriented grasp's own
measurement (:func:`~dense_descriptor_ros.grasping.oriented.annotated_face_width`).
"""
from __future__ import annotations

import math
import threading
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..data.images import read_rgb
from ..data.rgbd import load_sequence
from ..geometry.camera import Intrinsics, require_pixels_inside
from ..grasping.annotation import descriptor_at
from ..grasping.appearance import appearance_weights, stored_signatures
from ..grasping.heatmap import fused_heatmap
from ..grasping.keypoint_db import (PREFERENCE, EmptyDatabaseError, KeypointDatabase, UnknownObjectError,
                                    encode_png)
from ..grasping.oriented import ParallelGripperConfig, annotated_face_width
from ..grasping.overlay import heatmap_overlay
from ..model.descriptor_model import DescriptorModel

MAX_NAME_LENGTH = 64
# The face measured whatever its width: the page reports faces wider than the jaws too.
FACE_MEASUREMENT = replace(ParallelGripperConfig(), max_opening=math.inf)


@dataclass(frozen=True)
class StoredClick:
    """A preference this session stored: its database row and pixel (x, y)."""

    id: int
    xy: tuple[float, float]


class NothingToUndoError(LookupError):
    """Undo asked of an object this session stored nothing (left) for."""


def load_rgb(path: Path) -> np.ndarray:
    """An image file as RGB ``(H, W, 3)`` uint8, read by the rules training reads images with
    (``data.images.read_rgb``: size limit, no depth or infrared taken as colour)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    return read_rgb(path)


def load_sequence_frame(root: Path, index: int) -> tuple[np.ndarray, np.ndarray, Intrinsics, Path]:
    """Frame ``index`` of an RGB-D sequence (``data.rgbd`` format): ``(rgb (H, W, 3) uint8,
    depth (H, W) metres with NaN = invalid, intrinsics, rgb path)``."""
    sequence = load_sequence(root)
    if not 0 <= index < len(sequence.frames):
        raise ValueError(f"{root} has frames 0..{len(sequence.frames) - 1}; there is no frame {index}")
    posed = sequence.posed_depth(index)
    return sequence.load_rgb(index), posed.depth, posed.intrinsics, sequence.frames[index].rgb


def check_object_name(name: object) -> str:
    """A new object's name, stripped; ValueError when it is empty, too long or has control characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an object name must be non-empty text")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"an object name has at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ValueError(f"an object name cannot hold control characters: {name!r}")
    return name


class AnnotationSession:
    """Stores clicks on ``image (H, W, 3)`` as grasp preferences in ``database``.

    ``depth (H, W)`` metres (NaN = invalid) aligned with the image and its ``intrinsics``, when
    given, let :meth:`face_width` measure the face under a click.
    """

    def __init__(self, image: np.ndarray, database: Path, model: DescriptorModel,
                 annotator: str = "operator", image_path: str | None = None,
                 depth: np.ndarray | None = None, intrinsics: Intrinsics | None = None) -> None:
        if (depth is None) != (intrinsics is None):
            raise ValueError("depth and camera intrinsics go together: give both or neither")
        height, width = image.shape[:2]
        if depth is not None and (depth.shape != (height, width) or (intrinsics.width, intrinsics.height)
                                  != (width, height)):
            raise ValueError(f"depth {depth.shape[1]}x{depth.shape[0]} and intrinsics {intrinsics.width}x"
                             f"{intrinsics.height} must match the {width}x{height} image")
        self.image, self.database, self.model = image, Path(database), model
        self.annotator, self.image_path = annotator, image_path
        self.depth, self.intrinsics = depth, intrinsics
        self._descriptors = model.describe(image)  # (1, D, h, w), reused for every click and heatmap
        self._stored: dict[str, list[StoredClick]] = {}  # this session's clicks per object, oldest first
        self._lock = threading.Lock()  # the page's requests come on several threads

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return self.image.shape[1], self.image.shape[0]

    @property
    def has_depth(self) -> bool:
        return self.depth is not None

    def objects(self) -> dict[str, int]:
        """``{name: stored preferences}`` of the database's objects and those added this session."""
        with KeypointDatabase(self.database) as db:
            counts = dict.fromkeys(db.objects(), 0)
            for record in db.records():
                if record.role == PREFERENCE:
                    counts[record.object] += 1
        with self._lock:
            return dict(sorted((dict.fromkeys(self._stored, 0) | counts).items()))

    def add_object(self, name: object) -> str:
        """Make a new object (``check_object_name``) available for clicks; returns its name.
        Nothing is written until its first click."""
        name = check_object_name(name)
        with self._lock:
            self._stored.setdefault(name, [])
        return name

    def require_object(self, name: object) -> str:
        """``name`` if the database holds it or this session added it, else UnknownObjectError."""
        if isinstance(name, str):
            with self._lock:
                if name in self._stored:
                    return name
            with KeypointDatabase(self.database) as db:
                if name in db.objects():
                    return name
        raise UnknownObjectError(f"unknown object {name!r}: pick one the database holds or add it as new")

    def add(self, object_name: str, pixels: np.ndarray) -> list[int]:
        """Store pixels ``(N, 2)`` (x, y) as preferences of ``object_name``; returns their row ids.
        Refuses (ValueError, nothing stored) when any pixel lies outside the image."""
        if not object_name or not object_name.strip():
            raise ValueError("an object name is required (--object)")
        pixels = require_pixels_inside(pixels, *self.size)
        descriptors = np.stack([descriptor_at(self._descriptors, pixel, self.image.shape[:2]) for pixel in pixels])
        with self._lock:
            with KeypointDatabase(self.database) as db:
                ids = db.add_preferences(object_name, self.image, pixels, descriptors, self.model.hash,
                                         self.annotator, image_path=self.image_path)
            stored = self._stored.setdefault(object_name, [])
            for row, (x, y) in zip(ids, pixels.tolist()):  # a pixel clicked again keeps its row, now the latest
                stored[:] = [click for click in stored if click.id != row] + [StoredClick(row, (x, y))]
        return ids

    def undo(self, object_name: str) -> StoredClick:
        """Remove this session's latest stored preference of ``object_name`` from the database and
        return it. NothingToUndoError when the session stored none (or undid them all)."""
        with self._lock:
            stored = self._stored.get(object_name)
            if not stored:
                raise NothingToUndoError(f"nothing of {object_name!r} to undo: this session stored no "
                                         "preference of it (or undid them all)")
            with KeypointDatabase(self.database) as db:
                db.remove_preferences([stored[-1].id])
            return stored.pop()

    def session_count(self, object_name: str) -> int:
        """Preferences of ``object_name`` this session stored and did not undo."""
        with self._lock:
            return len(self._stored.get(object_name, ()))

    def face_width(self, pixel: np.ndarray) -> float | None:
        """Width (m) of the flat face under ``pixel (2,)`` across its narrow side, measured in
        depth as the oriented grasp measures an annotated face (both keypoints at the pixel);
        None where there is no valid depth there or no flat face. Needs :attr:`has_depth`."""
        if not self.has_depth:
            raise ValueError("this image has no depth: annotate a sequence frame (--sequence, --frame)")
        pixel = require_pixels_inside(pixel, *self.size)[0]
        return annotated_face_width(np.stack([pixel, pixel]), self.depth, self.intrinsics, FACE_MEASUREMENT)

    def overlay_png(self, object_name: str) -> bytes:
        """PNG of the heatmap ``object_name``'s stored preferences give on this image (the plain
        image while it has none)."""
        with KeypointDatabase(self.database) as db:
            try:
                keypoints = db.preference_descriptors(self.model.hash, [object_name])[object_name]
                signatures = stored_signatures(db, [object_name])
            except (EmptyDatabaseError, UnknownObjectError):  # nothing clicked yet
                keypoints = None
        rgb = self.image
        if keypoints is not None:
            weights = appearance_weights(self.image, signatures, tuple(self._descriptors.shape[-2:]))
            heatmap = fused_heatmap(self._descriptors, keypoints, self.image.shape[:2], self.model.eta).with_weights(
                weights[object_name])
            rgb = heatmap_overlay(self.image, heatmap.ranking().upsampled().numpy())
        return encode_png(rgb)

    def image_png(self) -> bytes:
        return encode_png(self.image)
