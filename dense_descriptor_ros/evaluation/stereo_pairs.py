"""Evaluation pairs of real photographs with ground truth, from rectified stereo pairs.

The ground-truth disparity ``d`` of a rectified pair's left image says that left pixel
``(x, y)`` shows the same surface point as right pixel ``(x - d, y)``. Queries are drawn
(seeded, on textured pixels, as for the synthetic pairs) where ``d`` is known and the right
camera sees the point; both images are resized by one isotropic scale and centre-cropped, so
every correspondence stays exact. Real photographs test what rendered pairs cannot: a second
camera, sensor noise, real materials and lighting.

Two sources install offline; they are for evaluation only, never for training:

* ``middlebury-aloe``: Debian's ``opencv-doc`` ships the Middlebury 2006 Aloe pair
  (1282x1110). ``aloeGT.png`` is 8-bit disparity in pixels at that size, 0 = unknown (checked
  by warping: scale 1.00, offset under 0.5 px; mean grey error 7.8 warped, 33 unwarped).
* ``skimage-motorcycle``: scikit-image's ``data.stereo_motorcycle()``, Middlebury 2014
  Motorcycle at 741x500 with float disparity, inf = unknown (its docstring says NaN).
"""
from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dense_descriptor_ros.data.images import check_rgb, open_image, read_rgb, to_tensor
from dense_descriptor_ros.evaluation.pairs import Pair, save_pairs
from dense_descriptor_ros.evaluation.synthetic_pairs import (BORDER_PX, gradient_magnitude,
                                                             pick_queries)

log = logging.getLogger(__name__)

OPENCV_DOC_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
# A left pixel is hidden when a known pixel at least this much nearer (in disparity) lands on
# its right-image column; 1 px keeps slanted surfaces, whose neighbours round to one column.
OCCLUSION_TOLERANCE_PX = 1.0
DIRECTIONS = ("left-right", "both")


@dataclass(frozen=True)
class StereoPair:
    """A rectified pair and the ground-truth disparity of its left image.

    ``left``, ``right`` ``(H, W, 3)`` uint8 RGB; ``disparity`` ``(H, W)`` float pixels: left
    ``x`` is right ``x - d``. Unknown: not finite or <= 0 (Middlebury PNGs mark it 0).
    """

    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray
    credit: str

    def __post_init__(self) -> None:
        check_rgb(self.left)
        check_rgb(self.right)
        if not self.left.shape == self.right.shape == self.disparity.shape + (3,):
            raise ValueError(f"stereo images and disparity differ in size: left {self.left.shape}, "
                             f"right {self.right.shape}, disparity {self.disparity.shape}")


def load_middlebury_aloe(folder: Path = OPENCV_DOC_DATA) -> StereoPair:
    """The Aloe pair from Debian's opencv-doc; a clear error when the package is missing."""
    paths = [folder / name for name in ("aloeL.jpg", "aloeR.jpg", "aloeGT.png")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Middlebury Aloe stereo pair not found ({', '.join(missing)}): "
                                "install Debian's opencv-doc package (apt-get install opencv-doc; "
                                "listed in requirements/apt.txt)")
    with open_image(paths[2], "ground-truth disparity") as img:
        if img.mode != "L":
            raise ValueError(f"{paths[2]}: expected 8-bit disparity (mode L), got mode {img.mode}")
        disparity = np.asarray(img, dtype=np.float64)
    return StereoPair(read_rgb(paths[0]), read_rgb(paths[1]), disparity,
                      "Middlebury 2006 Aloe (Scharstein & Pal), via Debian opencv-doc")


def load_skimage_motorcycle() -> StereoPair:
    """scikit-image's Motorcycle pair (bundled with the package, no download)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise ImportError("skimage-motorcycle needs scikit-image: "
                          "pip install -r requirements/sim.txt") from exc
    left, right, disparity = data.stereo_motorcycle()
    return StereoPair(left, right, disparity.astype(np.float64),
                      "Middlebury 2014 Motorcycle (Scharstein et al.), via scikit-image")


STEREO_SOURCES: dict[str, Callable[[], StereoPair]] = {
    "middlebury-aloe": load_middlebury_aloe,
    "skimage-motorcycle": load_skimage_motorcycle,
}


def visible_in_right(disparity: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels of known disparity whose point the right camera sees.

    A pixel is hidden when a nearer (larger-disparity) known pixel of its row lands on the same
    right column, or when it lands outside the right image. Middlebury's ground truth covers
    such half-occluded pixels too; their colour does not match in the right image.
    """
    known = np.isfinite(disparity) & (disparity > 0)
    d = np.where(known, disparity, 0.0)
    height, width = disparity.shape
    column = np.round(np.arange(width) - d).astype(int)
    rows, cols = np.nonzero(known & (column >= 0) & (column < width))
    landing = column[rows, cols]
    nearest = np.full((height, width), -np.inf)
    np.maximum.at(nearest, (rows, landing), d[rows, cols])
    visible = np.zeros_like(known)
    visible[rows, cols] = d[rows, cols] >= nearest[rows, landing] - OCCLUSION_TOLERANCE_PX
    return visible


