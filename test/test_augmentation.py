"""Augmentations: the returned homography must be the exact pixel mapping of the warp."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from dense_descriptor_ros.augmentation import (AugmentationConfig, Augmenter, color_jitter,
                                               map_keypoints)
from dense_descriptor_ros.augmentation.geometric import (crop_matrix, homography_from_points,
                                                         sample_crop_boxes)
from dense_descriptor_ros.augmentation.photometric import (adjust_contrast, adjust_hue,
                                                           adjust_saturation, hsv_to_rgb, rgb_to_hsv)
from dense_descriptor_ros.geometry.homography import transform_points

SIZE = (48, 64)  # (h, w)
GEOMETRIC_P = ("p_crop", "p_rotation", "p_scale", "p_perspective")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def smooth_images(batch: int, seed: int = 0) -> torch.Tensor:
    """Textured but smooth ``(B, 3, 48, 64)`` images: random 6x8 colours, bicubic upsampled."""
    coarse = torch.rand(batch, 3, 6, 8, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=SIZE, mode="bicubic", align_corners=False).clamp(0, 1)


def sample_bilinear(images: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear colours ``(B, N, C)`` of ``(B, C, H, W)`` images at pixel coordinates ``(B, N, 2)``."""
    h, w = images.shape[-2:]
    grid = torch.stack([(xy[..., 0] + 0.5) / w * 2 - 1, (xy[..., 1] + 0.5) / h * 2 - 1], -1)
    out = F.grid_sample(images, grid.unsqueeze(2), mode="bilinear", align_corners=False)
    return out.squeeze(-1).transpose(1, 2)


def only(name: str, p: float = 1.0, **overrides) -> AugmentationConfig:
    """A config with just the augmentation ``name`` switched on with probability ``p``."""
    return dataclasses.replace(AugmentationConfig.none(), **{name: p}, **overrides)


def seeded(config: AugmentationConfig, seed: int = 0, out_size=None) -> Augmenter:
    return Augmenter(config, out_size=out_size, generator=torch.Generator().manual_seed(seed))


def is_identity(homography: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: the homography moves no pixel of the test image by more than 1e-3 px."""
    corners = torch.tensor([[0.0, 0.0], [63.0, 0.0], [63.0, 47.0], [0.0, 47.0]])
    corners = corners.expand(homography.shape[0], 4, 2)
    return (transform_points(homography, corners) - corners).abs().amax(dim=(1, 2)) < 1e-3


# --- the whole pipeline -------------------------------------------------------------------------

def test_none_is_the_identity():
    images = smooth_images(3)
    out = seeded(AugmentationConfig.none())(images)
    assert torch.equal(out.homography, torch.eye(3).expand(3, 3, 3))
    assert torch.allclose(out.images, images, atol=1e-5)
    assert out.valid.all() and out.valid.shape == (3, 1, *SIZE)


@pytest.mark.parametrize("out_size", [None, (40, 56)])
def test_warped_colour_at_mapped_keypoints_matches_source(out_size):
    """With all geometry on, the colour found at a mapped keypoint is the keypoint's colour."""
    images = smooth_images(8)
    out = seeded(dataclasses.replace(AugmentationConfig.synthetic(), p_color=0.0),
                 out_size=out_size)(images)
    h, w = out_size or SIZE
    xy = torch.rand(8, 400, 2, generator=torch.Generator().manual_seed(1)) * torch.tensor(
        [SIZE[1] - 5.0, SIZE[0] - 5.0]) + 2.0  # away from the source border
    mapped, inside = map_keypoints(out.homography, xy, (h, w))
    # away from the augmented border too: all four bilinear neighbours are valid pixels
    usable = inside & (sample_bilinear(out.valid.float(), mapped)[..., 0] > 0.999)
    assert usable.sum() > 1000
    source = sample_bilinear(images, xy)[usable]
    error = (sample_bilinear(out.images, mapped)[usable] - source).abs().amax(dim=-1)
    assert (error < 0.05).float().mean() > 0.99
    # the check can fail: keypoints one pixel off do not agree
    off = sample_bilinear(out.images, mapped + torch.tensor([1.0, 0.0]))[usable]
    wrong = (off - source).abs().amax(dim=-1)
    assert (wrong < 0.05).float().mean() < 0.3


def test_keypoints_mapped_outside_are_flagged():
    shift = torch.tensor([[[1.0, 0, 30], [0, 1, 0], [0, 0, 1]]])
    xy = torch.tensor([[[10.0, 5.0], [33.0, 5.0], [34.0, 5.0], [50.0, 40.0]]])
    mapped, inside = map_keypoints(shift, xy, SIZE)
    assert torch.allclose(mapped, xy + torch.tensor([30.0, 0.0]))
    assert inside.tolist() == [[True, True, False, False]]
    # beyond the horizon of a perspective map: no image point, NaN and not inside
    horizon = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [-0.05, 0, 1]]])
    mapped, inside = map_keypoints(horizon, torch.tensor([[[10.0, 5.0], [30.0, 5.0]]]), SIZE)
    assert inside.tolist() == [[True, False]] and mapped[0, 1].isnan().all()


