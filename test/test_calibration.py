"""`ddr calibrate`: a model's heatmap eta is the median descriptor distance of true matches."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dense_descriptor_ros.cli import main as cli_main
from dense_descriptor_ros.evaluation.calibration import calibrated_eta, true_match_distances
from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.model.descriptor_model import DEFAULT_ETA, model_eta
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, load_checkpoint, save_checkpoint

SHIFT = 3  # image B is image A moved this many pixels to the right


def write_pairs(folder, targets_offset: np.ndarray, visible: bool = True):
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((80, 60), Image.BICUBIC))
    Image.fromarray(image).save(folder / "a.png")
    Image.fromarray(np.roll(image, SHIFT, axis=1)).save(folder / "b.png")
    queries = np.stack([rng.uniform(10, 60, 40), rng.uniform(8, 52, 40)], -1)
    pair = {"image_a": "a.png", "image_b": "b.png", "queries": queries.tolist(),
            "targets": (queries + targets_offset).tolist(), "visible": [visible] * 40}
    (folder / "pairs.json").write_text(json.dumps({"pairs": [pair]}))
    return folder / "pairs.json"


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))


def test_true_matches_lie_closer_than_wrong_ones_and_set_eta(tmp_path, checkpoint):
    model = DescriptorModel.load(checkpoint)
    assert model.eta == DEFAULT_ETA  # not calibrated yet
    right = true_match_distances(model, load_pairs(write_pairs(tmp_path, np.array([SHIFT, 0.0]))), tmp_path)
    wrong = true_match_distances(model, load_pairs(write_pairs(tmp_path, np.array([SHIFT + 12, -6.0]))), tmp_path)
    assert right.shape == (40,) and np.median(right) < 0.5 * np.median(wrong)
    assert calibrated_eta(right) == pytest.approx(np.median(right))
    with pytest.raises(ValueError, match="degenerate"):
        calibrated_eta(np.zeros(5))


def test_ddr_calibrate_stores_eta_and_keeps_the_weights(tmp_path, checkpoint, capsys):
    pairs = write_pairs(tmp_path, np.array([SHIFT, 0.0]))
    argv = ["calibrate", "--model", str(checkpoint), "--pairs", str(pairs), "--images", str(tmp_path)]
    before = checkpoint.read_bytes()
    assert cli_main.main([*argv, "--dry-run"]) == 0
    assert checkpoint.read_bytes() == before and "heatmap eta" in capsys.readouterr().out
    assert cli_main.main(argv) == 0
    old, _ = load_checkpoint(tmp_path / "tiny.pt")
    model = DescriptorModel.load(checkpoint)
    expected = calibrated_eta(true_match_distances(model, load_pairs(pairs), tmp_path))
    assert model.eta == pytest.approx(expected, abs=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), model.network.state_dict().values()))
    write_pairs(tmp_path, np.array([SHIFT, 0.0]), visible=False)
    assert cli_main.main(argv) == 2
    assert "no visible ground-truth" in capsys.readouterr().err


def test_ddr_calibrate_rotations_stores_the_ensemble_with_its_own_eta(tmp_path, checkpoint, capsys):
    pairs = write_pairs(tmp_path, np.array([SHIFT, 0.0]))
    argv = ["calibrate", "--model", str(checkpoint), "--pairs", str(pairs), "--images", str(tmp_path)]
    assert cli_main.main(argv) == 0
    single = model_eta(load_checkpoint(checkpoint)[1])
    assert cli_main.main([*argv, "--rotations", "4"]) == 0
    assert "4 rotation(s)" in capsys.readouterr().out
    model = DescriptorModel.load(checkpoint)
    assert model.card.rotations == 4 and model.network.config.rotations == 4
    expected = calibrated_eta(true_match_distances(model, load_pairs(pairs), tmp_path))
    assert model.eta == pytest.approx(expected, abs=1e-4) and abs(expected - single) > 1e-3


def test_a_bad_stored_eta_is_refused():
    with pytest.raises(ValueError, match="positive"):
        model_eta({"heatmap_eta": -1.0})
    assert model_eta({"heatmap_eta": 0.6}) == 0.6
