"""Posed RGB-D sequences: format round-trip and reprojected correspondences with occlusion."""
import json

import numpy as np
import torch
import pytest
from PIL import Image

from dense_descriptor_ros.data.images import DatasetError, UnorderedImageDataset
from dense_descriptor_ros.data.rgbd import (PosedDepth, RGBDPairDataset, load_sequence, random_background,
                                            reproject_correspondences, save_sequence)
from dense_descriptor_ros.geometry.camera import Intrinsics, backproject, project

INTR = Intrinsics(fx=60.0, fy=60.0, cx=31.5, cy=23.5, width=64, height=48)


def pose(tx=0.0, ty=0.0, tz=0.0):
    t = np.eye(4)
    t[:3, 3] = [tx, ty, tz]
    return t


def test_camera_projection_round_trip():
    xy = np.array([[0.0, 0.0], [31.5, 23.5], [63.0, 47.0]])
    pts = backproject(INTR, xy, np.array([1.0, 2.0, 0.5]))
    back, z = project(INTR, pts)
    assert np.allclose(back, xy) and np.allclose(z, [1.0, 2.0, 0.5])
    scaled = INTR.scaled(32, 24)
    assert scaled.fx == 30.0 and scaled.cx == pytest.approx(15.5)


def test_translation_shifts_correspondences_and_occlusion_is_detected():
    depth = np.full((48, 64), 1.0, np.float32)
    xy_a = np.array([[10.0, 10.0], [40.0, 30.0], [63.0, 20.0]])
    a = PosedDepth(INTR, depth, pose())
    # Camera B moved 0.1 m to the right: points appear 6 px further left.
    xy_b, visible = reproject_correspondences(a, PosedDepth(INTR, depth, pose(tx=0.1)), xy_a)
    assert np.allclose(xy_b[:2], xy_a[:2] - [6.0, 0.0])
    assert visible.tolist() == [True, True, True]
    occluded = depth.copy()
    occluded[25:35, 30:38] = 0.6  # something in front of the second point in B
    _, visible = reproject_correspondences(a, PosedDepth(INTR, occluded, pose(tx=0.1)), xy_a)
    assert visible.tolist() == [True, False, True]
    _, visible = reproject_correspondences(a, PosedDepth(INTR, depth, pose(tx=0.5)), xy_a)
    assert not visible[0]  # pushed out of B's field of view


def test_points_move_with_their_object_between_scenes():
    # Same camera; object 3 moved 0.1 m right (6 px at 1 m), object 5 only has a pose in A.
    depth = np.full((48, 64), 1.0, np.float32)
    mask_a, mask_b = np.zeros((48, 64), int), np.zeros((48, 64), int)
    mask_a[10:20, 10:20] = 3
    mask_b[10:20, 16:26] = 3
    mask_a[30:40, 40:50] = mask_b[30:40, 40:50] = 5
    a = PosedDepth(INTR, depth, pose(), mask_a, {3: pose(), 5: pose()})
    b = PosedDepth(INTR, depth, pose(), mask_b, {3: pose(tx=0.1)})
    xy_a = np.array([[12.0, 12.0], [19.0, 15.0], [45.0, 35.0], [2.0, 2.0]])
    xy_b, visible = reproject_correspondences(a, b, xy_a)
    assert np.allclose(xy_b[:2], xy_a[:2] + [6.0, 0.0])
    assert visible.tolist() == [True, True, False, False]  # untracked object and bin: nothing
    mask_b[10:20, 22:26] = 8  # another object now covers part of object 3 at the same depth
    _, visible = reproject_correspondences(a, PosedDepth(INTR, depth, pose(), mask_b, {3: pose(tx=0.1)}), xy_a)
    assert visible.tolist() == [True, False, False, False]


def write_sequence(root, frames=3):
    rgb_dir, depth_dir = root / "rgb", root / "depth"
    rgb_dir.mkdir(parents=True)
    depth_dir.mkdir()
    entries = []
    rng = np.random.default_rng(0)
    for i in range(frames):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(rgb_dir / f"{i:06d}.png")
        depth = np.full((48, 64), 1000, np.uint16)
        depth[:5] = 0  # a band without depth
        Image.fromarray(depth).save(depth_dir / f"{i:06d}.png")
        entries.append({"rgb": f"rgb/{i:06d}.png", "depth": f"depth/{i:06d}.png",
                        "T_world_camera": pose(tx=0.02 * i).tolist()})
    save_sequence(root, INTR, entries)


def test_sequence_round_trip_and_pair_dataset(tmp_path):
    write_sequence(tmp_path / "seq0")
    seq = load_sequence(tmp_path / "seq0")
    assert seq.intrinsics == INTR and len(seq.frames) == 3
    depth = seq.load_depth(0)
    assert np.isnan(depth[:5]).all() and np.allclose(depth[5:], 1.0)
    dataset = RGBDPairDataset(tmp_path, num_correspondences=100, pairs_per_epoch=4)
    image_a, image_b, xy_a, xy_b, valid = dataset[0]
    assert image_a.shape == (3, 48, 64) and xy_a.shape == (100, 2) and valid.dtype == torch.bool
    assert valid.float().mean() > 0.5
    assert (xy_a[:, 1] >= 5).all()  # never sampled where depth is missing


