"""Appearance check: do the colours around a heatmap peak look like those around the clicks?

Descriptors trained at a modest budget find *a* matching surface well but often confuse which
product it is: on simulated heaps the best heatmap peak lay on the annotated product in 26 of 60
heaps, another product's face matching nearly as well. The packaging's colours tell products
apart where the descriptors do not, so heatmap cells are ranked by their value times how alike
the colour distribution around them is to the one around the operator's clicks (HSV
histograms, Bhattacharyya coefficient; ``Heatmap.with_weights``): 40-43 of 60 with the same
model. With the gate below, simulated suction picks the annotated product in 68% of trials
instead of 37%, and another product in none instead of 34 (docs/experiments.md).

The weights only rank: which peak, which object, which keypoint pair comes first. The confidence
handed on and gated stays the descriptor heatmap's value there, so the calibrated gate keeps its
meaning. A weight is relative, ``(similarity / best similarity in the image) ** power``, and 0
where the colours are plainly another product's (similarity below ``min_similarity``): such
cells are never grasp candidates. On simulated heaps the best-ranked spot's similarity was
0.89-0.96 (10th-90th percentile) on the annotated product and 0.33-0.57 on others.

Two value (brightness) bins, not four: a face tilted towards or away from the light reads darker
or brighter than where it was clicked, and on one set of simulated heaps four value bins refused
tilted annotated boxes as unlike (parallel target success 73% -> 81% with two, the other seeds
unchanged). The best spot's similarity then read 0.92-0.97 on the annotated product and
0.51-0.62 on others (suction heaps, seed 0; four bins: 0.89-0.96 and 0.43-0.57).

Suction gates at 0.85, the parallel jaw at 0.7 (``AppearanceCheck.for_gripper``). On 300
validation heaps (seeds 4-6) the pose-free model, whose descriptors confuse products more, picked
another product in 27 suction trials with the gate at 0.7 and in 4 at 0.85 (target success 0.84
-> 0.93; 0.75 / 0.8 / 0.9 gave 0.86 / 0.89 / 0.93, 0.9 with more refusals); the pose-supervised
model's suction was unchanged (0.94). For the jaw 0.85 refused more faces than it saved: the
pose-supervised model's parallel target success fell from 0.84 to 0.79 (pose-free 0.81 -> 0.82).
A stricter gate leans harder on the lighting staying as it was at annotation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import torch
from PIL import Image

from dense_descriptor_ros.grasping.heatmap import cell_pixels
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase


@dataclass(frozen=True)
class AppearanceCheck:
    """How colours are compared: in a disk of ``radius`` pixels around a pixel, HSV histograms of
    ``hue_bins x saturation_bins x value_bins``; heatmap weight ``(similarity / best) ** power``
    (power 0: no ranking), 0 below ``min_similarity`` (0: no gate; both 0: descriptors alone).
    The radius suits objects some 30-60 px across (240x320 images of a bin); scale it with the
    image. Where depth is given, a disk keeps only its pixels within ``depth_tolerance`` metres
    of its centre's depth: the surface there, not what lies beside or below it."""

    radius: float = 8.0
    hue_bins: int = 12
    saturation_bins: int = 4
    value_bins: int = 2
    power: float = 4.0
    min_similarity: float = 0.7
    depth_tolerance: float = 0.015

    def __post_init__(self) -> None:
        if not self.radius > 0 or min(self.hue_bins, self.saturation_bins, self.value_bins) < 1:
            raise ValueError(f"appearance radius must be > 0 and histogram bins >= 1, got {self}")
        if self.power < 0:
            raise ValueError(f"appearance power must be >= 0, got {self.power}")
        if not 0 <= self.min_similarity < 1:
            raise ValueError(f"appearance min_similarity must be in [0, 1), got {self.min_similarity}")
        if not self.depth_tolerance > 0:
            raise ValueError(f"appearance depth_tolerance must be > 0, got {self.depth_tolerance}")

    @classmethod
    def for_gripper(cls, kind: str) -> "AppearanceCheck":
        """The check a ``kind`` gripper's planner runs unless told otherwise (``GRIPPER_GATES``)."""
        if kind not in GRIPPER_GATES:
            raise ValueError(f"gripper must be one of {sorted(GRIPPER_GATES)}, got {kind!r}")
        return cls(min_similarity=GRIPPER_GATES[kind])

    @property
    def enabled(self) -> bool:
        """Whether the check changes anything (it ranks, gates or both)."""
        return self.power > 0 or self.min_similarity > 0

    @property
    def bins(self) -> int:
        return self.hue_bins * self.saturation_bins * self.value_bins


# Each gripper kind's colour gate (min_similarity), chosen on validation heaps: module docstring.
GRIPPER_GATES = {"suction": 0.85, "parallel": 0.7}


def colour_bins(image: np.ndarray, check: AppearanceCheck) -> np.ndarray:
    """The HSV histogram bin ``(H, W)`` int of every pixel of an RGB ``(H, W, 3)`` uint8 image."""
    hsv = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8), "RGB").convert("HSV"), dtype=np.int64)
    hue, saturation, value = (hsv[..., k] * n >> 8 for k, n in enumerate((check.hue_bins, check.saturation_bins,
                                                                           check.value_bins)))
    return (hue * check.saturation_bins + saturation) * check.value_bins + value


