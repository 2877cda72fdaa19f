"""The CPU inference fast paths (channels_last, bf16 autocast) against the fp32 reference.

Issue 6 asks descriptor cosine >= 0.999 and identical argmax for >= 99% of the queries of the
evaluation pairs. Measured here on a tiny random-initialised model (test/helpers.tiny_model)
and synthetic homography pairs of scikit-image photos at 96x128:

* channels_last fp32: max abs difference ~1e-6, argmax identical for every query;
* bf16 + channels_last: per-pixel cosine mean 0.99995, min 0.9998 (meets >= 0.999); argmax
  identical for only ~81% of the queries at full resolution, ~96% within 8 px (one stride
  cell). An untrained network's descriptors are nearly tied between neighbouring pixels, so
  bf16 rounding flips many argmaxes by a few pixels; the 99% target is for trained models and
  cannot be shown with random weights. The assertions below are what holds here, with margin.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_model
from PIL import Image
from skimage import data

from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.evaluation.predict import predict_pairs
from dense_descriptor_ros.evaluation.synthetic_pairs import make_homography_pairs
from dense_descriptor_ros.model import DescriptorModel, autocast_context
from dense_descriptor_ros.model import inference
from dense_descriptor_ros.model.inference import fast_precision, prepare_for_inference

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("fast_paths")
    sources = []
    for name in PHOTOS:
        path = root / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        sources.append(path)
    pairs_json = make_homography_pairs(sources, root / "pairs", pairs_per_image=2, queries_per_pair=50,
                                       size=(96, 128), seed=0)
    return load_pairs(pairs_json), root / "pairs"


def photo_batch() -> torch.Tensor:
    """Two 96x128 photos as ``(2, 3, 96, 128)`` in [0, 1]."""
    images = [np.array(Image.fromarray(getattr(data, name)()).resize((128, 96))) for name in PHOTOS[:2]]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


def fast_forward(model: torch.nn.Module, images: torch.Tensor, precision: str,
                 compile_mode: str | None = None) -> torch.Tensor:
    model = prepare_for_inference(model, "cpu", compile_mode)
    with torch.inference_mode(), autocast_context("cpu", precision):
        return model(images.contiguous(memory_format=torch.channels_last))


def predictions(model: torch.nn.Module, pairs, images, precision: str) -> np.ndarray:
    predicted = predict_pairs(DescriptorModel.of(model, precision=precision), pairs, images, progress=False)
    return np.concatenate([np.asarray(pair.predictions) for pair in predicted])


def test_channels_last_fp32_equals_reference(pairs):
    model = tiny_model(seed=0).eval()
    images = photo_batch()
    with torch.no_grad():
        reference = model(images)
    fast = fast_forward(model, images, "fp32")
    assert (fast - reference).abs().max().item() <= 1e-5
    pair_list, root = pairs
    reference_xy = predictions(tiny_model(seed=0).eval(), pair_list, root, "fp32")
    fast_xy = predictions(tiny_model(seed=0).eval().to(memory_format=torch.channels_last), pair_list, root, "fp32")
    assert np.mean(np.abs(reference_xy - fast_xy).max(axis=1) == 0) >= 0.99


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="bf16 autocast on CPU needs oneDNN")
def test_bf16_channels_last_descriptor_cosine(pairs):
    model = tiny_model(seed=1).eval()
    images = photo_batch()
    with torch.no_grad():
        reference = model(images)
    fast = fast_forward(model, images, "bf16")
    assert fast.dtype == torch.float32 and fast.shape == reference.shape
    cosine = F.cosine_similarity(fast, reference, dim=1)
    assert cosine.mean().item() >= 0.9999
    assert cosine.min().item() >= 0.999  # the bound holds at every pixel
    assert not torch.equal(fast, reference)  # bf16 really ran


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="bf16 autocast on CPU needs oneDNN")
def test_bf16_argmax_on_evaluation_pairs(pairs):
    pair_list, root = pairs
    reference_xy = predictions(tiny_model(seed=2).eval(), pair_list, root, "fp32")
    fast_xy = predictions(tiny_model(seed=2).eval().to(memory_format=torch.channels_last), pair_list, root, "bf16")
    shift = np.linalg.norm(reference_xy - fast_xy, axis=1)
    assert len(shift) == 400
    assert np.mean(shift == 0) >= 0.75  # measured 0.81 (random weights: near ties, see module doc)
    assert np.mean(shift <= 8.0) >= 0.93  # measured 0.97: flips stay within one stride-8 cell


def test_compiled_fast_path_matches_eager():
    images = photo_batch()
    with torch.no_grad():
        reference = tiny_model(seed=3).eval()(images)
    fast = fast_forward(tiny_model(seed=3), images, "fp32", compile_mode="default")
    cosine = F.cosine_similarity(fast, reference, dim=1)
    assert cosine.min().item() >= 0.999
    # every cell of photo 0 finds the same nearest cell in photo 1 (the hard match the grasps use)
    def nearest(d: torch.Tensor) -> torch.Tensor:
        return (d[0].flatten(1).T @ d[1].flatten(1)).argmax(dim=1)
    assert (nearest(fast) == nearest(reference)).float().mean().item() >= 0.99
    with pytest.raises(ValueError, match="compile_mode"):
        prepare_for_inference(tiny_model(), "cpu", "fastest")


def test_half_precision_is_only_used_where_the_hardware_runs_it(monkeypatch):
    assert fast_precision("cuda", half=True) == "fp16"
    assert fast_precision("cpu", half=False) == "fp32"
    monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda: True)
    assert fast_precision("cpu", half=True) == "bf16"
    monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda: False)
    assert fast_precision("cpu", half=True) == "fp32"  # emulated bf16 is 4x slower than fp32 here
