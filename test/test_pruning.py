"""The narrower layer4 of the CPU model: pruning, checkpoints, distillation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from dense_descriptor_ros.data.images import to_tensor
from dense_descriptor_ros.model import DescriptorNet, ModelConfig, load_checkpoint, save_checkpoint
from dense_descriptor_ros.model.pruning import layer4_parameters, prune_layer4
from dense_descriptor_ros.training.distillation import distillation_loss

REPO = Path(__file__).resolve().parents[1]
TINY = ModelConfig(width=8, descriptor_dim=16)


def photos(height: int = 64, width: int = 80) -> torch.Tensor:
    names = ("astronaut", "coffee", "chelsea", "rocket")
    return torch.stack([to_tensor(np.asarray(Image.fromarray(getattr(skimage.data, n)()).resize((width, height))))
                        for n in names])


def trained_like(config: ModelConfig) -> DescriptorNet:
    """A network with batch-norm statistics that are not the identity, as a trained one has."""
    torch.manual_seed(0)
    model = DescriptorNet(config)
    with torch.no_grad():
        model.train()(photos())
    return model.eval()


def test_pruning_to_the_full_width_changes_nothing():
    model = trained_like(TINY)
    same = prune_layer4(model, 64).eval()  # layer4 of width 8 is 64 wide
    with torch.no_grad():
        torch.testing.assert_close(same(photos()), model(photos()), atol=1e-6, rtol=0)


def test_pruning_keeps_the_strongest_filters_and_shrinks_only_layer4():
    model = trained_like(TINY)
    pruned = prune_layer4(model, 16)
    block = pruned.backbone.layer4[0]
    assert (block.conv1.out_channels, block.bn1.num_features, block.conv2.in_channels) == (16, 16, 16)
    assert block.conv2.out_channels == 64 and pruned.head.in_channels == 64
    norms = model.backbone.layer4[0].conv1.weight.abs().sum(dim=(1, 2, 3))
    kept = block.conv1.weight.abs().sum(dim=(1, 2, 3))
    torch.testing.assert_close(kept.sort().values, norms.topk(16).values.sort().values)
    for name, value in pruned.state_dict().items():
        if ".layer4." not in name:
            torch.testing.assert_close(value, model.state_dict()[name])
    full = sum(p.numel() for p in model.backbone.layer4.parameters())
    assert sum(p.numel() for p in pruned.backbone.layer4.parameters()) < 0.4 * full
    with pytest.raises(ValueError, match="already pruned"):
        prune_layer4(pruned, 8)


def test_a_pruned_checkpoint_loads_back_and_old_ones_still_do(tmp_path):
    pruned = prune_layer4(trained_like(TINY), 16)
    path = save_checkpoint(tmp_path / "pruned.pt", pruned, method="distilled")
    loaded, meta = load_checkpoint(path)
    assert meta["model"]["layer4_inner"] == 16 and loaded.config.layer4_inner == 16
    with torch.no_grad():
        torch.testing.assert_close(loaded(photos()), pruned(photos()))
    shipped, _ = load_checkpoint(REPO / "models" / "ddr_resnet18_sim.pt")  # written before the option
    assert shipped.config.layer4_inner is None


@pytest.mark.parametrize("config, message", [
    (dict(layer4_inner=0), "layer4_inner must be in"),
    (dict(layer4_inner=513), "layer4_inner must be in"),
    (dict(backbone="resnet50", layer4_inner=64), "basic blocks"),
    (dict(backbone="xfeat", layer4_inner=64), "basic blocks"),
])
def test_impossible_layer4_widths_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**config)


def test_distillation_brings_the_pruned_descriptors_back_to_the_teacher():
    teacher = trained_like(TINY)
    student = prune_layer4(teacher, 8).eval()
    optimizer = torch.optim.Adam(layer4_parameters(student), lr=3e-3)
    images = photos()
    torch.manual_seed(0)
    losses = []
    for _ in range(40):
        loss = distillation_loss(teacher, student, images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is None for p in student.backbone.layer3.parameters())  # the trunk is shared, not trained