def disk_histograms(image: np.ndarray, centres: np.ndarray, check: AppearanceCheck,
                    depth: np.ndarray | None = None) -> np.ndarray:
    """Normalised colour histograms ``(N, bins)`` of the disks around ``centres (N, 2)`` (x, y);
    the parts of a disk outside the image are left out, and with ``depth (H, W)`` metres
    (aligned, NaN = invalid) so are its pixels more than ``depth_tolerance`` nearer or farther
    than the centre pixel (the floor beside a thin box, a neighbour on top; a centre without
    depth keeps its whole disk). Disks wider than 8 px are read from every ``radius / 8``-th
    pixel (about 200 pixels each), which keeps large images fast."""
    image = np.asarray(image)
    if depth is not None and np.shape(depth) != image.shape[:2]:
        raise ValueError(f"depth image of shape {np.shape(depth)} does not match the colour image's "
                         f"{image.shape[:2]}")
    step = max(1, round(check.radius / 8))
    radius = check.radius / step
    reach = int(np.ceil(radius))
    image = image[::step, ::step]
    outside = check.bins  # an extra bin for the border and the masked, dropped at the end
    bins = np.pad(colour_bins(image, check), reach, constant_values=outside)
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    inside_disk = dx ** 2 + dy ** 2 <= radius ** 2
    offsets = (dy[inside_disk] * bins.shape[1] + dx[inside_disk]).astype(np.int64)
    centre = np.rint(np.asarray(centres, dtype=float).reshape(-1, 2) / step).astype(np.int64)
    centre = np.clip(centre, 0, [image.shape[1] - 1, image.shape[0] - 1]) + reach
    at_centre = centre[:, 1] * bins.shape[1] + centre[:, 0]
    index = at_centre[:, None] + offsets
    disk_bins = bins.ravel()[index]
    if depth is not None:
        depths = np.pad(np.asarray(depth, dtype=float)[::step, ::step], reach, constant_values=np.nan).ravel()
        here = depths[at_centre][:, None]
        with np.errstate(invalid="ignore"):
            off_surface = np.isfinite(here) & ~(np.abs(depths[index] - here) <= check.depth_tolerance)
        disk_bins = np.where(off_surface, outside, disk_bins)
    flat = disk_bins + (np.arange(len(centre)) * (outside + 1))[:, None]
    counts = np.bincount(flat.ravel(), minlength=len(centre) * (outside + 1)).reshape(len(centre), outside + 1)
    counts = counts[:, :outside]
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def colour_signature(image: np.ndarray, pixels: np.ndarray, check: AppearanceCheck = AppearanceCheck()) -> np.ndarray:
    """Normalised colour histogram ``(bins,)`` of the disks around ``pixels (N >= 1, 2)`` (x, y)."""
    pixels = np.asarray(pixels, dtype=float).reshape(-1, 2)
    if len(pixels) == 0:
        raise ValueError("a colour signature needs at least one pixel")
    return disk_histograms(image, pixels, check).mean(axis=0)


def appearance_weights(image: np.ndarray, signatures: Mapping[str, np.ndarray], grid_size: tuple[int, int],
                       check: AppearanceCheck = AppearanceCheck(),
                       depth: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Each object's weights ``(h, w)`` float32 in [0, 1] for the cells of the image's descriptor
    grid: ``(similarity / best) ** power``, similarity the Bhattacharyya coefficient of the
    object's signature and the disk around the cell (of the surface there, with ``depth``);
    0 where it is below ``min_similarity``."""
    for name, signature in signatures.items():
        if signature.shape != (check.bins,):
            raise ValueError(f"a colour signature of {check.bins} bins was expected for {name!r}, "
                             f"got shape {signature.shape}")
    if not signatures:
        return {}
    image = np.asarray(image)
    roots = torch.from_numpy(np.sqrt(disk_histograms(image, cell_pixels(tuple(grid_size), image.shape[:2]), check,
                                                   depth)))
    # (cells, objects) in torch, not numpy: numpy's BLAS threads left spinning slow the next torch product
    similarity = (roots @ torch.from_numpy(np.sqrt(np.stack(list(signatures.values())))).T).numpy()
    best = similarity.max(axis=0)
    relative = np.where(best > 0, similarity / np.where(best > 0, best, 1.0), 1.0)
    weights = np.where(similarity >= check.min_similarity, relative ** check.power, 0.0)
    weights = weights.astype(np.float32).T.reshape(len(signatures), *grid_size)
    return dict(zip(signatures, torch.from_numpy(weights)))


def stored_signatures(database: KeypointDatabase, objects: Iterable[str], axis: bool = False,
                      check: AppearanceCheck = AppearanceCheck()) -> dict[str, np.ndarray]:
    """Each object's colour signature from the source images the database keeps: around its
    grasp preferences, or with ``axis`` halfway between its two axis keypoints (the face the
    fingers close on; the keypoints themselves often sit at its edges). Empty when ``check`` is
    off: nothing is then compared."""
    if not check.enabled:
        return {}
    wanted = set(objects)
    roles = {"axis_a", "axis_b"} if axis else {"preference"}
    by_image: dict[str, dict[int, list[tuple[float, float]]]] = {name: {} for name in wanted}
    for record in database.records():
        if record.object in wanted and record.role in roles:
            by_image[record.object].setdefault(record.image_id, []).append(record.xy)
    missing = sorted(name for name, images in by_image.items() if not images)
    if missing:
        raise ValueError(f"no {'axis keypoints' if axis else 'grasp preferences'} stored for {missing}: "
                         "nothing to compare colours with")
    return {name: np.mean([colour_signature(database.image(image_id),
                                            np.mean(xy, axis=0) if axis else np.array(xy), check)
                           for image_id, xy in images.items()], axis=0)
            for name, images in by_image.items()}