Box = tuple[float, float, float, float]  # (left, top, right, bottom) in source pixels


def cover_box(shape: tuple[int, int], size: tuple[int, int] | None) -> tuple[float, Box]:
    """Scale and centred source box that fill ``size = (h, w)`` from an image of ``shape``.

    One scale for both axes (the aspect ratio is kept, the overhang cropped), so a source pixel
    ``x`` lands at ``(x + 0.5 - left) * scale - 0.5``; ``None`` keeps the native size.
    """
    height, width = shape
    if size is None:
        return 1.0, (0.0, 0.0, float(width), float(height))
    scale = max(size[0] / height, size[1] / width)
    half_w, half_h = size[1] / scale / 2, size[0] / scale / 2
    return scale, (width / 2 - half_w, height / 2 - half_h, width / 2 + half_w, height / 2 + half_h)


def _fit(rgb: np.ndarray, size: tuple[int, int] | None, box: Box) -> np.ndarray:
    if size is None:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR, box=box))


def sample_correspondences(disparity: np.ndarray, scale: float, box: Box, texture: np.ndarray,
                           count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` ground-truth correspondences between the fitted left and right images.

    ``disparity (H, W)`` native; ``scale`` and ``box`` from :func:`cover_box`; ``texture (h, w)``
    of the fitted left image. Queries are native left pixels of known, visible disparity,
    drawn among the most textured, that stay ``BORDER_PX`` inside both fitted images. Returns
    ``(queries (N, 2), targets (N, 2))`` in fitted pixels: left -> right.
    """
    out_h, out_w = texture.shape
    known = np.isfinite(disparity) & (disparity > 0)
    ys, xs = np.mgrid[0:disparity.shape[0], 0:disparity.shape[1]].astype(float)
    qx, qy = (xs + 0.5 - box[0]) * scale - 0.5, (ys + 0.5 - box[1]) * scale - 0.5
    tx = qx - np.where(known, disparity, np.nan) * scale  # NaN where unknown: never inside

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return ((x >= BORDER_PX) & (x <= out_w - 1 - BORDER_PX)
                & (y >= BORDER_PX) & (y <= out_h - 1 - BORDER_PX))

    usable = visible_in_right(disparity) & inside(qx, qy) & inside(tx, qy)
    nearest_y = np.clip(np.round(qy), 0, out_h - 1).astype(int)
    nearest_x = np.clip(np.round(qx), 0, out_w - 1).astype(int)
    picked = pick_queries(texture[nearest_y, nearest_x], usable, count, rng).astype(int)
    px, py = picked[:, 0], picked[:, 1]
    return (np.stack([qx[py, px], qy[py, px]], axis=-1),
            np.stack([tx[py, px], qy[py, px]], axis=-1))


def make_stereo_pairs(sources: dict[str, StereoPair], out_dir: Path, size: tuple[int, int] | None,
                      keypoints: int, seed: int, directions: str = "both") -> Path:
    """Write each source's resized images and ``out_dir/pairs.json``; returns its path.

    Each source gives a left -> right pair and, with ``directions="both"``, the same
    correspondences right -> left (the left disparity tells where right pixels come from).
    A source's queries depend only on ``seed`` and its name, not on the other sources.
    """
    if keypoints < 1:
        raise ValueError(f"keypoints must be >= 1, got {keypoints}")
    if directions not in DIRECTIONS:
        raise ValueError(f"directions must be one of {DIRECTIONS}, got {directions!r}")
    if not sources:
        raise ValueError("no stereo source given")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs: list[Pair] = []
    for name, stereo in sources.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        scale, box = cover_box(stereo.disparity.shape, size)
        left, right = _fit(stereo.left, size, box), _fit(stereo.right, size, box)
        texture = gradient_magnitude(to_tensor(left))
        queries, targets = sample_correspondences(stereo.disparity, scale, box, texture, keypoints,
                                                  rng)
        if len(queries) == 0:
            raise ValueError(f"{name}: no pixel of known disparity stays inside both images "
                             f"at size {size}")
        if len(queries) < keypoints:
            log.warning("%s: only %d of %d keypoints available", name, len(queries), keypoints)
        names = {"left": f"{name}_left.png", "right": f"{name}_right.png"}
        for side, image in (("left", left), ("right", right)):
            Image.fromarray(image).save(out_dir / names[side])
        meta = {"source": name, "credit": stereo.credit, "seed": seed, "scale": scale}
        visible = np.ones(len(queries), bool)
        pairs.append(Pair(names["left"], names["right"], queries, targets, visible,
                          extra={"meta": {**meta, "direction": "left-right"}}))
        if directions == "both":
            pairs.append(Pair(names["right"], names["left"], targets, queries, visible,
                              extra={"meta": {**meta, "direction": "right-left"}}))
    path = out_dir / "pairs.json"
    save_pairs(path, pairs)
    return path
