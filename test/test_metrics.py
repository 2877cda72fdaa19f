"""Metrics against hand-computed values, the pairs format, and prediction with known answers."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dense_descriptor_ros.data.images import DatasetError
from dense_descriptor_ros.evaluation import (PCK_THRESHOLDS, Pair, PairsFormatError, auc,
                                             evaluate_pairs, load_pairs, pck, pck_curve,
                                             pixel_errors, predict_pair, predict_pairs, save_pairs,
                                             summarize)
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig

torch.set_num_threads(1)

ERRORS = np.array([0.0, 4.0, 11.0, 60.0])


# --- metrics -------------------------------------------------------------------------------

def test_pixel_errors_are_euclidean():
    pred = np.array([[3.0, 4.0], [1.0, 1.0], [-2.0, 5.0]])
    true = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(pixel_errors(pred, true), [5.0, 0.0, 5.0])


def test_pck_by_hand():
    assert pck(ERRORS, 3) == 0.25
    assert pck(ERRORS, 5) == 0.5
    assert pck(ERRORS, 10) == 0.5
    assert pck(ERRORS, 11) == 0.75  # the threshold itself counts as correct
    assert pck(ERRORS, 60) == 1.0
    np.testing.assert_allclose(pck_curve(ERRORS, np.array([0, 4, 59, 60])), [0.25, 0.5, 0.75, 1.0])


def test_auc_by_hand():
    # k = 1..3: 1/4 correct; 4..10: 2/4; 11..50: 3/4
    assert auc(ERRORS, 50) == pytest.approx((3 * 0.25 + 7 * 0.5 + 40 * 0.75) / 50)  # 0.685
    # k = 1..3: .25, 4..10: .5, 11..59: .75, 60..100: 1
    assert auc(ERRORS, 100) == pytest.approx((3 * 0.25 + 7 * 0.5 + 49 * 0.75 + 41 * 1.0) / 100)


def test_summarize_keys_quantiles_and_normalised_error():
    errors = np.array([3.0, 4.0, 5.0, 20.0])
    diagonals = np.array([5.0, 10.0, 10.0, 100.0])  # e.g. a 3x4 image has diagonal 5
    result = summarize(errors, diagonals)
    expected_keys = {"count", *(f"pck@{k}" for k in PCK_THRESHOLDS), "auc@50", "auc@100",
                     "mean", "median", "q75", "q90", "q95", "normalised_mean"}
    assert set(result) == expected_keys
    assert result["count"] == 4
    assert result["mean"] == pytest.approx(8.0)
    assert result["median"] == pytest.approx(4.5)
    # linear quantiles of sorted [3, 4, 5, 20]: position q * 3
    assert result["q75"] == pytest.approx(5 + 0.25 * 15)
    assert result["q90"] == pytest.approx(5 + 0.7 * 15)
    assert result["q95"] == pytest.approx(5 + 0.85 * 15)
    assert result["normalised_mean"] == pytest.approx((0.6 + 0.4 + 0.5 + 0.2) / 4)
    assert result["pck@3"] == 0.25 and result["pck@5"] == 0.75 and result["pck@25"] == 1.0
    json.dumps(result)  # plain Python numbers


def test_perfect_predictions_score_one():
    result = summarize(np.zeros(7), np.full(7, 100.0))
    assert all(result[f"pck@{k}"] == 1.0 for k in PCK_THRESHOLDS)
    assert result["auc@50"] == 1.0 and result["auc@100"] == 1.0 and result["mean"] == 0.0


@pytest.mark.parametrize("errors, diagonals, message", [
    (np.zeros(0), np.zeros(0), "no errors"),
    (np.array([1.0, np.nan]), np.ones(2), "finite"),
    (np.array([1.0, 2.0]), np.ones(3), "diagonals"),
    (np.array([1.0]), np.array([0.0]), "positive"),
])
def test_summarize_rejects_bad_input(errors, diagonals, message):
    with pytest.raises(ValueError, match=message):
        summarize(errors, diagonals)


def test_pixel_errors_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        pixel_errors(np.zeros((3, 2)), np.zeros((2, 2)))


# --- pairs format ----------------------------------------------------------------------------

def _pair_dict(**changes) -> dict:
    data = {"image_a": "a.png", "image_b": "sub/b.png", "queries": [[1, 2], [3.5, 4]],
            "targets": [[5, 6], None], "visible": [True, False],
            "meta": {"kind": "rotation", "magnitude": 30}, "object_ids": [7, 8]}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def test_pairs_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps({"pairs": [_pair_dict(), _pair_dict(image_a="c.png", targets=...,
                                                                    visible=...)]}))
    pairs = load_pairs(path)
    assert len(pairs) == 2
    first = pairs[0]
    np.testing.assert_array_equal(first.queries, [[1, 2], [3.5, 4]])
    assert np.isnan(first.targets[1]).all() and first.visible.tolist() == [True, False]
    assert first.meta == {"kind": "rotation", "magnitude": 30}
    assert first.extra["object_ids"] == [7, 8]
    assert first.scored().tolist() == [True, False]
    assert pairs[1].targets is None and not pairs[1].scored().any()

    predicted = [dataclasses.replace(p, predictions=p.queries + 1, confidence=np.array([0.9, 0.1]))
                 for p in pairs]
    out = tmp_path / "out" / "preds.json"
    save_pairs(out, predicted)
    again = load_pairs(out)
    for before, after in zip(predicted, again):
        assert after.image_a == before.image_a and after.image_b == before.image_b
        np.testing.assert_array_equal(after.queries, before.queries)
        np.testing.assert_array_equal(after.predictions, before.predictions)
        np.testing.assert_allclose(after.confidence, before.confidence)
        assert after.extra == before.extra
    written = json.loads(out.read_text())["pairs"][0]
    assert written["targets"] == [[5.0, 6.0], None]
    assert written["object_ids"] == [7, 8]


@pytest.mark.parametrize("pair, message", [
    (_pair_dict(image_b=...), "missing required key 'image_b'"),
    (_pair_dict(queries=[[1, 2], [3]]), r"queries\[1\] must be \[x, y\]"),
    (_pair_dict(queries=[]), "'queries' is empty"),
    (_pair_dict(targets=[[5, 6]]), "'targets' has 1 entries but 'queries' has 2"),
    (_pair_dict(visible=[True, "no"]), r"visible\[1\] must be true/false"),
    (_pair_dict(visible=[True, True]), r"targets\[1\] is null"),
    (_pair_dict(predictions=[[0, 0], [1, 1]]), "come together"),
    (_pair_dict(confidence=[1.0]), "'confidence' has 1 entries"),
    (_pair_dict(image_a=3), "'image_a' must be a non-empty"),
    (_pair_dict(meta=[1]), "'meta' must be an object"),
    ([1, 2], "must be an object"),
])
def test_load_pairs_rejects_bad_pairs_with_clear_errors(tmp_path, pair, message):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps({"pairs": [_pair_dict(), pair]}))
    with pytest.raises(PairsFormatError, match=message) as info:
        load_pairs(path)
    assert "pair 1" in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('[{"image_a": "a"}]', "expected an object"),
    ('{"pairs": [], "notes": 1}', "unknown top-level keys"),
    ('{"pairs": {}}', "'pairs' must be a list"),
])
def test_load_pairs_rejects_bad_files(tmp_path, text, message):
    path = tmp_path / "pairs.json"
    path.write_text(text)
    with pytest.raises(PairsFormatError, match=message):
        load_pairs(path)


def test_load_pairs_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="pairs file not found"):
        load_pairs(tmp_path / "nope.json")


def test_save_pairs_validates_before_writing(tmp_path):
    bad = Pair("a.png", "b.png", np.zeros((3, 2)), targets=np.zeros((2, 2)))
    with pytest.raises(PairsFormatError, match="'targets' has 2 entries"):
        save_pairs(tmp_path / "p.json", [bad])
    assert not any(tmp_path.iterdir())


# --- prediction with a model whose answer is known -------------------------------------------

class PixelCodeNet(nn.Module):
    """Descriptor = one-hot of the pixel's (red, green) code: images encode canvas coordinates.

    ``(B, 3, H, W)`` with red = x / 255, green = y / 255 -> ``(B, 128, H, W)`` unit descriptors,
    so a canvas point has the same descriptor in every crop and nowhere else.
    """

    def forward(self, images: torch.Tensor, upsample: bool = False) -> torch.Tensor:
        assert upsample, "evaluation must match at full resolution"
        codes = (images[:, :2] * 255).round().long()  # (B, 2, H, W)
        onehot = F.one_hot(codes, 64).permute(0, 1, 4, 2, 3).float()  # (B, 2, 64, H, W)
        return F.normalize(onehot.flatten(1, 2), dim=1)


def canvas(height: int = 48, width: int = 60) -> torch.Tensor:
    """``(3, H, W)`` image whose red/green channels encode the pixel's x/y."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([xs / 255.0, ys / 255.0, torch.full_like(xs, 0.5, dtype=torch.float32)])


