"""Posed RGB-D sequences and the pixel correspondences their geometry implies.

On-disk format (one folder per sequence under a dataset root)::

    sequence.json   {"format": "ddr-rgbd-sequence", "version": 1,
                     "intrinsics": {"fx", "fy", "cx", "cy", "width", "height"},
                     "depth_scale": 0.001,
                     "frames": [{"rgb": "rgb/000000.png", "depth": "depth/000000.png",
                                 "mask": "mask/000000.png",            # optional
                                 "T_world_camera": [[...4x4...]],
                                 "intrinsics": {...},                   # optional, this frame's own
                                 "object_poses": {"7": [[...4x4...]]}}]}  # optional
    rgb/*.png       8-bit RGB
    depth/*.png     16-bit depth in units of depth_scale metres, 0 = invalid
    mask/*.png      16-bit object ids, 0 = background

Camera frames are ROS optical frames (x right, y down, z forward). A sequence is a static scene
seen by a moving camera, unless its frames carry ``object_poses`` (``T_world_object`` by mask
id): then the frames may show the objects re-arranged in other scenes, points move with their
object, and only the listed objects correspond between frames.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from dense_descriptor_ros.data.documents import DocumentError, read_document
from dense_descriptor_ros.data.images import DatasetError, open_image, read_rgb, to_tensor
from dense_descriptor_ros.geometry.camera import (Intrinsics, backproject, move_with_objects, project,
                                                  transform_points)
from dense_descriptor_ros.geometry.normals import normals_at, seen_on_same_surface

SEQUENCE_FORMAT = "ddr-rgbd-sequence"
SEQUENCE_VERSION = 1


@dataclass
class SequenceEntry:
    """One frame of a sequence as ``sequence.json`` lists it: file paths and poses, not pixels."""

    rgb: Path
    depth: Path
    pose: np.ndarray  # (4, 4) T_world_camera
    mask: Path | None = None
    intrinsics: Intrinsics | None = None  # None: the sequence's
    object_poses: dict[int, np.ndarray] | None = None  # mask id -> (4, 4) T_world_object


@dataclass
class PosedDepth:
    """What reprojecting pixels needs of one frame; ``mask`` and ``object_poses`` only when
    objects may have moved between frames."""

    intrinsics: Intrinsics
    depth: np.ndarray  # (H, W) metres, NaN invalid
    pose: np.ndarray  # (4, 4) T_world_camera
    mask: np.ndarray | None = None  # (H, W) object ids
    object_poses: dict[int, np.ndarray] | None = None


@dataclass
class RGBDSequence:
    root: Path
    intrinsics: Intrinsics
    depth_scale: float
    frames: list[SequenceEntry]

    def load_rgb(self, index: int) -> np.ndarray:
        return read_rgb(self.frames[index].rgb)

    def load_depth(self, index: int) -> np.ndarray:
        """Depth in metres ``(H, W)`` float32; invalid pixels are NaN."""
        with open_image(self.frames[index].depth, "depth image") as img:
            raw = np.asarray(img).astype(np.float32)
        depth = raw * self.depth_scale
        depth[raw <= 0] = np.nan
        return depth

    @property
    def rearranged(self) -> bool:
        """Whether the frames carry object poses (objects move between frames)."""
        return any(f.object_poses is not None for f in self.frames)

    def load_mask(self, index: int, purpose: str) -> np.ndarray:
        """``(H, W)`` object ids of a frame; ``purpose`` names what needs it in the error."""
        path = self.frames[index].mask
        if path is None:
            raise DatasetError(f"{self.root}: frame {index} has no mask; {purpose} needs one")
        with open_image(path, "mask image") as img:
            return np.asarray(img).astype(np.int64)

    def load_foreground(self, index: int) -> np.ndarray:
        """``(H, W)`` bool: the pixels of objects (non-zero ids in the frame's mask)."""
        return self.load_mask(index, "background randomisation") > 0

    def posed_depth(self, index: int) -> PosedDepth:
        """Depth, camera and (for re-arranged sequences) object ids and poses of one frame."""
        frame = self.frames[index]
        rearranged = frame.object_poses is not None
        return PosedDepth(frame.intrinsics or self.intrinsics, self.load_depth(index), frame.pose,
                          self.load_mask(index, "a frame with object poses") if rearranged else None,
                          frame.object_poses)


def random_background(rgb: np.ndarray, foreground: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` with every non-object pixel replaced by a random smooth colour field.

    Drawn independently for the two frames of a pair, so the bin and floor around an object
    differ between the views and a descriptor cannot lean on them (the cross-scene test puts
    the same objects in other bins).
    """
    h, w = foreground.shape
    coarse = rng.integers(0, 256, (int(rng.integers(2, 9)), int(rng.integers(2, 9)), 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR), dtype=np.float32)
    field += rng.normal(0.0, rng.uniform(0.0, 12.0), field.shape)  # a little texture
    out = rgb.copy()
    out[~foreground] = np.clip(field[~foreground], 0, 255).astype(np.uint8)
    return out


def load_sequence(root: str | Path) -> RGBDSequence:
    """Read and validate ``root/sequence.json``."""
    root = Path(root)
    meta_path = root / "sequence.json"
    if not meta_path.is_file():
        raise DatasetError(f"not an RGB-D sequence (no sequence.json): {root}")
    try:
        meta = read_document(meta_path, SEQUENCE_FORMAT, SEQUENCE_VERSION)
    except DocumentError as exc:
        raise DatasetError(str(exc)) from exc
    try:
        intrinsics = Intrinsics(**meta["intrinsics"])
        frames = [_frame(root, f) for f in meta["frames"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{meta_path}: malformed field {exc}") from exc
    for frame in frames:
        poses = [frame.pose, *(frame.object_poses or {}).values()]
        if any(pose.shape != (4, 4) for pose in poses):
            raise DatasetError(f"{meta_path}: a pose of {frame.rgb.name} is not 4x4")
        if frame.object_poses is not None and frame.mask is None:
            raise DatasetError(f"{meta_path}: {frame.rgb.name} has object poses but no mask")
    return RGBDSequence(root, intrinsics, float(meta.get("depth_scale", 0.001)), frames)


def _frame(root: Path, entry: dict) -> SequenceEntry:
    poses = entry.get("object_poses")
    return SequenceEntry(root / entry["rgb"], root / entry["depth"], np.asarray(entry["T_world_camera"], float),
                 root / entry["mask"] if entry.get("mask") else None,
                 Intrinsics(**entry["intrinsics"]) if "intrinsics" in entry else None,
                 None if poses is None else {int(k): np.asarray(v, float) for k, v in poses.items()})


def save_sequence(root: str | Path, intrinsics: Intrinsics, frames: list[dict],
                  depth_scale: float = 0.001) -> Path:
    """Write ``sequence.json`` for frames already on disk (paths relative to ``root``)."""
    root = Path(root)
    meta = {"format": SEQUENCE_FORMAT, "version": SEQUENCE_VERSION,
            "intrinsics": intrinsics.to_dict(), "depth_scale": depth_scale, "frames": frames}
    path = root / "sequence.json"
    path.write_text(json.dumps(meta, indent=1))
    return path


def find_sequences(root: str | Path) -> list[RGBDSequence]:
    """Every sequence folder below ``root`` (``root`` itself may be one)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"RGB-D dataset folder not found: {root}")
    sequences = [load_sequence(p.parent) for p in sorted(root.rglob("sequence.json"))]
    if not sequences:
        raise DatasetError(f"no sequence.json below {root}")
    return sequences


def reproject_correspondences(a: PosedDepth, b: PosedDepth, xy_a: np.ndarray,
                              depth_tolerance: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Where pixels of frame A appear in frame B.

    ``xy_a (N, 2)`` integer pixels of A -> ``(xy_b (N, 2), valid (N,))``. A correspondence
    is valid when A has depth there, the point lands inside B's field of view, and B's depth
    at that pixel agrees within ``depth_tolerance`` (relative) — otherwise it is occluded.
    With object poses in both frames a point moves with its object, and it must land on the
    same object, on the same well-seen surface, in B (a moved object may show another face at
    the right depth); points on anything without a pose in both frames have no correspondence.
    """
    xy_a = np.asarray(xy_a)
    cols, rows = xy_a[:, 0].astype(int), xy_a[:, 1].astype(int)
    z_a = a.depth[rows, cols]
    world = transform_points(a.pose, backproject(a.intrinsics, xy_a, z_a))
    b_from_world = np.linalg.inv(b.pose)
    ids = None
    if a.object_poses is not None and b.object_poses is not None:
        ids = a.mask[rows, cols]
        normals = normals_at(a.intrinsics, a.depth, rows, cols) @ a.pose[:3, :3].T
        world, normals = move_with_objects(world, normals, ids, a.object_poses, b.object_poses)
    xy_b, z_b = project(b.intrinsics, transform_points(b_from_world, world))
    h, w = b.depth.shape
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(z_a) & (z_b > 0) & _in_bounds(xy_b, h, w)
    px = np.clip(np.round(np.nan_to_num(xy_b)).astype(int), 0, [w - 1, h - 1])
    observed = b.depth[px[:, 1], px[:, 0]]
    with np.errstate(invalid="ignore"):
        visible = inside & np.isfinite(observed) & (np.abs(observed - z_b) <= depth_tolerance * z_b)
    if ids is not None:
        visible &= b.mask[px[:, 1], px[:, 0]] == ids
        visible &= seen_on_same_surface(normals @ b_from_world[:3, :3].T, b.intrinsics, b.depth,
                                        px[:, 1], px[:, 0])
    return xy_b, visible


def sample_frame_pair(rng: random.Random, sequences: list[RGBDSequence],
                      max_gap: int) -> tuple[RGBDSequence, int, int]:
    """A sequence and two of its frames: any two views of a re-arranged sequence (several scenes,
    not a trajectory), or neighbours at most ``max_gap`` apart on a trajectory."""
    seq = rng.choice(sequences)
    i = rng.randrange(len(seq.frames))
    if seq.rearranged:
        j = (i + rng.randrange(1, len(seq.frames))) % len(seq.frames)
    else:
        j = min(len(seq.frames) - 1, max(0, i + rng.choice([-1, 1]) * rng.randint(1, max_gap)))
        j = j if j != i else (i + 1) % len(seq.frames)
    return seq, i, j


class RGBDPairDataset(Dataset):
    """Random frame pairs from posed sequences with their reprojected correspondences.

    Item: ``(image_a (3, H, W), image_b (3, H, W), xy_a (N, 2), xy_b (N, 2), valid (N,))`` at
    the sequences' native resolution; pairs are at most ``max_gap`` frames apart. With
    ``crop = (h, w)`` both frames are cut to native-scale windows of that size (a quarter of
    the compute for half-size windows): a random window in A, and the window in B centred on
    where A's window lands, so the correspondences stay inside both. In re-arranged sequences
    (frames with object poses) any two frames pair up and correspondences lie on the tracked
    objects. With
    ``randomise_background`` every non-object pixel (frame masks needed) is repainted, anew
    in each frame (:func:`random_background`), and correspondences are drawn on objects only
    (repainted pixels look different in A and B).
    """

    def __init__(self, root: str | Path, num_correspondences: int = 2048, max_gap: int = 10,
                 pairs_per_epoch: int = 1000, seed: int = 0,
                 crop: tuple[int, int] | None = None, randomise_background: bool = False) -> None:
        self.sequences = [s for s in find_sequences(root) if len(s.frames) >= 2]
        if not self.sequences:
            raise DatasetError(f"no sequence in {root} has two or more frames")
        self.num_correspondences = num_correspondences
        self.max_gap = max_gap
        self.pairs_per_epoch = pairs_per_epoch
        self.seed = seed
        self.crop = crop
        self.randomise_background = randomise_background

    def __len__(self) -> int:
        return self.pairs_per_epoch

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        rng = random.Random(self.seed * 1_000_003 + index)
        seq, i, j = sample_frame_pair(rng, self.sequences, self.max_gap)
        a, b = seq.posed_depth(i), seq.posed_depth(j)
        rgb_a, rgb_b = seq.load_rgb(i), seq.load_rgb(j)
        usable = np.isfinite(a.depth)
        if a.object_poses is not None:  # only tracked objects can correspond
            usable &= np.isin(a.mask, list(a.object_poses))
        if self.randomise_background:
            paint = np.random.default_rng(rng.getrandbits(32))
            objects_a = seq.load_foreground(i)
            usable &= objects_a
            rgb_a = random_background(rgb_a, objects_a, paint)
            rgb_b = random_background(rgb_b, seq.load_foreground(j), paint)
        full = a.depth.shape
        corner = (rng.random(), rng.random()) if self.crop else (0.0, 0.0)  # no draw without a crop
        window_a = self._window(full, *corner)
        n = self.num_correspondences
        ys, xs = np.nonzero(usable[window_a])
        if len(xs) == 0:  # nothing usable in A: a pair with no valid correspondence
            xy_a, xy_b, valid = np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(n, bool)
            window_b = window_a
        else:
            pick = np.random.default_rng(rng.getrandbits(32)).choice(len(xs), n, replace=len(xs) < n)
            xy_a = np.stack([xs[pick] + window_a[1].start, ys[pick] + window_a[0].start], -1).astype(float)
            xy_b, valid = reproject_correspondences(a, b, xy_a)
            window_b = self._window_around(full, xy_b[valid]) if valid.any() else window_a
            xy_a, xy_b = _shift(xy_a, window_a), _shift(xy_b, window_b)
            valid &= _inside(xy_b, window_b)
        return (to_tensor(rgb_a[window_a]), to_tensor(rgb_b[window_b]),
                torch.from_numpy(xy_a).float(), torch.from_numpy(np.nan_to_num(xy_b)).float(),
                torch.from_numpy(valid))

    def _window(self, full: tuple[int, int], fy: float, fx: float) -> tuple[slice, slice]:
        """The crop window whose top-left corner is at fractions ``(fy, fx)`` of the free range."""
        h, w = self.crop or full
        if h > full[0] or w > full[1]:
            raise DatasetError(f"crop {h}x{w} is larger than the frames ({full[0]}x{full[1]})")
        y0, x0 = round(fy * (full[0] - h)), round(fx * (full[1] - w))
        return slice(y0, y0 + h), slice(x0, x0 + w)

    def _window_around(self, full: tuple[int, int], xy: np.ndarray) -> tuple[slice, slice]:
        """The crop window centred on the median of the points ``xy (M, 2)``, kept in the frame."""
        h, w = self.crop or full
        cx, cy = np.median(xy, axis=0)
        fy = np.clip((cy - h / 2) / max(full[0] - h, 1), 0.0, 1.0)
        fx = np.clip((cx - w / 2) / max(full[1] - w, 1), 0.0, 1.0)
        return self._window(full, fy, fx)


def _shift(xy: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """Pixel coordinates relative to a crop window's top-left corner."""
    return xy - np.array([window[1].start, window[0].start], dtype=float)


def _inside(xy: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """Whether shifted pixel coordinates fall inside a crop window of that size."""
    return _in_bounds(xy, window[0].stop - window[0].start, window[1].stop - window[1].start)


def _in_bounds(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Whether pixel coordinates ``xy (N, 2)`` (pixel centres at integers) lie in an h x w image."""
    return (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < h - 0.5)
