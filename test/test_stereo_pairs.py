"""Stereo evaluation pairs: exact correspondences on a synthetic shifted pair, disparity scaled
with the images, ``ddr pairs stereo`` feeding ``ddr evaluate``, and the real offline sources."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

from dense_descriptor_ros.data.images import read_rgb
from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.evaluation.stereo_pairs import (OPENCV_DOC_DATA, STEREO_SOURCES,
                                                          StereoPair, load_middlebury_aloe,
                                                          make_stereo_pairs)
from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint

torch.set_num_threads(1)

HEIGHT, WIDTH = 48, 80
BACKGROUND_D, FOREGROUND_D = 4, 10  # even: at half size both shift by whole pixels
FOREGROUND = (slice(12, 36), slice(30, 50))
UNKNOWN = {"nan": (slice(2, 10), slice(10, 30)), "inf": (slice(38, 46), slice(20, 40)),
           "zero": (slice(20, 30), slice(60, 70))}


def shifted_pair(seed: int = 0, foreground_d: int = FOREGROUND_D) -> tuple[StereoPair, np.ndarray,
                                                                           np.ndarray]:
    """Random-texture stereo pair made by shifting left pixels by a known disparity.

    A foreground block (``foreground_d``) in front of a background (4); right pixels no left pixel
    lands on keep fresh noise. Three blocks of the ground truth are marked unknown (NaN, inf,
    0) though their true disparity is the background's. Returns the pair, the true disparity
    and the left pixels hidden in the right image.
    """
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    true = np.full((HEIGHT, WIDTH), float(BACKGROUND_D))
    true[FOREGROUND] = foreground_d
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    landing = xs - true.astype(int)
    source_x = np.full((HEIGHT, WIDTH), -1)  # which left column each right pixel shows
    for d in sorted({BACKGROUND_D, foreground_d}):  # nearer last: it covers what it hides
        here = (true == d) & (landing >= 0)
        right[ys[here], landing[here]] = left[here]
        source_x[ys[here], landing[here]] = xs[here]
    hidden = (landing < 0) | (source_x[ys, np.clip(landing, 0, None)] != xs)
    ground_truth = true.copy()
    for mark, block in zip((np.nan, np.inf, 0.0), UNKNOWN.values()):
        ground_truth[block] = mark
    return StereoPair(left, right, ground_truth, "test"), true, hidden


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample ``(H, W, C)`` at float pixels ``(N, 2)``."""
    x0, y0 = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
    fx, fy = (xy[:, 0] - x0)[:, None], (xy[:, 1] - y0)[:, None]
    return ((1 - fx) * (1 - fy) * image[y0, x0] + fx * (1 - fy) * image[y0, x0 + 1]
            + (1 - fx) * fy * image[y0 + 1, x0] + fx * fy * image[y0 + 1, x0 + 1])


def test_native_pairs_are_exact_and_skip_unknown_and_hidden_pixels(tmp_path):
    stereo, true, hidden = shifted_pair()
    path = make_stereo_pairs({"shifted": stereo}, tmp_path / "a", None, keypoints=150, seed=4)
    forward, backward = load_pairs(path)
    assert (forward.image_a, forward.image_b) == ("shifted_left.png", "shifted_right.png")
    assert forward.meta["direction"] == "left-right" and backward.meta["direction"] == "right-left"
    assert forward.queries.shape == (150, 2) and forward.visible.all()
    assert len(np.unique(forward.queries, axis=0)) == 150
    np.testing.assert_array_equal(read_rgb(tmp_path / "a" / forward.image_a), stereo.left)

    qx, qy = forward.queries.astype(int).T
    np.testing.assert_array_equal(forward.queries, np.stack([qx, qy], -1))
    np.testing.assert_array_equal(forward.targets, np.stack([qx - true[qy, qx], qy], -1))
    tx = forward.targets[:, 0].astype(int)
    np.testing.assert_array_equal(stereo.right[qy, tx], stereo.left[qy, qx])
    for block in UNKNOWN.values():
        marked = np.zeros((HEIGHT, WIDTH), bool)
        marked[block] = True
        assert not marked[qy, qx].any()
    assert not hidden[qy, qx].any()
    # both depths are sampled, and queries stay off the image border
    assert set(true[qy, qx]) == {BACKGROUND_D, FOREGROUND_D}
    assert forward.targets.min() >= 4 and forward.queries[:, 0].max() <= WIDTH - 5

    np.testing.assert_array_equal(backward.queries, forward.targets)
    np.testing.assert_array_equal(backward.targets, forward.queries)

    again = make_stereo_pairs({"other": stereo, "shifted": stereo}, tmp_path / "b", None, 150, 4)
    np.testing.assert_array_equal(load_pairs(again)[2].queries, forward.queries)
    one_way = make_stereo_pairs({"shifted": stereo}, tmp_path / "c", None, 150, 5, "left-right")
    (moved,) = load_pairs(one_way)
    assert not np.array_equal(moved.queries, forward.queries)


