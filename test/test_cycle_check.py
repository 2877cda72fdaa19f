"""The CCL cycle check: a model that matches closes its cycles through right matches, one that
cannot match closes none through them, and ``ddr evaluate --cycles`` writes the figures."""
from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from dense_descriptor_ros.evaluation.cycle_check import cycle_check
from dense_descriptor_ros.evaluation.pairs import Pair
from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint
from dense_descriptor_ros.model.descriptor_model import DescriptorModel

SHIFT = 16  # pixels: two grid cells, so a translation-equivariant network matches exactly


class PatchCode(torch.nn.Module):
    """Fixed random 16x16 patch filters at stride 8: unique codes on a random texture."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 64, 16, stride=8, padding=4, bias=False)
        torch.nn.init.normal_(self.conv.weight, generator=torch.Generator().manual_seed(0))
        self.conv.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        codes = self.conv(images - images.mean(dim=(2, 3), keepdim=True))
        return torch.nn.functional.normalize(codes, dim=1)


@pytest.fixture(scope="module")
def shifted_pair(tmp_path_factory):
    """B is A moved SHIFT pixels right; queries inside both, targets known."""
    root = tmp_path_factory.mktemp("cycles")
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)  # every patch its own
    Image.fromarray(texture[:, SHIFT:SHIFT + 128]).save(root / "a.png")
    Image.fromarray(texture[:, :128]).save(root / "b.png")
    Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(root / "other.png")
    xs, ys = np.meshgrid(np.arange(24, 100, 8), np.arange(20, 80, 8))
    queries = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    return root, queries


def pair(image_b: str, queries: np.ndarray) -> Pair:
    return Pair("a.png", image_b, queries, queries + [SHIFT, 0], np.ones(len(queries), bool))


def test_a_matching_model_closes_its_cycles_through_right_matches(shifted_pair):
    root, queries = shifted_pair
    result = cycle_check(DescriptorModel.of(PatchCode()), [pair("b.png", queries)], root)
    assert result["queries"] == len(queries)
    assert result["forward_right"] > 0.8 and result["kept_forward_right"] > 0.9
    assert result["kept_closed_through_right_match"] > 0.9
    assert result["kept_closed_through_wrong_match"] == 0.0


def test_cycles_close_through_wrong_matches_when_b_lacks_the_point(shifted_pair):
    """Same network, but B shows another scene: no forward match is right, and still half the
    kept cycles close (measured 0.54): a closed cycle alone does not say CCL has signal."""
    root, queries = shifted_pair
    result = cycle_check(DescriptorModel.of(PatchCode()), [pair("other.png", queries)], root)
    assert result["forward_right"] < 0.1 and result["kept_closed_through_right_match"] < 0.1
    assert result["kept_closed_through_wrong_match"] > 0.3


def test_cycle_check_needs_ground_truth(shifted_pair):
    root, queries = shifted_pair
    with pytest.raises(ValueError, match="no ground truth"):
        cycle_check(DescriptorModel.of(PatchCode()), [Pair("a.png", "b.png", queries)], root)


def test_ddr_evaluate_writes_the_cycle_check(tmp_path, run_ddr, capsys):
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))
    root = tmp_path / "pairs"
    assert run_ddr("pairs", "synthetic", "--images", _photos(tmp_path), "--out", root,
                   "--pairs-per-image", 1, "--queries", 10, "--size", "40x56", "--seed", 1) == 0
    out = tmp_path / "eval"
    assert run_ddr("evaluate", "--model", checkpoint, "--pairs", root / "pairs.json", "--images", root,
                   "--out", out, "--cycles") == 0
    result = json.loads((out / "cycles.json").read_text())
    assert result["queries"] > 0 and 0.0 <= result["kept_closed_through_right_match"] <= 1.0
    assert "cycles: A->B right" in capsys.readouterr().out
    assert run_ddr("evaluate", "--model", "xfeat", "--pairs", root / "pairs.json", "--images", root,
                   "--out", tmp_path / "x", "--cycles") != 0


def _photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(getattr(skimage.data, name)()).resize((80, 60)).save(folder / f"{name}.png")
    return folder