def test_inside_agrees_with_the_valid_mask():
    out = seeded(AugmentationConfig.synthetic())(smooth_images(4))
    ys, xs = torch.meshgrid(torch.arange(SIZE[0]), torch.arange(SIZE[1]), indexing="ij")
    grid = torch.stack([xs, ys], -1).reshape(1, -1, 2).float().expand(4, -1, -1)
    mapped, inside = map_keypoints(out.homography, grid, SIZE)
    assert inside.any() and (~inside).any()
    pixel = mapped.nan_to_num(-10).round().long()
    px, py = pixel[..., 0].clamp(0, SIZE[1] - 1), pixel[..., 1].clamp(0, SIZE[0] - 1)
    valid_there = out.valid[torch.arange(4)[:, None], 0, py, px]
    assert valid_there[inside].float().mean() > 0.97


# --- each augmentation alone --------------------------------------------------------------------

def test_rotation_by_90_degrees_about_the_centre():
    homography = seeded(only("p_rotation", rotation=(90.0, 90.0))).sample_homography(
        1, SIZE, SIZE, "cpu")
    points = torch.tensor([[[31.5, 23.5], [41.5, 23.5], [31.5, 13.5]]])
    expected = torch.tensor([[[31.5, 23.5], [31.5, 33.5], [41.5, 23.5]]])
    assert torch.allclose(transform_points(homography, points), expected, atol=1e-4)


def test_scale_zooms_about_the_centre():
    homography = seeded(only("p_scale", scale=(0.5, 0.5))).sample_homography(1, SIZE, SIZE, "cpu")
    points = torch.tensor([[[31.5, 23.5], [41.5, 23.5], [0.0, 0.0]]])
    expected = torch.tensor([[[31.5, 23.5], [36.5, 23.5], [15.75, 11.75]]])
    assert torch.allclose(transform_points(homography, points), expected, atol=1e-4)


def test_crop_matrix_maps_box_corners_to_output_corners():
    boxes = torch.tensor([[10.0, 5.0, 20.0, 15.0]])  # x0, y0, width, height
    box_edges = torch.tensor([[[9.5, 4.5], [29.5, 4.5], [29.5, 19.5], [9.5, 19.5]]])
    out_edges = torch.tensor([[[-0.5, -0.5], [39.5, -0.5], [39.5, 29.5], [-0.5, 29.5]]])
    assert torch.allclose(transform_points(crop_matrix(boxes, (30, 40)), box_edges.double()),
                          out_edges.double())


def test_sampled_crops_follow_random_resized_crop():
    homography = seeded(only("p_crop")).sample_homography(300, SIZE, SIZE, "cpu").double()
    sx, sy = homography[:, 0, 0], homography[:, 1, 1]
    assert (homography[:, 0, 1] == 0).all() and (homography[:, 2, :2] == 0).all()
    width, height = SIZE[1] / sx, SIZE[0] / sy
    x0, y0 = 0.5 - (homography[:, 0, 2] + 0.5) / sx, 0.5 - (homography[:, 1, 2] + 0.5) / sy
    for value in (width, height, x0, y0):
        assert torch.allclose(value, value.round(), atol=1e-3)  # whole pixels, as torchvision
    area = width * height / (SIZE[0] * SIZE[1])
    assert area.min() > 0.69 and area.max() < 1.01 and area.std() > 0.05
    ratio = width / height
    assert ratio.min() > 0.74 and ratio.max() < 1.35
    assert (x0 > -1e-3).all() and (x0 + width < SIZE[1] + 1e-3).all()
    assert (y0 > -1e-3).all() and (y0 + height < SIZE[0] + 1e-3).all()


