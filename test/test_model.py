"""Descriptor network shapes, normalisation, precision, and checkpoints that explain themselves."""
import pytest
import torch

from dense_descriptor_ros.model import (CheckpointError, DescriptorNet, ModelConfig, autocast_context,
                                        load_checkpoint, save_checkpoint)
from helpers import tiny_model


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50"])
def test_backbones_have_output_stride_8_and_unit_descriptors(backbone):
    model = DescriptorNet(ModelConfig(backbone=backbone, descriptor_dim=16, width=8)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 88))
        full = model(torch.rand(1, 3, 61, 83), upsample=True)
    assert out.shape == (2, 16, 8, 11)
    assert torch.allclose(out.norm(dim=1), torch.ones(2, 8, 11), atol=1e-5)
    assert full.shape == (1, 16, 61, 83)
    assert torch.allclose(full.norm(dim=1), torch.ones(1, 61, 83), atol=1e-5)


def test_standard_resnet18_matches_torchvision_parameter_count():
    model = DescriptorNet(ModelConfig("resnet18", descriptor_dim=64))
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert backbone == 11_176_512  # torchvision resnet18 without fc (11,689,512 - 513,000)


def test_normalisation_happens_inside_the_model():
    model = tiny_model().eval()
    assert model.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 4, 32, 32))


def test_bf16_autocast_stays_close_to_fp32():
    model = tiny_model().eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        with autocast_context("cpu", "bf16"):
            fast = model(x)
    assert fast.dtype == torch.float32
    assert (ref * fast).sum(dim=1).mean().item() > 0.98
    with pytest.raises(ValueError, match="fp16 autocast needs CUDA"):
        with autocast_context("cpu", "fp16"):
            pass


def test_checkpoint_round_trip_carries_metadata(tmp_path):
    model = tiny_model(seed=3).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, method="ccl", training_config={"lr": 3e-5})
    loaded, meta = load_checkpoint(path)
    assert meta["model"]["backbone"] == "resnet18" and meta["model"]["descriptor_dim"] == 16
    assert meta["method"] == "ccl" and meta["training_config"]["lr"] == 3e-5
    assert meta["model"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert "git_revision" in meta and "created" in meta
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)
    # The file loads with the safe loader alone.
    blob = torch.load(path, weights_only=True)
    assert blob["format"] == "dense_descriptor_ros/checkpoint"


def test_half_checkpoint_is_smaller_and_close(tmp_path):
    model = tiny_model(seed=4).eval()
    full = save_checkpoint(tmp_path / "f.pt", model)
    half = save_checkpoint(tmp_path / "h.pt", model, half=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    loaded, meta = load_checkpoint(half)
    assert meta["stored_dtype"] == "float16"
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        cos = (model(x) * loaded(x)).sum(dim=1)
    assert cos.min().item() > 0.999


def test_corrupt_missing_and_foreign_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    good = save_checkpoint(tmp_path / "good.pt", tiny_model())
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="expected format"):
        load_checkpoint(foreign)


def test_mismatched_checkpoint_names_the_problem(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model())
    blob = torch.load(path, weights_only=True)
    blob["metadata"]["model"]["descriptor_dim"] = 32  # metadata no longer fits the weights
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match="does not fit resnet18"):
        load_checkpoint(path)


def test_missing_imagenet_weights_are_not_an_error(tmp_path, monkeypatch):
    """Nothing in torch hub's cache: random init; a file the user names must exist."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    model = DescriptorNet(ModelConfig("resnet18", 16, 64))
    assert model.load_imagenet_weights() is False
    with pytest.raises(FileNotFoundError, match="absent.pth does not exist"):
        model.load_imagenet_weights(tmp_path / "absent.pth")
    state = {f"{k}": v for k, v in model.backbone.state_dict().items()}
    torch.save(state, tmp_path / "resnet18.pth")
    other = DescriptorNet(ModelConfig("resnet18", 16, 64))
    assert other.load_imagenet_weights(tmp_path / "resnet18.pth") is True
    assert torch.equal(other.backbone.conv1.weight, model.backbone.conv1.weight)