def test_predict_pair_recovers_a_known_shift():
    full = canvas()
    dx, dy = 7, 4
    image_a = full[:, :32, :40]  # 32 x 40
    image_b = full[:, dy:dy + 36, dx:dx + 50]  # different size: B pixel (u, v) = canvas (u + dx, v + dy)
    queries = np.array([[dx, dy], [39, 31], [20.0, 10.0], [12, 30]])
    predictions, confidence = predict_pair(DescriptorModel.of(PixelCodeNet()), image_a, image_b, queries)
    np.testing.assert_array_equal(predictions, queries - [dx, dy])
    np.testing.assert_allclose(confidence, 1.0, atol=1e-6)
    assert predictions.shape == (4, 2) and confidence.shape == (4,)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predict_pair_with_descriptor_net_on_identical_images(precision):
    torch.manual_seed(0)
    model = DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).train()
    image = torch.rand(3, 40, 48)
    # interior pixels: at the border bilinear upsampling repeats descriptors (ties)
    queries = np.random.default_rng(0).integers(4, 36, size=(50, 2)).astype(float)
    predictions, confidence = predict_pair(DescriptorModel.of(model, precision=precision), image, image, queries)
    assert model.training  # a training loop's model is given back in training mode
    np.testing.assert_array_equal(predictions, queries)
    np.testing.assert_allclose(confidence, 1.0, atol=1e-5)