def test_crop_falls_back_to_the_central_box():
    # 16x128 is too elongated for any 70..100 % box with aspect 3/4..4/3
    boxes = sample_crop_boxes(5, (16, 128), (0.7, 1.0), torch.Generator().manual_seed(0))
    assert boxes.tolist() == [[53.0, 0.0, 21.0, 16.0]] * 5


def test_perspective_moves_corners_inward_within_reach():
    homography = seeded(only("p_perspective")).sample_homography(200, SIZE, SIZE, "cpu")
    corners = torch.tensor([[0.0, 0.0], [63.0, 0.0], [63.0, 47.0], [0.0, 47.0]]).expand(200, 4, 2)
    moved = transform_points(homography, corners) - corners
    inward = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    reach = torch.tensor([0.4 * 32, 0.4 * 24])
    along = moved * inward
    assert (along > -1e-3).all() and (along < reach + 1e-3).all()
    assert (along.mean(dim=(0, 1)) - reach / 2).abs().max() < 1.5  # uniform: mean half the reach


def test_homography_from_points_is_exact_and_rejects_degenerate_points():
    src = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [10.0, 8.0], [0.0, 8.0]]])
    dst = torch.tensor([[[1.0, 2.0], [9.0, 1.0], [11.0, 9.0], [-1.0, 7.0]]])
    assert torch.allclose(transform_points(homography_from_points(src, dst), src.double()),
                          dst.double(), atol=1e-9)
    with pytest.raises(ValueError, match="degenerate"):
        homography_from_points(torch.zeros(1, 4, 2), dst)


# --- probabilities ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", GEOMETRIC_P)
def test_each_geometric_probability_is_respected(name):
    changed = ~is_identity(seeded(only(name, 0.5)).sample_homography(400, SIZE, SIZE, "cpu"))
    assert 140 <= changed.sum() <= 260  # Binomial(400, 0.5): mean 200, sd 10
    never = ~is_identity(seeded(only(name, 0.0)).sample_homography(400, SIZE, SIZE, "cpu"))
    assert not never.any()


def test_colour_probability_is_respected():
    images = torch.rand(400, 3, 4, 4, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.25
    changed = (seeded(only("p_color", 0.5))(images).images - images).abs().amax(dim=(1, 2, 3)) > 1e-4
    assert 140 <= changed.sum() <= 260
    assert torch.allclose(seeded(only("p_color", 0.0))(images).images, images, atol=1e-5)


def test_preset_probabilities():
    for preset, p in ((AugmentationConfig.synthetic(), 1.0), (AugmentationConfig.geometric(), 0.5),
                      (AugmentationConfig.none(), 0.0)):
        assert [getattr(preset, f"p_{n}") for n in ("color", "rotation", "scale", "perspective",
                                                      "crop")] == [p] * 5
    assert AugmentationConfig.geometric().rotation == (0.0, 359.0)


# --- colour jitter ------------------------------------------------------------------------------

def test_brightness_only_multiplies_by_a_factor_in_range():
    images = torch.rand(50, 3, 6, 8, generator=torch.Generator().manual_seed(3)) * 0.7 + 0.1
    out = color_jitter(images, 0.2, 0.0, 0.0, 0.0, generator=torch.Generator().manual_seed(4))
    ratio = out / images
    factor = ratio.mean(dim=(1, 2, 3))
    assert torch.allclose(ratio, factor.view(-1, 1, 1, 1).expand_as(ratio), atol=1e-5)
    assert factor.min() >= 0.8 and factor.max() <= 1.2 and factor.std() > 0.05


def test_hue_shift_turns_red_into_green_and_blue():
    red = torch.zeros(2, 3, 2, 2)
    red[:, 0] = 1
    shifted = adjust_hue(red, torch.tensor([1 / 3, -1 / 3]))
    assert torch.allclose(shifted[0].mean(dim=(1, 2)), torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)
    assert torch.allclose(shifted[1].mean(dim=(1, 2)), torch.tensor([0.0, 0.0, 1.0]), atol=1e-5)


def test_hsv_round_trip():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(images)), images, atol=1e-5)


