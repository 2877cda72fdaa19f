"""Spatial softmax matching against hand-computed cases."""
import math

import pytest
import torch

from dense_descriptor_ros import matching
from helpers import one_hot_field, smooth_field


def test_expectation_and_variance_of_two_point_distribution():
    probs = torch.zeros(1, 1, 3, 4)
    probs[0, 0, 0, 0] = 0.5  # (x=0, y=0)
    probs[0, 0, 2, 2] = 0.5  # (x=2, y=2)
    mean, var = matching.spatial_expectation(probs)
    assert mean[0, 0].tolist() == pytest.approx([1.0, 1.0])
    # var_x = var_y = 0.5 * 1 + 0.5 * 1 = 1
    assert var[0, 0].item() == pytest.approx(2.0)


def test_expectation_of_delta_is_its_cell_with_zero_variance():
    probs = torch.zeros(2, 1, 5, 6)
    probs[0, 0, 4, 1] = 1.0
    probs[1, 0, 0, 5] = 1.0
    mean, var = matching.spatial_expectation(probs)
    assert mean[:, 0].tolist() == [[1.0, 4.0], [5.0, 0.0]]
    assert var.abs().max().item() == 0.0


def test_spatial_softmax_sums_to_one_and_peaks_at_identical_descriptor():
    field = one_hot_field(4, 5)
    query = matching.sample_descriptors(field, torch.tensor([[[3.0, 2.0]]]))
    probs = matching.spatial_softmax(query, field, tau=0.03)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    peak = probs[0, 0, 2, 3].item()
    expected = math.exp(1 / 0.03) / (math.exp(1 / 0.03) + 19)
    assert peak == pytest.approx(expected, rel=1e-4)


def test_expected_descriptor_of_delta_is_that_descriptor():
    field = smooth_field(6, 7, dim=8)
    probs = torch.zeros(1, 1, 6, 7)
    probs[0, 0, 3, 4] = 1.0
    desc = matching.expected_descriptor(probs, field)
    assert torch.allclose(desc[0, 0], field[0, :, 3, 4], atol=1e-6)


def test_batched_soft_and_hard_match_find_every_keypoint():
    field = one_hot_field(6, 8, batch=2)
    xy = torch.tensor([[[0.0, 0.0], [7.0, 5.0], [3.0, 2.0]], [[1.0, 4.0], [6.0, 1.0], [2.0, 2.0]]])
    queries = matching.sample_descriptors(field, xy)
    soft = matching.soft_match(queries, field, tau=0.03)
    assert torch.allclose(soft.location, xy, atol=1e-6)
    hard, score = matching.hard_match(queries, field)
    assert torch.equal(hard, xy)
    assert torch.allclose(score, torch.ones_like(score))


def test_pixel_grid_conversion_round_trips_and_matches_upsampling():
    xy = torch.tensor([[0.0, 0.0], [3.5, 3.5], [319.0, 239.0]])
    grid = matching.pixel_to_grid(xy, (240, 320), (30, 40))
    assert grid[1].tolist() == pytest.approx([0.0, 0.0])  # centre of the first 8x8 cell
    back = matching.grid_to_pixel(grid, (240, 320), (30, 40))
    assert torch.allclose(back, xy, atol=1e-5)


def test_sampling_between_cells_interpolates():
    field = smooth_field(5, 5, dim=4)
    mid = matching.sample_descriptors(field, torch.tensor([[[1.5, 2.0]]]))
    expected = torch.nn.functional.normalize(field[0, :, 2, 1] + field[0, :, 2, 2], dim=0)
    assert torch.allclose(mid[0, 0], expected, atol=1e-6)