@pytest.mark.parametrize("queries, message", [
    (np.array([[40.0, 3.0]]), "outside image A"),
    (np.array([[-1.0, 3.0]]), "outside image A"),
    (np.array([[np.nan, 3.0]]), "outside image A"),
    (np.zeros((2, 3)), r"\(N, 2\)"),
])
def test_predict_pair_rejects_bad_queries(queries, message):
    image = canvas()[:, :32, :40]
    with pytest.raises(ValueError, match=message):
        predict_pair(DescriptorModel.of(PixelCodeNet()), image, image, queries)


def test_predict_pair_rejects_bad_images():
    with pytest.raises(ValueError, match=r"image_b must be a \(3, H, W\)"):
        predict_pair(DescriptorModel.of(PixelCodeNet()), canvas(), canvas()[None], np.zeros((1, 2)))


def _save(image: torch.Tensor, path) -> None:
    Image.fromarray((image.permute(1, 2, 0) * 255).round().byte().numpy()).save(path)


def test_predict_and_evaluate_pairs_from_files(tmp_path):
    full = canvas()
    _save(full[:, :32, :40], tmp_path / "a.png")
    _save(full[:, 5:37, 3:43], tmp_path / "b.png")
    queries = np.array([[10.0, 10.0], [20.0, 15.0], [35.0, 30.0], [3.0, 5.0]])
    truth = queries - [3, 5]
    targets = truth.copy()
    targets[1] += [0, 4]  # this target is off by 4 px, so the error there is 4
    pairs = [Pair("a.png", "b.png", queries, targets=targets, visible=np.array([1, 1, 1, 0], bool),
                  extra={"meta": {"note": "kept"}}),
             Pair("a.png", "b.png", queries[:2])]  # no ground truth: matched but not scored
    predicted = predict_pairs(DescriptorModel.of(PixelCodeNet()), pairs, tmp_path, progress=False)
    np.testing.assert_array_equal(predicted[0].predictions, truth)
    assert predicted[0].extra == {"meta": {"note": "kept"}, "image_b_size": [40, 32]}
    assert predicted[1].predictions is not None and pairs[0].predictions is None

    result = evaluate_pairs(predicted)
    assert result["count"] == 3  # the invisible query is not scored
    assert result["mean"] == pytest.approx(4 / 3)
    assert result["pck@3"] == pytest.approx(2 / 3) and result["pck@5"] == 1.0
    assert result["normalised_mean"] == pytest.approx(4 / 3 / np.hypot(40, 32))

    oracle = [dataclasses.replace(p, predictions=p.targets) for p in predicted[:1]]
    perfect = evaluate_pairs(oracle)
    assert perfect["pck@3"] == 1.0 and perfect["auc@50"] == 1.0 and perfect["auc@100"] == 1.0

    with pytest.raises(ValueError, match="none of the 1 pairs has a visible query with a target"):
        evaluate_pairs(predicted[1:])


def test_predict_pairs_names_missing_and_corrupt_images(tmp_path):
    _save(canvas()[:, :16, :16], tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    queries = np.array([[1.0, 1.0]])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        predict_pairs(DescriptorModel.of(PixelCodeNet()), [Pair("a.png", "missing.png", queries)], tmp_path, progress=False)
    with pytest.raises(DatasetError, match="broken.png"):
        predict_pairs(DescriptorModel.of(PixelCodeNet()), [Pair("a.png", "broken.png", queries)], tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"pair 0 \(a.png -> a.png\).*outside image A"):
        predict_pairs(DescriptorModel.of(PixelCodeNet()), [Pair("a.png", "a.png", np.array([[20.0, 1.0]]))], tmp_path,
                      progress=False)
