"""Dataset generators over the simulated cell, writing the project's shared on-disk formats.

- ``unordered``: fixed overhead camera, objects re-dropped between frames, optional hands.
- ``rgbd-sequences``: robot-camera arcs over static scenes (``ddr-rgbd-sequence`` folders).
- ``rearranged-sequences``: the same object instances re-dropped into several bins, each
  frame with its camera and object poses (training pairs across scenes).
- ``cross-scene-pairs``: two different scenes sharing object instances, ground truth from
  object poses (the held-out test set).
- ``invariance``: one scene under camera roll, zoom and a viewpoint arc, with magnitudes.

Every generator is a pure function of its seed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dense_descriptor_ros.data.photos import licence_record
from dense_descriptor_ros.data.rgbd import save_sequence

from ..world import camera, scene as scene_mod
from ..world.cell import BinCell
from ..world.objects import sample_instances
from ..world.render import RenderedFrame
from ..world.scene import SceneSpec
from .correspondence import correspondences, sample_object_keypoints, well_seen

KINDS = ("unordered", "rgbd-sequences", "rearranged-sequences", "cross-scene-pairs", "invariance")
BIN_CENTRE = np.array([0.0, 0.0, scene_mod.BIN_FLOOR_Z + 0.04])
MAX_TILT_DEG = 60.0  # beyond this the bin's near wall hides most of the heap
MIN_OBJECT_PIXELS = 60  # a shared object needs this many visible pixels in A to get keypoints


@dataclass(frozen=True)
class Size:
    """Image size in pixels."""

    height: int = 480
    width: int = 640


def _child_rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _open_cell(rng: np.random.Generator, size: Size, object_set: str, hands: bool = False,
               flat_lighting: bool = False, objects: tuple[int, int] = (5, 12)) -> BinCell:
    instances = sample_instances(rng, int(rng.integers(objects[0], objects[1] + 1)), object_set)
    spec = SceneSpec(tuple(instances), int(rng.integers(2**31)), hands=hands, flat_lighting=flat_lighting,
                     max_width=size.width, max_height=size.height)
    cell = BinCell(spec, size.width, size.height)
    cell.drop(rng)
    return cell


def _save_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _save_uint16(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, np.uint16)).save(path)


def depth_to_millimetres(depth: np.ndarray) -> np.ndarray:
    """Metric depth ``(H, W)`` float metres -> uint16 millimetres (0 stays invalid)."""
    return np.clip(np.round(np.nan_to_num(depth) * 1000.0), 0, 65535).astype(np.uint16)


def _write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1))


def _horizontal(azimuth_deg: float) -> np.ndarray:
    """Unit world vector in the floor plane, ``azimuth_deg`` from +x towards +y."""
    az = np.radians(azimuth_deg)
    return np.array([np.cos(az), np.sin(az), 0.0])


def generate_unordered(out: Path, count: int, seed: int, size: Size = Size(), hands: bool = False,
                       object_set: str = "train", frames_per_scene: int = 25, tilt: float = 0.0) -> Path:
    """``count`` overhead images of reshuffled bins; hands (if asked) appear in half the frames.

    ``tilt`` > 0: each recording of ``frames_per_scene`` frames has its own fixed camera, tilted
    from vertical by up to ``tilt`` degrees towards a random side and aimed at the bin centre."""
    if not 0.0 <= tilt <= MAX_TILT_DEG:
        raise ValueError(f"tilt must be within [0, {MAX_TILT_DEG:g}] degrees, got {tilt:g}")
    out = Path(out)
    frames, cell, view, tilt_deg = [], None, None, 0.0
    try:
        for i in tqdm(range(count), desc="unordered", unit="frame"):
            rng = _child_rng(seed, i)
            if i % frames_per_scene == 0:
                if cell is not None:
                    cell.close()
                cell = _open_cell(_child_rng(seed, i, 1), size, object_set, hands=hands)
                if tilt > 0:  # drawn from their own generator: untilted datasets stay as they were
                    mount = _child_rng(seed, i, 2)
                    tilt_deg = float(mount.uniform(0.0, tilt))
                    view = camera.swung_about(scene_mod.overhead_camera_pose(), BIN_CENTRE,
                                              _horizontal(float(mount.uniform(0.0, 360.0))), tilt_deg)
            else:
                cell.drop(rng)
            with_hands = hands and rng.random() < 0.5
            if hands:
                cell.place_hands(rng if with_hands else None)
            name = f"{i:06d}.png"
            _save_rgb(out / name, cell.render(view, scene_mod.OVERHEAD_FOVY).rgb)
            frames.append({"image": name, "objects": cell.instance_ids, "hands": with_hands,
                           "camera_tilt_deg": round(tilt_deg, 2)})
    finally:
        if cell is not None:
            cell.close()
    _write_json(out / "metadata.json", {"kind": "unordered", "seed": seed, "object_set": object_set,
                                        "frames": frames, "texture_licences": licence_record()})
    return out


def write_rgbd_sequence(folder: Path, frames: list[RenderedFrame], tracked: list[int] | None = None) -> Path:
    """Write frames as one ``ddr-rgbd-sequence`` folder; returns the sequence.json path.

    ``tracked``: object ids whose poses (and each frame's own intrinsics) are written with every
    frame, for frames of different scenes; only those objects then correspond across frames."""
    folder = Path(folder)
    entries = []
    for k, frame in enumerate(frames):
        names = {part: f"{part}/{k:06d}.png" for part in ("rgb", "depth", "mask")}
        _save_rgb(folder / names["rgb"], frame.rgb)
        _save_uint16(folder / names["depth"], depth_to_millimetres(frame.depth))
        _save_uint16(folder / names["mask"], frame.segmentation)
        entry = {**names, "T_world_camera": frame.T_world_camera.tolist()}
        if tracked is not None:
            entry["intrinsics"] = frame.intrinsics.to_dict()
            entry["object_poses"] = {str(i): frame.object_poses[i].tolist() for i in tracked}
        entries.append(entry)
    return save_sequence(folder, frames[0].intrinsics, entries, depth_scale=0.001)


def render_sequence(cell: BinCell, rng: np.random.Generator, frames: int) -> list[RenderedFrame]:
    """Frames of the robot camera along a random arc around the bin centre."""
    return [cell.render(pose) for pose in camera.arc_trajectory(rng, BIN_CENTRE, frames)]


def generate_rgbd_sequences(out: Path, count: int, seed: int, size: Size = Size(), frames: int = 24,
                            object_set: str = "train") -> Path:
    """``count`` sequences, each a new static scene seen along one robot-camera arc."""
    out = Path(out)
    for s in tqdm(range(count), desc="rgbd-sequences", unit="sequence"):
        rng = _child_rng(seed, s)
        with _open_cell(rng, size, object_set) as cell:
            write_rgbd_sequence(out / f"sequence_{s:04d}", render_sequence(cell, rng, frames))
    _write_json(out / "metadata.json", {"kind": "rgbd-sequences", "seed": seed, "object_set": object_set,
                                        "texture_licences": licence_record()})
    return out


def _random_view(rng: np.random.Generator, cell: BinCell) -> RenderedFrame:
    """Overhead camera half the time, otherwise a robot view from a random direction."""
    if rng.random() < 0.5:
        return cell.render()
    pose = camera.orbit_pose(BIN_CENTRE + rng.normal(0, 0.02, 3), rng.uniform(0.5, 0.7),
                             rng.uniform(0, 360), rng.uniform(55, 80))
    return cell.render(camera.rolled(pose, rng.uniform(-30, 30)))


def generate_rearranged_sequences(out: Path, count: int, seed: int, size: Size = Size(), scenes: int = 4,
                                  views: int = 6, object_set: str = "train") -> Path:
    """``count`` sequences, each 5-9 object instances re-dropped into ``scenes`` bins (own
    backgrounds, 0-3 other objects) and seen from ``views`` overhead or robot views per bin.

    Pairs across two bins teach what the cross-scene test asks: the same object surface
    after it moved, among other objects, on another background."""
    out = Path(out)
    for s in tqdm(range(count), desc="rearranged-sequences", unit="sequence"):
        rng = _child_rng(seed, s)
        instances = [*rng.permutation(sample_instances(rng, int(rng.integers(5, 13)), object_set))]
        n_shared = min(len(instances), int(rng.integers(5, 10)))
        shared, others = instances[:n_shared], instances[n_shared:]
        frames = []
        for _ in range(scenes):
            extra = [others[k] for k in rng.permutation(len(others))[:int(rng.integers(0, 4))]]
            spec = SceneSpec(tuple(shared + extra), int(rng.integers(2**31)),
                             max_width=size.width, max_height=size.height)
            with BinCell(spec, size.width, size.height) as cell:
                cell.drop(rng)
                frames.extend(_random_view(rng, cell) for _ in range(views))
        write_rgbd_sequence(out / f"sequence_{s:04d}", frames, [inst.instance_id for inst in shared])
    _write_json(out / "metadata.json", {"kind": "rearranged-sequences", "seed": seed, "object_set": object_set,
                                        "texture_licences": licence_record()})
    return out


def keypoint_pairs(frame_a: RenderedFrame, frame_b: RenderedFrame, object_ids: list[int], rng: np.random.Generator,
                   per_object: int, follow_objects: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Queries on ``object_ids`` seen in A -> (queries (N, 2), targets (N, 2), visible (N,), ids (N,))."""
    queries, ids = [np.zeros((0, 2))], [np.zeros(0, int)]
    seen = well_seen(frame_a)
    for object_id in object_ids:
        if np.count_nonzero(frame_a.segmentation == object_id) >= MIN_OBJECT_PIXELS:
            xy = sample_object_keypoints(frame_a, object_id, per_object, rng, seen=seen)
            queries.append(xy)
            ids.append(np.full(len(xy), object_id))
    q, i = np.concatenate(queries), np.concatenate(ids)
    targets, visible = correspondences(frame_a, frame_b, q, follow_objects)
    return q, targets, visible, i


def cross_scene_pair(rng: np.random.Generator, size: Size, object_set: str = "all",
                     flat_lighting: bool = False) -> tuple[RenderedFrame, RenderedFrame, list[int]]:
    """Two different scenes (own backgrounds and drops) sharing 3-6 object instances.

    Returns (frame A, frame B, shared instance ids)."""
    instances = sample_instances(rng, int(rng.integers(7, 13)), object_set)
    n_shared = int(rng.integers(3, 7))
    shared, rest = instances[:n_shared], instances[n_shared:]
    split = len(rest) // 2
    frames = []
    for extra in (rest[:split], rest[split:]):
        spec = SceneSpec(tuple(shared + extra), int(rng.integers(2**31)), flat_lighting=flat_lighting,
                         max_width=size.width, max_height=size.height)
        with BinCell(spec, size.width, size.height) as cell:
            cell.drop(rng)
            frames.append(_random_view(rng, cell))
    return frames[0], frames[1], [inst.instance_id for inst in shared]


def _pair_entry(name_a: str, name_b: str, q, targets, visible, meta: dict) -> dict:
    return {"image_a": name_a, "image_b": name_b, "queries": np.round(q, 3).tolist(),
            "targets": np.round(np.nan_to_num(targets, nan=-1.0), 3).tolist(),
            "visible": [bool(v) for v in visible], "meta": meta}


def generate_cross_scene_pairs(out: Path, count: int, seed: int, size: Size = Size(),
                               object_set: str = "test", per_object: int = 10) -> Path:
    """``count`` cross-scene pairs with ~``per_object`` keypoints per shared object; pairs.json."""
    out = Path(out)
    pairs = []
    for p in tqdm(range(count), desc="cross-scene-pairs", unit="pair"):
        rng = _child_rng(seed, p)
        frame_a, frame_b, shared = cross_scene_pair(rng, size, object_set)
        q, targets, visible, ids = keypoint_pairs(frame_a, frame_b, shared, rng, per_object, True)
        names = {}
        for side, frame in (("a", frame_a), ("b", frame_b)):
            names[side] = f"images/{p:06d}_{side}.png"
            _save_rgb(out / names[side], frame.rgb)
            _save_uint16(out / f"masks/{p:06d}_{side}.png", frame.segmentation)
        meta = {"kind": "cross-scene", "object_ids": ids.tolist(), "shared_objects": shared,
                "mask_a": f"masks/{p:06d}_a.png", "mask_b": f"masks/{p:06d}_b.png"}
        pairs.append(_pair_entry(names["a"], names["b"], q, targets, visible, meta))
    _write_json(out / "pairs.json", {"pairs": pairs})
    _write_json(out / "metadata.json", {"kind": "cross-scene-pairs", "seed": seed, "object_set": object_set,
                                        "texture_licences": licence_record()})
    return out


ROTATIONS_DEG = (0, 15, 30, 45, 60, 90, 120, 150, 180)
ZOOMS = (0.5, 0.625, 0.75, 0.875, 1.0, 1.25, 1.5, 1.75, 2.0)
VIEWPOINT_ARC_DEG = (0, 10, 20, 30, 40, 50, 60)


def invariance_views(base: np.ndarray, fovy: float) -> list[tuple[str, float, np.ndarray, float]]:
    """(kind, magnitude, pose, fovy) of every transformed view of the base view ``base``."""
    views = [("rotation", float(a), camera.rolled(base, a), fovy) for a in ROTATIONS_DEG]
    views += [("zoom", float(z), base, camera.zoomed_fovy(fovy, z)) for z in ZOOMS]
    # viewpoint: swing the camera about the vertical axis through the point it looks at
    eye, forward = base[:3, 3], base[:3, 2]
    target = eye + forward * (eye[2] - BIN_CENTRE[2]) / max(-forward[2], 1e-3)
    for angle in VIEWPOINT_ARC_DEG:
        views.append(("viewpoint", float(angle), camera.swung_about(base, target, (0.0, 0.0, 1.0), angle), fovy))
    return views


def generate_invariance(out: Path, count: int, seed: int, size: Size = Size(), object_set: str = "test",
                        per_object: int = 10) -> Path:
    """``count`` scenes, each under roll, zoom and viewpoint changes; pairs.json with magnitudes."""
    out = Path(out)
    pairs = []
    for s in tqdm(range(count), desc="invariance", unit="scene"):
        rng = _child_rng(seed, s)
        with _open_cell(rng, size, object_set) as cell:
            base = camera.orbit_pose(BIN_CENTRE, rng.uniform(0.55, 0.65), rng.uniform(0, 360), rng.uniform(65, 80))
            frame_a = cell.render(base, scene_mod.ROBOT_FOVY)
            name_a = f"images/{s:04d}_base.png"
            _save_rgb(out / name_a, frame_a.rgb)
            for v, (kind, magnitude, pose, fovy) in enumerate(invariance_views(base, scene_mod.ROBOT_FOVY)):
                frame_b = cell.render(pose, fovy)
                q, targets, visible, ids = keypoint_pairs(frame_a, frame_b, cell.instance_ids,
                                                         _child_rng(seed, s, 1), per_object, False)
                name_b = f"images/{s:04d}_{kind}_{v:02d}.png"
                _save_rgb(out / name_b, frame_b.rgb)
                pairs.append(_pair_entry(name_a, name_b, q, targets, visible,
                                         {"kind": kind, "magnitude": magnitude, "object_ids": ids.tolist()}))
    _write_json(out / "pairs.json", {"pairs": pairs})
    _write_json(out / "metadata.json", {"kind": "invariance", "seed": seed, "object_set": object_set,
                                        "texture_licences": licence_record()})
    return out