def test_resize_scales_the_disparity(tmp_path):
    # half the height; the width overhangs (40 of 80 -> 30) and is centre-cropped
    sources = {"two_depths": shifted_pair(seed=1)[0],
               "one_depth": shifted_pair(seed=2, foreground_d=BACKGROUND_D)[0]}
    path = make_stereo_pairs(sources, tmp_path, (24, 30), keypoints=40, seed=0,
                             directions="left-right")
    two_depths, one_depth = load_pairs(path)
    for pair in (two_depths, one_depth):
        assert read_rgb(tmp_path / pair.image_b).shape == (24, 30, 3) and pair.meta["scale"] == 0.5
        np.testing.assert_array_equal(pair.targets[:, 1], pair.queries[:, 1])
    assert set(two_depths.queries[:, 0] - two_depths.targets[:, 0]) == {BACKGROUND_D / 2,
                                                                         FOREGROUND_D / 2}
    # one whole-pixel shift: both resized images sample the same texture alike at every query
    left = read_rgb(tmp_path / one_depth.image_a).astype(float)
    right = read_rgb(tmp_path / one_depth.image_b).astype(float)
    at_query = bilinear(left, one_depth.queries)
    assert np.abs(at_query - bilinear(right, one_depth.targets)).max() <= 1
    assert np.abs(at_query - bilinear(right, one_depth.queries)).mean() > 10


def test_stereo_pair_rejects_mismatched_inputs(tmp_path):
    stereo, _, _ = shifted_pair()
    with pytest.raises(ValueError, match="differ in size"):
        StereoPair(stereo.left, stereo.right, stereo.disparity[:, :-1], "cut")
    with pytest.raises(ValueError, match="keypoints must be >= 1"):
        make_stereo_pairs({"shifted": stereo}, tmp_path, None, 0, 0)
    nothing = StereoPair(stereo.left, stereo.right, np.full((HEIGHT, WIDTH), np.inf), "unknown")
    with pytest.raises(ValueError, match="no pixel of known disparity"):
        make_stereo_pairs({"unknown": nothing}, tmp_path, None, 10, 0)


def test_cli_writes_pairs_that_evaluate_scores(tmp_path, monkeypatch, run_ddr, capsys):
    for seed, name in enumerate(STEREO_SOURCES):
        made = functools.partial(lambda s: shifted_pair(s)[0], seed)
        monkeypatch.setitem(STEREO_SOURCES, name, made)
    out = tmp_path / "stereo"
    assert run_ddr("pairs", "stereo", "--source", "all", "--out", out, "--size", "40x64",
                   "--keypoints", 20, "--seed", 3) == 0
    assert "wrote 4 pairs (80 queries)" in capsys.readouterr().out
    pairs = load_pairs(out / "pairs.json")
    assert [p.meta["source"] for p in pairs] == [n for n in STEREO_SOURCES for _ in range(2)]

    torch.manual_seed(0)
    tiny = DescriptorNet(ModelConfig(width=8, descriptor_dim=16))
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny)
    report = tmp_path / "report"
    assert run_ddr("evaluate", "--model", checkpoint, "--pairs", out / "pairs.json",
                   "--images", out, "--out", report, "--device", "cpu") == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["count"] == 80 and 0 <= metrics["auc@50"] <= 1


def test_missing_opencv_doc_names_the_package(tmp_path, monkeypatch, run_ddr, capsys):
    with pytest.raises(FileNotFoundError, match="apt-get install opencv-doc"):
        load_middlebury_aloe(tmp_path)
    absent = functools.partial(load_middlebury_aloe, tmp_path)
    monkeypatch.setitem(STEREO_SOURCES, "middlebury-aloe", absent)
    assert run_ddr("pairs", "stereo", "--source", "middlebury-aloe", "--out", tmp_path / "out") == 2
    assert "install Debian's opencv-doc package" in capsys.readouterr().err
    assert not (tmp_path / "out" / "pairs.json").exists()


@pytest.mark.parametrize("source", sorted(STEREO_SOURCES))
def test_real_stereo_targets_show_the_query_surface(source, tmp_path):
    """At every target the right photo shows what the left one shows at the query."""
    if source == "middlebury-aloe" and not (OPENCV_DOC_DATA / "aloeGT.png").is_file():
        pytest.skip("Debian's opencv-doc is not installed (apt-get install opencv-doc)")
    if source == "skimage-motorcycle":
        pytest.importorskip("skimage")
    path = make_stereo_pairs({source: STEREO_SOURCES[source]()}, tmp_path, (120, 160), 200, 0,
                             "left-right")
    (pair,) = load_pairs(path)
    left = read_rgb(tmp_path / pair.image_a).mean(-1)[..., None]
    right = read_rgb(tmp_path / pair.image_b).mean(-1)[..., None]
    at_query = bilinear(left, pair.queries)
    warped = np.abs(at_query - bilinear(right, pair.targets)).mean()
    unwarped = np.abs(at_query - bilinear(right, pair.queries)).mean()
    assert len(pair.queries) == 200 and warped < 10 and unwarped > 2.5 * warped
