"""The colour check that weights heatmaps: histograms, similarities, weights, and the grasp it changes."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dense_descriptor_ros.grasping.appearance import (AppearanceCheck, appearance_weights, colour_bins,
                                                      colour_signature, disk_histograms, stored_signatures)
from dense_descriptor_ros.grasping.heatmap import Heatmap, keypoint_heatmaps
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase
from dense_descriptor_ros.grasping.oriented import oriented_grasp
from dense_descriptor_ros.grasping.suction import SuctionConfig, suction_grasp
from dense_descriptor_ros.grasping.workspace import RejectReason
from test_grasps import (CAMERA, GRID, KEYPOINTS_ONLY, box_on_floor, cell_pixel, plane_depth, planted_scene,
                         tilted_normal)

RED, BLUE, YELLOW = (200, 30, 30), (30, 40, 200), (220, 200, 40)
CHECK = AppearanceCheck()


def two_patches() -> np.ndarray:
    """A grey 96x128 image with a red square (left) and a blue square (right), 32 px each."""
    image = np.full((96, 128, 3), 128, np.uint8)
    image[32:64, 16:48] = RED
    image[32:64, 80:112] = BLUE
    return image


def test_colour_bins_follow_hue_saturation_and_value() -> None:
    image = np.array([[RED, BLUE], [(255, 255, 255), (0, 0, 0)]], np.uint8)
    bins = colour_bins(image, CHECK)
    per_hue = CHECK.saturation_bins * CHECK.value_bins
    assert bins[0, 0] // per_hue == 0  # red: hue 0
    assert bins[0, 1] // per_hue == 7  # blue: hue 237 deg -> bin 7 of 12
    assert bins[1, 0] == CHECK.value_bins - 1  # white: hue 0, saturation 0, brightest value
    assert bins[1, 1] == 0  # black
    assert bins.max() < CHECK.bins


def test_disk_histograms_count_the_disk_and_leave_out_the_outside() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = BLUE
    histograms = disk_histograms(image, np.array([[20.0, 20.0], [0.0, 0.0]]), replace(CHECK, radius=4.0))
    blue_bin = colour_bins(np.array([[BLUE]], np.uint8), CHECK)[0, 0]
    np.testing.assert_allclose(histograms.sum(axis=1), 1.0)
    # of the 49 pixels in a radius-4 disk (columns of 1, 5, 7, 7, 9, 7, 7, 5, 1), 29 lie at x >= 20
    assert histograms[0, blue_bin] == pytest.approx(29 / 49)
    assert histograms[0, 0] == pytest.approx(20 / 49)  # black
    assert histograms[1, 0] == pytest.approx(1.0)  # the corner's quarter disk, all black


def test_with_depth_a_disk_keeps_only_the_surface_at_its_centre() -> None:
    """A blue box top 40 mm above a black floor: the disk on the box's edge reads blue alone
    (the floor beside it left out), the disk on the floor black alone; a centre without depth
    keeps its whole disk."""
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = BLUE
    depth = np.full((40, 40), 1.0)
    depth[:, 20:] = 0.96
    check = replace(CHECK, radius=4.0)
    blue_bin = colour_bins(np.array([[BLUE]], np.uint8), CHECK)[0, 0]
    histograms = disk_histograms(image, np.array([[21.0, 20.0], [18.0, 20.0]]), check, depth)
    assert histograms[0, blue_bin] == pytest.approx(1.0) and histograms[1, 0] == pytest.approx(1.0)
    # a 5 mm step is within the 15 mm tolerance: one surface, both colours
    step = np.where(depth < 1.0, 0.995, 1.0)
    assert disk_histograms(image, np.array([[21.0, 20.0]]), check, step)[0, blue_bin] == pytest.approx(36 / 49)
    holed = depth.copy()
    holed[20, 21] = np.nan
    np.testing.assert_allclose(disk_histograms(image, np.array([[21.0, 20.0]]), check, holed),
                               disk_histograms(image, np.array([[21.0, 20.0]]), check))
    with pytest.raises(ValueError, match="does not match the colour image"):
        disk_histograms(image, np.array([[21.0, 20.0]]), check, depth[:20])
    with pytest.raises(ValueError, match="depth_tolerance"):
        AppearanceCheck(depth_tolerance=0.0)


def test_with_depth_a_thin_product_on_another_floor_passes_the_gate() -> None:
    """Annotated on one floor, found on another: a 10 px wide red box, so each cell's disk also
    covers the floor beside it. The clicks' disk saw grey floor, the new image's floor is blue:
    by colour alone the box reads unlike its annotation (all weights 0); with depth, the box's
    cells compare the box's own colours and pass."""
    def scene(floor: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        image = np.full((96, 128, 3), floor, np.uint8)
        image[20:76, 59:69] = RED
        depth = np.full((96, 128), 1.0)
        depth[20:76, 59:69] = 0.95
        return image, depth

    reference, _ = scene((128, 128, 128))
    signature = colour_signature(reference, np.array([[63.5, 47.5]]))
    image, depth = scene(BLUE)
    assert float(appearance_weights(image, {"red": signature}, GRID)["red"].max()) == 0.0
    weights = appearance_weights(image, {"red": signature}, GRID, CHECK, depth)["red"]
    assert float(weights[5, 7]) == pytest.approx(1.0) and float(weights[5, 8]) == pytest.approx(1.0)  # the box
    assert float(weights[:, :7].max()) == 0.0 and float(weights[:, 9:].max()) == 0.0  # the floor


def test_weights_favour_the_clicked_colour_and_are_relative() -> None:
    image = two_patches()
    signature = colour_signature(image, np.array([[30.0, 45.0], [36.0, 50.0]]))
    weights = appearance_weights(image, {"red box": signature}, GRID)["red box"]
    assert weights.shape == GRID and weights.dtype == torch.float32
    assert float(weights.max()) == pytest.approx(1.0)
    red, blue, grey = float(weights[5, 3]), float(weights[5, 11]), float(weights[1, 8])
    assert red > 0.9 and blue == 0.0 and grey == 0.0  # other colours: below min_similarity
    # a cell whose disk reaches a little into the red square: some red, below the gate
    ungated = appearance_weights(image, {"red box": signature}, GRID, replace(CHECK, min_similarity=0.0))["red box"]
    assert float(weights[5, 1]) == 0.0 and 0.0 < float(ungated[5, 1]) < 0.1
    assert float(ungated[5, 3]) == pytest.approx(red)
    off = appearance_weights(image, {"red box": signature}, GRID, replace(CHECK, power=0.0, min_similarity=0.0))
    assert torch.equal(off["red box"], torch.ones(GRID))


def two_matches() -> Heatmap:
    """Descriptor matches on both squares, the blue one a little better."""
    grid = torch.full(GRID, 0.05)
    grid[5, 11], grid[5, 3] = 0.80, 0.75
    return Heatmap(grid, (CAMERA.height, CAMERA.width))


def test_weights_rank_the_clicked_colour_first_and_keep_the_values() -> None:
    image = two_patches()
    signature = colour_signature(image, np.array([[32.0, 48.0]]))
    heatmap = two_matches()
    checked = heatmap.with_weights(appearance_weights(image, {"red": signature}, GRID)["red"])
    assert heatmap.best()[0][0] > 64 and checked.best()[0][0] < 64
    assert checked.best()[1] == pytest.approx(0.75)  # the descriptors' value, not the weighted one
    assert checked.ranking().best()[1] == pytest.approx(0.75 * float(checked.weights[5, 3]))
    with pytest.raises(ValueError, match="do not match the grid"):
        heatmap.with_weights(torch.ones(3, 4))


def test_suction_grasps_the_clicked_colour_with_the_check() -> None:
    depth = box_on_floor()
    image = two_patches()
    signature = colour_signature(image, np.array([[32.0, 48.0]]))
    weights = appearance_weights(image, {"red": signature}, GRID)["red"]
    config = SuctionConfig(candidate_ratio=0.5)
    plain = suction_grasp(two_matches(), depth, CAMERA, config=config)
    checked = suction_grasp(two_matches().with_weights(weights), depth, CAMERA, config=config)
    assert plain.ok and checked.ok
    assert plain.pixel[0] > 64 and checked.pixel[0] < 64
    assert checked.confidence == pytest.approx(0.75)
    # the gate still reads the descriptors' value: refused when that is too low, whatever the colour
    strict = suction_grasp(two_matches().with_weights(weights), depth, CAMERA,
                           config=SuctionConfig(min_confidence=0.78))
    assert strict.reason == RejectReason.LOW_CONFIDENCE and strict.pixel[0] < 64


def test_oriented_grasp_takes_the_keypoint_pair_on_the_clicked_colour() -> None:
    """The axis pair matches perfectly on a blue patch and a little worse on a red one: with
    the red signature (the colours halfway between the keypoints) the red pair is grasped,
    reporting its own (descriptor) confidences."""
    depth = plane_depth(tilted_normal(0, 0), np.array([0.0, 0.0, 0.5]))
    grid, keypoints = planted_scene()  # exact matches at cells (5, 5) and (9, 7)
    second = ((5, 1), (9, 3))
    for keypoint, (x, y) in zip(keypoints, second):
        grid[0, :, y, x] = F.normalize(keypoint + 0.01 * torch.ones(16), dim=0)
    image = np.full((CAMERA.height, CAMERA.width, 3), 128, np.uint8)
    image[36:64, 36:84] = BLUE  # under the exact pair
    image[4:32, 36:84] = RED  # under the second pair
    signature = colour_signature(image, np.mean([cell_pixel(cell) for cell in second], axis=0))
    weights = appearance_weights(image, {"red": signature}, GRID)["red"]
    plain = oriented_grasp(grid, keypoints, depth, CAMERA, config=KEYPOINTS_ONLY)
    checked = oriented_grasp(grid, keypoints, depth, CAMERA, config=KEYPOINTS_ONLY, appearance=weights)
    assert plain.ok and checked.ok
    np.testing.assert_allclose(plain.pixels, [cell_pixel((5, 5)), cell_pixel((9, 7))])
    np.testing.assert_allclose(checked.pixels, [cell_pixel(cell) for cell in second])
    maps = keypoint_heatmaps(grid, keypoints, KEYPOINTS_ONLY.eta)  # the confidences are the plain maps'
    np.testing.assert_allclose(checked.confidences, [maps[0, 1, 5], maps[1, 3, 9]], rtol=1e-6)
    assert checked.confidences.max() < 1.0


def test_signatures_come_from_the_stored_clicks(tmp_path: Path) -> None:
    image = two_patches()
    descriptors = np.eye(4, dtype=np.float32)[:2]
    with KeypointDatabase(tmp_path / "kp.sqlite") as db:
        db.add_preferences("red", image, np.array([[30.0, 45.0], [36.0, 50.0]]), descriptors, "m", "test")
        db.set_axis_keypoints("blue", image, np.array([[90.0, 48.0], [102.0, 48.0]]), descriptors, "m", "test")
        preferences = stored_signatures(db, ["red"])
        axes = stored_signatures(db, ["blue"], axis=True)  # halfway between the two
        with pytest.raises(ValueError, match=r"no grasp preferences stored for \['blue'\]"):
            stored_signatures(db, ["red", "blue"])
    np.testing.assert_allclose(preferences["red"], colour_signature(image, np.array([[30.0, 45.0], [36.0, 50.0]])))
    np.testing.assert_allclose(axes["blue"], colour_signature(image, np.array([[96.0, 48.0]])))
    assert np.sqrt(preferences["red"] * axes["blue"]).sum() < 0.05


@pytest.mark.parametrize("kwargs, message", [({"radius": 0.0}, "radius must be > 0"),
                                             ({"hue_bins": 0}, "bins >= 1"),
                                             ({"power": -1.0}, "power must be >= 0"),
                                             ({"min_similarity": 1.0}, r"min_similarity must be in \[0, 1\)")])
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AppearanceCheck(**kwargs)


def test_bad_signatures_and_clicks_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one pixel"):
        colour_signature(two_patches(), np.zeros((0, 2)))
    with pytest.raises(ValueError, match=f"{CHECK.bins} bins was expected for 'x'"):
        appearance_weights(two_patches(), {"x": np.ones(5)}, GRID)


def test_a_peak_below_the_gate_is_skipped_for_the_next_ranked_one() -> None:
    """The colour ranks a weak match first: it is refused on its own value, the next peak taken."""
    grid = torch.full(GRID, 0.01)
    grid[5, 3], grid[5, 11] = 0.20, 0.60
    weights = torch.full(GRID, 0.1)
    weights[5, 3], weights[5, 11] = 1.0, 0.3  # ranking 0.20 and 0.18
    heatmap = Heatmap(grid, (CAMERA.height, CAMERA.width), weights)
    gate = SuctionConfig(min_confidence=0.25)
    grasp = suction_grasp(heatmap, box_on_floor(), CAMERA, config=gate)
    assert grasp.ok and grasp.confidence == pytest.approx(0.60)
    np.testing.assert_allclose(grasp.pixel, [91.5, 43.5])
    weak = suction_grasp(Heatmap(grid, (CAMERA.height, CAMERA.width), torch.where(weights < 1, 0.0, 1.0)),
                         box_on_floor(), CAMERA, config=gate)
    assert weak.reason == RejectReason.LOW_CONFIDENCE and weak.confidence == pytest.approx(0.20)


def test_nothing_with_the_annotations_colours_is_refused_not_grasped() -> None:
    """A heap without the product: every cell's colours fail the gate, so no candidate exists."""
    image = two_patches()
    yellow = colour_signature(np.full((32, 32, 3), YELLOW, np.uint8), np.array([[16.0, 16.0]]))
    weights = appearance_weights(image, {"yellow": yellow}, GRID)["yellow"]
    assert float(weights.max()) == 0.0
    heatmap = two_matches().with_weights(weights)
    assert heatmap.candidates(SuctionConfig()) == [] and len(heatmap.peaks(5)[0]) == 0
    with pytest.raises(ValueError, match="weight 0"):
        heatmap.best()
    grasp = suction_grasp(heatmap, box_on_floor(), CAMERA)
    assert grasp.reason == RejectReason.UNLIKE_ANNOTATION and grasp.pose_camera is None
    assert grasp.confidence == pytest.approx(0.80)  # the descriptors' best, for the operator to read
    depth = plane_depth(tilted_normal(0, 0), np.array([0.0, 0.0, 0.5]))
    grid, keypoints = planted_scene()
    parallel = oriented_grasp(grid, keypoints, depth, CAMERA, config=KEYPOINTS_ONLY, appearance=torch.zeros(GRID))
    assert parallel.reason == RejectReason.UNLIKE_ANNOTATION and parallel.pose_camera is None
    np.testing.assert_allclose(parallel.pixels, [cell_pixel((5, 5)), cell_pixel((9, 7))])


def test_each_gripper_kind_has_its_own_gate() -> None:
    """Suction gates stricter than the jaw (chosen on validation heaps: grasping.appearance)."""
    assert AppearanceCheck.for_gripper("suction") == replace(AppearanceCheck(), min_similarity=0.85)
    assert AppearanceCheck.for_gripper("parallel") == AppearanceCheck()
    with pytest.raises(ValueError, match="gripper must be one of"):
        AppearanceCheck.for_gripper("vacuum")
