"""The test-time rotation ensemble: averaged over quarter turns, descriptors turn with the image."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from dense_descriptor_ros.model import DescriptorNet, ModelConfig, load_checkpoint, save_checkpoint
from dense_descriptor_ros.model.rotations import rotation_ensemble


def tiny_net(rotations: int) -> DescriptorNet:
    torch.manual_seed(0)
    return DescriptorNet(ModelConfig(width=8, descriptor_dim=16, rotations=rotations)).eval()


def test_four_turns_make_descriptors_turn_with_the_image():
    image = torch.rand(1, 3, 48, 64)
    turned = image.rot90(1, dims=(2, 3))
    for rotations, equivariant in ((1, False), (4, True)):
        with torch.no_grad():
            net = tiny_net(rotations)
            expected = net(image).rot90(1, dims=(2, 3))
            error = (net(turned) - expected).abs().max().item()
        assert (error < 1e-5) == equivariant, (rotations, error)


def test_the_ensemble_is_the_normalised_mean_of_the_turned_back_passes():
    net = tiny_net(2)
    image = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        passes = [F.normalize(net._describe(image.rot90(k, dims=(2, 3))), dim=1).rot90(-k, dims=(2, 3))
                  for k in (0, 2)]
        expected = F.normalize(passes[0] + passes[1], dim=1)
        assert torch.allclose(net(image), expected, atol=1e-6)
        single = F.normalize(net._describe(image), dim=1)
        assert not torch.allclose(net(image), single, atol=1e-3)
        net.train()  # training: one pass (batch-norm statistics of this batch)
        assert torch.allclose(net(image), F.normalize(net._describe(image), dim=1), atol=1e-6)


def test_odd_sizes_keep_the_single_pass_grid_and_full_resolution_shape():
    net = tiny_net(4)
    image = torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        assert net(image).shape == (1, 16, 5, 7)
        full = net(image, upsample=True)
    assert full.shape == (1, 16, 37, 50)
    assert torch.allclose(full.norm(dim=1), torch.ones(1, 37, 50), atol=1e-5)


def test_rotations_are_validated_and_travel_with_the_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="rotations must be one of"):
        ModelConfig(rotations=3)
    with pytest.raises(ValueError, match="rotations must be one of"):
        rotation_ensemble(lambda x: x, torch.rand(1, 3, 8, 8), 8, 8)
    path = save_checkpoint(tmp_path / "four.pt", tiny_net(4))
    model, meta = load_checkpoint(path)
    assert model.config.rotations == 4 and meta["model"]["rotations"] == 4
    older = dict(meta["model"])
    del older["rotations"]  # checkpoints written before the ensemble existed
    assert ModelConfig.from_dict(older) == dataclasses.replace(model.config, rotations=1)