def test_grey_is_unchanged_by_hue_and_saturation():
    grey = torch.rand(6, 1, 5, 7, generator=torch.Generator().manual_seed(6)).expand(6, 3, 5, 7)
    out = color_jitter(grey, 0.0, 0.0, 0.5, 0.5, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(out, grey, atol=1e-6)
    colour = torch.rand(6, 3, 5, 7, generator=torch.Generator().manual_seed(6))
    assert not torch.allclose(color_jitter(colour, 0.0, 0.0, 0.5, 0.5,
                                           generator=torch.Generator().manual_seed(7)), colour, atol=1e-2)


def test_contrast_and_saturation_extremes():
    images = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(8))
    flat = adjust_contrast(images, torch.zeros(2))
    assert flat.std(dim=(1, 2, 3)).max() < 1e-6
    grey = adjust_saturation(images, torch.zeros(2))
    assert (grey.amax(dim=1) - grey.amin(dim=1)).max() < 1e-6


def test_strong_jitter_stays_in_unit_range():
    images = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    out = color_jitter(images, 0.9, 0.9, 0.9, 0.5, generator=torch.Generator().manual_seed(10))
    assert out.min() >= 0 and out.max() <= 1 and not torch.allclose(out, images, atol=1e-2)


# --- determinism, sizes, bad input --------------------------------------------------------------

def test_seeded_generator_is_deterministic():
    images = smooth_images(4)
    first, second = (seeded(AugmentationConfig.synthetic(), seed=11)(images) for _ in range(2))
    assert torch.equal(first.images, second.images) and torch.equal(first.homography, second.homography)
    other = seeded(AugmentationConfig.synthetic(), seed=12)(images)
    assert not torch.allclose(first.homography, other.homography)


def test_output_size_is_honoured():
    out = seeded(AugmentationConfig.geometric(), out_size=(32, 40))(smooth_images(2))
    assert out.images.shape == (2, 3, 32, 40) and out.valid.shape == (2, 1, 32, 40)
    assert out.homography.shape == (2, 3, 3) and out.homography.dtype == torch.float32
    # without any augmentation the whole image is resized: corners edge to edge
    resize = seeded(AugmentationConfig.none(), out_size=(32, 40)).sample_homography(1, SIZE, (32, 40), "cpu")
    edges = torch.tensor([[[-0.5, -0.5], [63.5, 47.5]]])
    assert torch.allclose(transform_points(resize, edges), torch.tensor([[[-0.5, -0.5], [39.5, 31.5]]]))


def test_config_round_trip_and_validation():
    config = AugmentationConfig.geometric()
    assert AugmentationConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["rotation"] == [0.0, 359.0]
    with pytest.raises(ValueError, match="unknown augmentation config keys"):
        AugmentationConfig.from_dict({"rotate": 3})
    for bad in ({"p_crop": 1.5}, {"scale": (1.0, 0.5)}, {"hue": 0.7}, {"crop_scale": (0.5, 1.2)},
                {"perspective": -0.1}, {"brightness": -1.0}):
        with pytest.raises(ValueError):
            AugmentationConfig(**bad)


def test_bad_input_is_rejected():
    augment = seeded(AugmentationConfig.synthetic())
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        augment(torch.rand(3, 48, 64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        augment(torch.rand(1, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match="out_size"):
        Augmenter(AugmentationConfig(), out_size=(0, 10))
    with pytest.raises(ValueError, match=r"\(B, N, 2\)"):
        map_keypoints(torch.eye(3).expand(2, 3, 3), torch.zeros(3, 5, 2), SIZE)
    with pytest.raises(ValueError, match="hue"):
        color_jitter(torch.rand(1, 3, 4, 4), 0.2, 0.2, 0.2, 0.9)
    assert math.isfinite(float(augment(torch.rand(1, 3, 8, 8)).images.sum()))


def test_mapping_is_exact_under_low_precision_autocast():
    """Training runs under bf16/fp16 autocast; pixel coordinates must not be rounded by it."""
    images = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(13))
    xy = torch.rand(2, 50, 2, generator=torch.Generator().manual_seed(14)) * 60
    reference = seeded(AugmentationConfig.synthetic())(images)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = seeded(AugmentationConfig.synthetic())(images)
        mapped, _ = map_keypoints(out.homography, xy * 5, (240, 320))
    assert out.images.dtype == torch.float32
    assert torch.allclose(out.images, reference.images, atol=1e-6)
    assert torch.allclose(mapped, map_keypoints(reference.homography, xy * 5, (240, 320))[0],
                          atol=1e-4, equal_nan=True)
