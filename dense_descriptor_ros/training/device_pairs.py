"""Geometric training pairs made on the training device: the loader only reads files.

``data.rgbd.RGBDPairDataset`` does each pair's work in a loader process: colour to float,
background repainting, correspondence sampling and reprojection (with normals and object
motion for re-arranged heaps). On two CPU cores that is 57 ms a pair, so a GPU training at batch
16 waits on its loaders (the shipped model's run: 5.5 steps/s with 6 workers, GPU 30-45% busy).
Here the loader (:class:`RGBDFrameDataset`) returns the stored frames as they are (uint8
colour, depth, object ids, cameras, object poses) and :func:`pairs_on_device` does the rest for
the whole batch at once on the device, giving the batch ``geometric_loss`` takes.

Same geometry as ``reproject_correspondences`` (checked on seeded pairs in
``test/test_device_pairs.py``); what differs is random, not geometric: correspondences are drawn
with replacement (the loader draws without, when it can), and frame pairs come from this
dataset's own draws. Crop windows are left to the loader path.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from dense_descriptor_ros.data.images import DatasetError
from dense_descriptor_ros.data.rgbd import RGBDSequence, find_sequences, sample_frame_pair
from dense_descriptor_ros.geometry.normals import MIN_NORMAL_AGREEMENT, MIN_VIEW_COSINE


class RGBDFrameDataset(Dataset):
    """Random frame pairs of posed sequences, as stored: the per-pair work is left to
    :func:`pairs_on_device`.

    Item (a dict of tensors, so the default collate batches it): ``rgb_a``/``rgb_b`` ``(3, H, W)``
    uint8, ``depth_a``/``depth_b`` ``(H, W)`` float32 metres (NaN invalid), ``ids_a``/``ids_b``
    ``(H, W)`` int64 object ids (zeros without a mask), ``camera_a``/``camera_b`` ``(4,)`` fx, fy,
    cx, cy, ``pose_a``/``pose_b`` ``(4, 4)`` T_world_camera, ``objects_a``/``objects_b``
    ``(K, 4, 4)`` T_world_object by id (NaN where the frame has no pose for that id) and
    ``rearranged`` (whether both frames carry object poses).
    """

    def __init__(self, root: str | Path, max_gap: int = 10, pairs_per_epoch: int = 1000, seed: int = 0,
                 randomise_background: bool = False) -> None:
        self.sequences = [s for s in find_sequences(root) if len(s.frames) >= 2]
        if not self.sequences:
            raise DatasetError(f"no sequence in {root} has two or more frames")
        self.max_gap, self.pairs_per_epoch, self.seed = max_gap, pairs_per_epoch, seed
        self.randomise_background = randomise_background
        self.id_slots = 1 + max((i for s in self.sequences for f in s.frames for i in (f.object_poses or {})),
                                default=0)

    def __len__(self) -> int:
        return self.pairs_per_epoch

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        rng = random.Random(self.seed * 1_000_003 + index)
        seq, i, j = sample_frame_pair(rng, self.sequences, self.max_gap)
        item = {"rearranged": torch.tensor(seq.frames[i].object_poses is not None
                                           and seq.frames[j].object_poses is not None)}
        for side, frame in (("a", i), ("b", j)):
            item.update({f"{key}_{side}": value for key, value in self._frame(seq, frame).items()})
        return item

    def _frame(self, seq: RGBDSequence, index: int) -> dict[str, Tensor]:
        posed = seq.posed_depth(index)
        needs_ids = posed.object_poses is not None or self.randomise_background
        ids = seq.load_mask(index, "background randomisation") if needs_ids else np.zeros(posed.depth.shape, np.int64)
        objects = np.full((self.id_slots, 4, 4), np.nan)
        for object_id, pose in (posed.object_poses or {}).items():
            objects[object_id] = pose
        k = posed.intrinsics
        return {"rgb": torch.from_numpy(np.ascontiguousarray(seq.load_rgb(index).transpose(2, 0, 1))),
                "depth": torch.from_numpy(posed.depth), "ids": torch.from_numpy(ids.astype(np.int64)),
                "camera": torch.tensor([k.fx, k.fy, k.cx, k.cy], dtype=torch.float64),
                "pose": torch.from_numpy(posed.pose), "objects": torch.from_numpy(objects)}


def pairs_on_device(frames: dict[str, Tensor], num_correspondences: int, randomise_background: bool,
                    generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
    """A batch of :class:`RGBDFrameDataset` items (already on the device) -> the loader path's
    ``(image_a, image_b (B, 3, H, W) in [0, 1], xy_a, xy_b (B, N, 2), valid (B, N))``."""
    image_a, image_b = frames["rgb_a"].float() / 255.0, frames["rgb_b"].float() / 255.0
    usable = torch.isfinite(frames["depth_a"])
    tracked = _has_pose(frames["objects_a"], frames["ids_a"])
    usable &= torch.where(frames["rearranged"][:, None, None], tracked, torch.ones_like(tracked))
    if randomise_background:
        usable &= frames["ids_a"] > 0
        image_a = paint_background(image_a, frames["ids_a"] > 0, generator)
        image_b = paint_background(image_b, frames["ids_b"] > 0, generator)
    xy_a, any_usable = sample_pixels(usable, num_correspondences, generator)
    xy_b, valid = reproject_batch(frames, xy_a)
    return image_a, image_b, xy_a.float(), torch.nan_to_num(xy_b).float(), valid & any_usable[:, None]


def sample_pixels(usable: Tensor, count: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``count`` pixels ``(B, count, 2)`` (x, y) drawn uniformly, with replacement, from the
    ``usable (B, H, W)`` ones, and whether each image had any (else its pixels mean nothing)."""
    flat = usable.flatten(1).float()
    any_usable = flat.sum(dim=1) > 0
    weights = torch.where(any_usable[:, None], flat, torch.ones_like(flat))
    index = torch.multinomial(weights, count, replacement=True, generator=generator)
    width = usable.shape[-1]
    return torch.stack([index % width, index // width], dim=-1).double(), any_usable


def paint_background(images: Tensor, foreground: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``images (B, 3, H, W)`` with every pixel off ``foreground (B, H, W)`` replaced by a random
    smooth colour field with a little noise: ``data.rgbd.random_background`` for a batch."""
    batch, _, height, width = images.shape
    device = images.device
    fields = []
    for _ in range(batch):
        cells = torch.randint(2, 9, (2,), generator=generator, device=device).tolist()
        coarse = torch.randint(0, 256, (1, 3, *cells), generator=generator, device=device).float()
        fields.append(F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False))
    field = torch.cat(fields)
    spread = 12.0 * torch.rand(batch, 1, 1, 1, generator=generator, device=device)
    field = field + spread * torch.randn(field.shape, generator=generator, device=device)
    return torch.where(foreground[:, None], images, field.clamp(0, 255).floor() / 255.0)


def reproject_batch(frames: dict[str, Tensor], xy_a: Tensor, depth_tolerance: float = 0.01) -> tuple[Tensor, Tensor]:
    """Where pixels ``xy_a (B, N, 2)`` (integers) of frames A appear in frames B: ``(xy_b (B, N, 2),
    valid (B, N))``, by the rules of ``data.rgbd.reproject_correspondences`` (float64)."""
    depth_a, depth_b = frames["depth_a"].double(), frames["depth_b"].double()
    cols, rows = xy_a[..., 0].long(), xy_a[..., 1].long()
    z_a = _at(depth_a, rows, cols)
    camera_a, camera_b = frames["camera_a"].double(), frames["camera_b"].double()
    world = _transform(frames["pose_a"].double(), _backproject(camera_a, xy_a.double(), z_a))
    b_from_world = torch.linalg.inv(frames["pose_b"].double())
    ids = _at(frames["ids_a"], rows, cols)
    normals = _transform_directions(frames["pose_a"].double(), _normals_at(camera_a, depth_a, rows, cols))
    moved, moved_normals = _move_with_objects(world, normals, ids, frames["objects_a"].double(),
                                              frames["objects_b"].double())
    rearranged = frames["rearranged"][:, None, None]
    world, normals = torch.where(rearranged, moved, world), torch.where(rearranged, moved_normals, normals)
    xy_b, z_b = _project(camera_b, _transform(b_from_world, world))
    height, width = depth_b.shape[-2:]
    inside = torch.isfinite(z_a) & (z_b > 0) & _in_bounds(xy_b, height, width)
    px = torch.round(torch.nan_to_num(xy_b)).long()
    px_cols, px_rows = px[..., 0].clamp(0, width - 1), px[..., 1].clamp(0, height - 1)
    observed = _at(depth_b, px_rows, px_cols)
    visible = inside & torch.isfinite(observed) & ((observed - z_b).abs() <= depth_tolerance * z_b)
    same_object = _at(frames["ids_b"], px_rows, px_cols) == ids
    expected = _transform_directions(b_from_world, normals)
    same_surface = _seen_on_same_surface(expected, camera_b, depth_b, px_rows, px_cols)
    visible &= ~frames["rearranged"][:, None] | (same_object & same_surface)
    return xy_b, visible


def _at(image: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``image (B, H, W)`` at ``(rows, cols) (B, N)``."""
    return image.flatten(1).gather(1, rows * image.shape[-1] + cols)


def _has_pose(objects: Tensor, ids: Tensor) -> Tensor:
    """``(B, H, W)`` whether each pixel's object id has a pose in ``objects (B, K, 4, 4)``."""
    slots = ids.clamp(0, objects.shape[1] - 1).flatten(1)
    return _posed(objects, slots).view_as(ids) & (ids < objects.shape[1])


def _backproject(camera: Tensor, xy: Tensor, z: Tensor) -> Tensor:
    fx, fy, cx, cy = (camera[:, i, None] for i in range(4))
    return torch.stack([(xy[..., 0] - cx) * z / fx, (xy[..., 1] - cy) * z / fy, z], dim=-1)


def _project(camera: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
    fx, fy, cx, cy = (camera[:, i, None] for i in range(4))
    z = points[..., 2]
    safe = torch.where(z > 0, z, torch.full_like(z, float("nan")))
    return torch.stack([fx * points[..., 0] / safe + cx, fy * points[..., 1] / safe + cy], dim=-1), z


def _transform(transform: Tensor, points: Tensor) -> Tensor:
    """``(B, 4, 4)`` rigid transforms applied to ``(B, N, 3)`` points."""
    return points @ transform[:, :3, :3].transpose(1, 2) + transform[:, None, :3, 3]


def _transform_directions(transform: Tensor, directions: Tensor) -> Tensor:
    return directions @ transform[:, :3, :3].transpose(1, 2)


def _move_with_objects(points: Tensor, normals: Tensor, ids: Tensor, objects_a: Tensor,
                       objects_b: Tensor) -> tuple[Tensor, Tensor]:
    """Points and normals ``(B, N, 3)`` carried by their object's motion from scene A to B; NaN
    where the object has no pose in both."""
    motion = objects_b @ torch.linalg.inv(torch.nan_to_num(objects_a, nan=0.0) + _nan_eye(objects_a))
    slots = ids.clamp(0, objects_a.shape[1] - 1)
    per_point = motion.gather(1, slots[..., None, None].expand(*slots.shape, 4, 4))  # (B, N, 4, 4)
    known = _posed(objects_a, slots) & _posed(objects_b, slots) & (ids < objects_a.shape[1])
    rotation, translation = per_point[..., :3, :3], per_point[..., :3, 3]
    moved = (rotation @ points[..., None])[..., 0] + translation
    turned = (rotation @ normals[..., None])[..., 0]
    nan = torch.full_like(moved, float("nan"))
    return torch.where(known[..., None], moved, nan), torch.where(known[..., None], turned, nan)


def _posed(objects: Tensor, slots: Tensor) -> Tensor:
    """``(B, N)`` whether the pose table ``objects (B, K, 4, 4)`` has a pose at ``slots (B, N)``."""
    return torch.isfinite(objects[:, :, 0, 0]).gather(1, slots)


def _nan_eye(objects: Tensor) -> Tensor:
    """The identity where a pose is missing, so inverting the table never fails on NaN rows."""
    missing = ~torch.isfinite(objects[:, :, 0, 0])
    return missing[..., None, None] * torch.eye(4, dtype=objects.dtype, device=objects.device)


def _normals_at(camera: Tensor, depth: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``geometry.normals.normals_at`` for a batch: ``(B, N, 3)`` camera-frame unit normals facing
    the camera, each derivative the smaller one-sided difference; NaN where unknown."""
    known = torch.where(torch.isfinite(depth) & (depth > 0), depth, torch.full_like(depth, float("nan")))
    padded = F.pad(known, (1, 1, 1, 1), value=float("nan"))

    def point(dr: int, dc: int) -> Tensor:
        r, c = rows + dr, cols + dc
        return _backproject(camera, torch.stack([c, r], dim=-1).double(), _at(padded, r + 1, c + 1))

    centre = point(0, 0)

    def smaller_step(after: Tensor, before: Tensor) -> Tensor:
        forward, backward = after - centre, centre - before
        inf = float("inf")
        use_forward = torch.nan_to_num(forward.norm(dim=-1), nan=inf) <= torch.nan_to_num(backward.norm(dim=-1), nan=inf)
        return torch.where(use_forward[..., None], forward, backward)

    normal = torch.linalg.cross(smaller_step(point(0, 1), point(0, -1)), smaller_step(point(1, 0), point(-1, 0)))
    normal = normal / (normal.norm(dim=-1, keepdim=True) + 1e-12)
    return torch.where((normal * centre).sum(dim=-1, keepdim=True) > 0, -normal, normal)


def _seen_on_same_surface(expected: Tensor, camera: Tensor, depth: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``geometry.normals.seen_on_same_surface`` for a batch ``(B, N)``."""
    normals = _normals_at(camera, depth, rows, cols)
    rays = _backproject(camera, torch.stack([cols, rows], dim=-1).double(), torch.ones_like(normals[..., 0]))
    facing = torch.nan_to_num(-(normals * F.normalize(rays, dim=-1)).sum(dim=-1), nan=0.0)
    agreement = torch.nan_to_num((normals * expected).sum(dim=-1))
    return (facing >= MIN_VIEW_COSINE) & (agreement >= MIN_NORMAL_AGREEMENT)


def _in_bounds(xy: Tensor, height: int, width: int) -> Tensor:
    return (xy[..., 0] >= -0.5) & (xy[..., 0] < width - 0.5) & (xy[..., 1] >= -0.5) & (xy[..., 1] < height - 0.5)
