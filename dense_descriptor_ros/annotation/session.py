"""One operator's annotation of one image: clicks become stored grasp preferences at once.

Each click is written to the keypoint database in its own transaction as soon as it arrives,
so closing the page or killing the process loses nothing already clicked. The heatmap the
stored preferences produce on this image, ranked by the same colour check as the grasp nodes,
is rendered for feedback.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import read_rgb
from ..grasping.appearance import appearance_weights, stored_signatures
from ..grasping.heatmap import fused_heatmap
from ..grasping.keypoint_db import EmptyDatabaseError, KeypointDatabase, UnknownObjectError
from ..grasping.overlay import heatmap_overlay
from ..model.descriptor_model import DescriptorModel


def load_rgb(path: Path) -> np.ndarray:
    """An image file as RGB ``(H, W, 3)`` uint8, read by the rules training reads images with
    (``data.images.read_rgb``: size limit, no depth or infrared taken as colour)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    return read_rgb(path)


class AnnotationSession:
    """Stores clicks on ``image (H, W, 3)`` as preferences of ``object_name`` in ``database``."""

    def __init__(self, image: np.ndarray, database: Path, model: DescriptorModel,
                 object_name: str, annotator: str = "operator", image_path: str | None = None) -> None:
        if not object_name or not object_name.strip():
            raise ValueError("an object name is required (--object)")
        self.image, self.database, self.model = image, Path(database), model
        self.object_name, self.annotator, self.image_path = object_name, annotator, image_path
        self._descriptors = model.describe(image)  # (1, D, h, w), reused for every heatmap
        self.clicks: list[tuple[float, float]] = []

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return self.image.shape[1], self.image.shape[0]

    def add(self, pixels: np.ndarray) -> list[int]:
        """Store pixels ``(N, 2)`` (x, y) as preferences; returns their database row ids."""
        pixels = np.asarray(pixels, dtype=float).reshape(-1, 2)
        descriptors = self.model.describe_pixels(self.image, pixels)
        with KeypointDatabase(self.database) as db:
            ids = db.add_preferences(self.object_name, self.image, pixels, descriptors, self.model.hash,
                                     self.annotator, image_path=self.image_path)
        self.clicks.extend(map(tuple, pixels.tolist()))
        return ids

    def overlay_png(self) -> bytes:
        """PNG of the heatmap the object's stored preferences give on this image (the plain image
        before the first preference)."""
        with KeypointDatabase(self.database) as db:
            try:
                keypoints = db.preference_descriptors(self.model.hash, [self.object_name])[self.object_name]
                signatures = stored_signatures(db, [self.object_name])
            except (EmptyDatabaseError, UnknownObjectError):  # nothing clicked yet
                keypoints = None
        rgb = self.image
        if keypoints is not None:
            weights = appearance_weights(self.image, signatures, tuple(self._descriptors.shape[-2:]))
            heatmap = fused_heatmap(self._descriptors, keypoints, self.image.shape[:2], self.model.eta).with_weights(
                weights[self.object_name])
            rgb = heatmap_overlay(self.image, heatmap.ranking().upsampled().numpy())
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="PNG")
        return buffer.getvalue()

    def image_png(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.image).save(buffer, format="PNG")
        return buffer.getvalue()