def test_cropped_pairs_keep_correspondences_inside_both_windows(tmp_path):
    # A textured plane at 1 m; camera i is 0.05 m further right, so it sees the texture 3 px on.
    texture = np.random.default_rng(1).integers(0, 255, (48, 64 + 3 * 4, 3), dtype=np.uint8)
    (tmp_path / "seq" / "rgb").mkdir(parents=True)
    (tmp_path / "seq" / "depth").mkdir()
    entries = []
    for i in range(5):
        Image.fromarray(texture[:, 3 * i:3 * i + 64]).save(tmp_path / "seq" / "rgb" / f"{i}.png")
        Image.fromarray(np.full((48, 64), 1000, np.uint16)).save(tmp_path / "seq" / "depth" / f"{i}.png")
        entries.append({"rgb": f"rgb/{i}.png", "depth": f"depth/{i}.png",
                        "T_world_camera": pose(tx=0.05 * i).tolist()})
    save_sequence(tmp_path / "seq", INTR, entries)
    dataset = RGBDPairDataset(tmp_path, num_correspondences=200, pairs_per_epoch=8, crop=(24, 32))
    for index in range(8):
        image_a, image_b, xy_a, xy_b, valid = dataset[index]
        assert image_a.shape == image_b.shape == (3, 24, 32)
        assert valid.float().mean() > 0.5  # B's window follows A's, most points stay inside
        xa, xb = xy_a[valid].round().long(), xy_b[valid].round().long()
        assert (xb[:, 0] >= 0).all() and (xb[:, 0] < 32).all() and (xb[:, 1] < 24).all()
        colour_a = image_a[:, xa[:, 1], xa[:, 0]]
        colour_b = image_b[:, xb[:, 1], xb[:, 0]]
        assert torch.allclose(colour_a, colour_b)
    with pytest.raises(DatasetError, match="larger than the frames"):
        RGBDPairDataset(tmp_path, crop=(96, 32))[0]


def test_random_background_repaints_only_the_bin_and_floor(tmp_path):
    rgb = np.full((48, 64, 3), 90, np.uint8)
    objects = np.zeros((48, 64), bool)
    objects[10:30, 20:40] = True
    rng = np.random.default_rng(0)
    once, twice = random_background(rgb, objects, rng), random_background(rgb, objects, rng)
    assert (once[objects] == 90).all() and (twice[objects] == 90).all()
    assert np.abs(once[~objects].astype(int) - 90).mean() > 20  # repainted ...
    assert np.abs(once[~objects].astype(int) - twice[~objects]).mean() > 20  # ... anew each time

    # A pair dataset with masks: correspondences are drawn on objects only; no masks: clear error.
    write_sequence(tmp_path / "seq0")
    meta = load_sequence(tmp_path / "seq0")
    (tmp_path / "seq0" / "mask").mkdir()
    entries = []
    for i, frame in enumerate(meta.frames):
        mask = np.zeros((48, 64), np.uint16)
        mask[20:40, 10:50] = 7
        Image.fromarray(mask).save(tmp_path / "seq0" / "mask" / f"{i}.png")
        entries.append({"rgb": f"rgb/{i:06d}.png", "depth": f"depth/{i:06d}.png", "mask": f"mask/{i}.png",
                        "T_world_camera": frame.pose.tolist()})
    save_sequence(tmp_path / "seq0", INTR, entries)
    dataset = RGBDPairDataset(tmp_path, num_correspondences=100, pairs_per_epoch=2, randomise_background=True)
    image_a, _, xy_a, _, valid = dataset[0]
    assert valid.float().mean() > 0.5
    assert ((xy_a[:, 0] >= 10) & (xy_a[:, 0] < 50) & (xy_a[:, 1] >= 20) & (xy_a[:, 1] < 40)).all()
    write_sequence(tmp_path / "unmasked" / "seq1")
    with pytest.raises(DatasetError, match="no mask"):
        RGBDPairDataset(tmp_path / "unmasked", randomise_background=True)[0]


def test_bad_sequences_and_image_folders_give_clear_errors(tmp_path):
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "sequence.json").write_text('{"format": "other"}')
    with pytest.raises(DatasetError, match="expected format"):
        load_sequence(tmp_path / "seq")
    write_sequence(tmp_path / "posed")
    meta = json.loads((tmp_path / "posed" / "sequence.json").read_text())
    meta["frames"][1]["object_poses"] = {"3": np.eye(4).tolist()}
    (tmp_path / "posed" / "sequence.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="object poses but no mask"):
        load_sequence(tmp_path / "posed")
    meta["frames"][1]["object_poses"] = {"3": np.eye(3).tolist()}
    meta["frames"][1]["mask"] = "mask/1.png"
    (tmp_path / "posed" / "sequence.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="not 4x4"):
        load_sequence(tmp_path / "posed")
    meta["frames"][1]["object_poses"] = {"box": np.eye(4).tolist()}
    (tmp_path / "posed" / "sequence.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="malformed"):
        load_sequence(tmp_path / "posed")
    with pytest.raises(DatasetError, match="no readable images"):
        UnorderedImageDataset(tmp_path / "seq", (32, 32))


def test_unreadable_images_are_reported_and_skipped(tmp_path, caplog):
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(tmp_path / "c.jpg")
    dataset = UnorderedImageDataset(tmp_path, (16, 24))
    assert [p.name for p in dataset.paths] == ["a.png", "c.jpg"]
    assert "left out: cannot read image" in caplog.text and "b.png" in caplog.text
    assert dataset[1].shape == (3, 16, 24)
