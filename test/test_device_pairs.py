"""Geometric pairs made on the training device give the loader's correspondences.

Seeded pairs of small simulated sequences (a camera trajectory, and re-arranged heaps whose
objects move between frames): the same pixels of A are reprojected by the batched torch path
and by ``data.rgbd.reproject_correspondences`` (numpy, one pair at a time), and must agree.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from dense_descriptor_ros.data.rgbd import PosedDepth, reproject_correspondences
from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.training.config import TrainConfig
from dense_descriptor_ros.training.device_pairs import (RGBDFrameDataset, pairs_on_device, reproject_batch,
                                                        sample_pixels)

PAIRS = 6


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    from dense_descriptor_ros.simulation.experiments.datasets import (Size, generate_rearranged_sequences,
                                                                      generate_rgbd_sequences)

    root = tmp_path_factory.mktemp("device_pairs")
    return {"trajectory": generate_rgbd_sequences(root / "trajectory", count=1, seed=0, size=Size(72, 96), frames=4),
            "rearranged": generate_rearranged_sequences(root / "rearranged", count=1, seed=0, size=Size(72, 96),
                                                        scenes=2, views=2)}


def posed_depth(item: dict, side: str) -> PosedDepth:
    """The loader path's view of one frame of a device-path item."""
    fx, fy, cx, cy = item[f"camera_{side}"].tolist()
    depth = item[f"depth_{side}"].numpy()
    objects = item[f"objects_{side}"].numpy()
    poses = {i: objects[i] for i in range(len(objects)) if np.isfinite(objects[i]).all()}
    rearranged = bool(item["rearranged"])
    return PosedDepth(Intrinsics(fx, fy, cx, cy, depth.shape[1], depth.shape[0]), depth,
                      item[f"pose_{side}"].numpy(), item[f"ids_{side}"].numpy() if rearranged else None,
                      poses if rearranged else None)


@pytest.mark.parametrize("kind", ["trajectory", "rearranged"])
def test_device_reprojection_matches_the_loader_path(sequences, kind):
    dataset = RGBDFrameDataset(sequences[kind], max_gap=3, seed=0)
    items = [dataset[i] for i in range(PAIRS)]
    batch = default_collate(items)
    assert bool(batch["rearranged"].all()) == (kind == "rearranged")
    usable = torch.isfinite(batch["depth_a"]) & ((batch["ids_a"] > 0) | ~batch["rearranged"][:, None, None])
    xy_a, any_usable = sample_pixels(usable, 512, torch.Generator().manual_seed(0))
    assert any_usable.all()
    xy_b, valid = reproject_batch(batch, xy_a)
    agreeing = 0
    for index, item in enumerate(items):
        expected_xy, expected_valid = reproject_correspondences(posed_depth(item, "a"), posed_depth(item, "b"),
                                                                xy_a[index].numpy())
        np.testing.assert_array_equal(valid[index].numpy(), expected_valid)
        np.testing.assert_allclose(xy_b[index].numpy()[expected_valid], expected_xy[expected_valid], atol=1e-6)
        agreeing += int(expected_valid.sum())
    assert agreeing > 0.1 * PAIRS * 512  # real correspondences were compared, not only refusals


def test_device_batch_has_the_loader_batch_shapes_and_valid_correspondences(sequences):
    dataset = RGBDFrameDataset(sequences["rearranged"], seed=0, randomise_background=True)
    batch = default_collate([dataset[i] for i in range(4)])
    image_a, image_b, xy_a, xy_b, valid = pairs_on_device(batch, 256, True, torch.Generator().manual_seed(0))
    assert image_a.shape == image_b.shape == (4, 3, 72, 96) and image_a.dtype == torch.float32
    assert xy_a.shape == xy_b.shape == (4, 256, 2) and valid.shape == (4, 256)
    assert 0.0 <= float(image_a.min()) and float(image_a.max()) <= 1.0
    # correspondences lie on objects (the background is repainted) and land inside B
    ids_a = batch["ids_a"].flatten(1).gather(1, (xy_a[..., 1].long() * 96 + xy_a[..., 0].long()))
    assert (ids_a > 0).all()
    assert valid.any(dim=1).all()
    inside = (xy_b[valid] >= -0.5).all() and (xy_b[valid][:, 0] < 95.5).all() and (xy_b[valid][:, 1] < 71.5).all()
    assert inside
    # the repainting changed the background only
    foreground = batch["ids_a"] > 0
    original = batch["rgb_a"].float() / 255.0
    assert torch.equal(image_a.permute(0, 2, 3, 1)[foreground], original.permute(0, 2, 3, 1)[foreground])
    assert not torch.equal(image_a.permute(0, 2, 3, 1)[~foreground], original.permute(0, 2, 3, 1)[~foreground])


def test_device_pairs_refuse_crop_windows():
    with pytest.raises(ValueError, match="crop windows"):
        TrainConfig.for_method("geometric", correspondences="device", image_fit="crop")
    with pytest.raises(ValueError, match="correspondences must be one of"):
        TrainConfig.for_method("geometric", correspondences="gpu")


def test_ddr_train_passes_the_correspondence_site_to_the_config(tmp_path, capsys):
    """``ddr train --correspondences device`` reaches TrainConfig: with crop windows it is the
    config's own refusal that answers, before any data is read."""
    from dense_descriptor_ros.cli.main import main

    argv = ["train", "--method", "geometric", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
            "--fit", "crop", "--correspondences"]
    assert main([*argv, "device"]) != 0
    assert "crop windows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "gpu"])
    assert "invalid choice" in capsys.readouterr().err
