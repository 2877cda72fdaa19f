"""Preference heatmaps: the G.2 formula on hand-made descriptor fields, fusion, objects, grid maths."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dense_descriptor_ros.grasping.heatmap import (Heatmap, fused_heatmap, keypoint_heatmaps,
                                                   object_heatmaps)
from dense_descriptor_ros.model.descriptor_model import DescriptorModel
from dense_descriptor_ros.model import DescriptorNet, ModelConfig


def unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def chord(deg: float) -> float:
    """L2 distance of two unit vectors ``deg`` degrees apart, by hand: 2 sin(theta / 2)."""
    return 2 * math.sin(math.radians(deg) / 2)


@pytest.fixture
def field() -> torch.Tensor:
    """A 1x3 grid of 2-D descriptors at 0, 60 and 90 degrees: ``(1, 2, 1, 3)``."""
    return torch.tensor([unit(0), unit(60), unit(90)]).T.reshape(1, 2, 1, 3)


def test_single_keypoint_matches_hand_computed_values(field: torch.Tensor) -> None:
    maps = keypoint_heatmaps(field, torch.tensor([unit(0)]), eta=0.5)
    # distances 0, 1 (60 deg chord) and sqrt(2) (90 deg chord)
    expected = [1.0, math.exp(-1.0 / 0.5), math.exp(-math.sqrt(2) / 0.5)]
    assert maps.shape == (1, 1, 3)
    np.testing.assert_allclose(maps[0, 0].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(expected, [1.0, 0.1353353, 0.0591057], rtol=1e-6)


def test_fused_heatmap_is_the_mean_of_hand_computed_maps(field: torch.Tensor) -> None:
    eta = 0.5
    heatmap = fused_heatmap(field, torch.tensor([unit(0), unit(90)]), image_size=(8, 24), eta=eta)
    expected = [(1 + math.exp(-chord(90) / eta)) / 2,
                (math.exp(-chord(60) / eta) + math.exp(-chord(30) / eta)) / 2,
                (math.exp(-chord(90) / eta) + 1) / 2]
    np.testing.assert_allclose(heatmap.grid[0].numpy(), expected, rtol=1e-6)
    assert heatmap.grid.shape == (1, 3)
    assert float(heatmap.grid.max()) <= 1.0 and float(heatmap.grid.min()) >= 0.0


def test_descriptors_are_normalised_before_the_distance(field: torch.Tensor) -> None:
    scaled = keypoint_heatmaps(field * 3.0, torch.tensor([[5.0, 0.0]]), eta=0.5)
    np.testing.assert_allclose(scaled.numpy(), keypoint_heatmaps(field, torch.tensor([unit(0)]), 0.5).numpy(),
                               rtol=1e-6)


def test_cell_equal_to_the_keypoint_peaks_with_value_one() -> None:
    torch.manual_seed(0)
    grid = F.normalize(torch.randn(1, 16, 6, 8), dim=1)
    heatmap = fused_heatmap(grid, grid[0, :, 2, 5][None], image_size=(48, 64))
    assert heatmap.grid[2, 5] == pytest.approx(1.0, abs=1e-6)
    others = heatmap.grid.clone()
    others[2, 5] = 0
    assert float(others.max()) < 0.9
    pixel, confidence = heatmap.best()
    # cell (5, 2) of an 8x6 grid over 64x48 pixels: centre (5 + 0.5) * 8 - 0.5 = 43.5
    np.testing.assert_allclose(pixel, [43.5, 19.5])
    assert confidence == pytest.approx(1.0, abs=1e-6)


def test_fused_value_of_h_keypoints_is_bounded_by_their_count() -> None:
    torch.manual_seed(1)
    grid = F.normalize(torch.randn(1, 16, 6, 8), dim=1)
    keypoints = torch.stack([grid[0, :, 1, 1], grid[0, :, 4, 6], grid[0, :, 3, 2]])
    heatmap = fused_heatmap(grid, keypoints, image_size=(48, 64))
    # each planted cell holds one exact match (1/3) plus two far ones
    for y, x in ((1, 1), (4, 6), (3, 2)):
        assert 1 / 3 <= float(heatmap.grid[y, x]) < 1 / 3 + 0.1


def test_upsampled_heatmap_peaks_next_to_the_best_pixel() -> None:
    torch.manual_seed(2)
    grid = F.normalize(torch.randn(1, 16, 6, 8), dim=1)
    heatmap = fused_heatmap(grid, grid[0, :, 3, 6][None], image_size=(48, 64))
    full = heatmap.upsampled()
    assert full.shape == (48, 64)
    y, x = divmod(int(torch.argmax(full)), 64)
    pixel, _ = heatmap.best()
    assert abs(x - pixel[0]) <= 1 and abs(y - pixel[1]) <= 1
    assert 0.0 <= float(full.min()) and float(full.max()) <= 1.0


def test_object_heatmaps_equal_separate_fused_heatmaps() -> None:
    torch.manual_seed(3)
    grid = F.normalize(torch.randn(1, 16, 6, 8), dim=1)
    keypoints = {"box": torch.stack([grid[0, :, 0, 0], grid[0, :, 0, 1]]),
                 "can": grid[0, :, 5, 7][None]}
    maps = object_heatmaps(grid, keypoints, image_size=(48, 64))
    assert set(maps) == {"box", "can"}
    for name, found in keypoints.items():
        torch.testing.assert_close(maps[name].grid, fused_heatmap(grid, found, (48, 64)).grid)
    np.testing.assert_allclose(maps["can"].best()[0], [59.5, 43.5])
    assert maps["box"].best()[0][1] == pytest.approx(3.5)


def test_clicked_pixel_of_a_model_finds_itself() -> None:
    """Annotation and run time share the stride-8 grid: a click on a cell centre scores 1 there."""
    torch.manual_seed(4)
    model = DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).eval()
    image = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    descriptor = DescriptorModel.of(model).describe_pixels(image, np.array([[27.5, 35.5]]))
    with torch.no_grad():
        grid = model(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)
    pixel, confidence = fused_heatmap(grid, torch.from_numpy(descriptor), (48, 64)).best()
    np.testing.assert_allclose(pixel, [27.5, 35.5])
    assert confidence == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("keypoints, message", [
    (torch.zeros(0, 16), "H >= 1"),
    (torch.ones(2, 8), "(H >= 1, 16)"),
    (torch.ones(16), "(H >= 1, 16)"),
])
def test_bad_keypoints_are_refused(keypoints: torch.Tensor, message: str) -> None:
    grid = F.normalize(torch.randn(1, 16, 6, 8), dim=1)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fused_heatmap(grid, keypoints, (48, 64))


def test_bad_grids_and_parameters_are_refused() -> None:
    grid = F.normalize(torch.randn(1, 16, 6, 8), dim=1)
    with pytest.raises(ValueError, match="one descriptor image"):
        keypoint_heatmaps(torch.cat([grid, grid]), torch.ones(1, 16))
    with pytest.raises(ValueError, match="eta must be positive"):
        keypoint_heatmaps(grid, torch.ones(1, 16), eta=0.0)
    with pytest.raises(ValueError, match="image size"):
        Heatmap(torch.zeros(6, 8), (4, 64))
    with pytest.raises(ValueError, match="no keypoints given"):
        object_heatmaps(grid, {}, (48, 64))
    with pytest.raises(ValueError, match="one shape"):
        object_heatmaps(grid, {"a": torch.ones(1, 16), "b": torch.ones(1, 8)}, (48, 64))
