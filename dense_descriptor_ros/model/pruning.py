"""A narrower layer4 for the CPU: where the standard ResNet-18 spends its time.

At 320x240 the dilated layer4 runs on the stride-8 grid and costs 20.1 of the network's 28.3
GFLOP (71%; layer3 5.0, everything before it 3.0). Inside each of its basic blocks the inner
width (conv1's outputs, which are conv2's inputs) is free to shrink: the residual path, the
stage's output and the head keep their shapes. Pruning keeps the conv1 filters of largest L1
norm (Li et al., "Pruning Filters for Efficient ConvNets"), then a short distillation from the
unpruned network (``training/distillation.py``) recovers the descriptors.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from dense_descriptor_ros.model.backbone import BasicBlock, DilatedResNet


def check_layer4_inner(backbone: str, inner: int | None, stage_width: int) -> None:
    """A clear error for a ``layer4_inner`` the network cannot have."""
    if inner is None:
        return
    if backbone not in ("resnet18", "resnet34"):
        raise ValueError(f"layer4_inner narrows basic blocks (resnet18, resnet34), not {backbone}")
    if not 1 <= inner <= stage_width:
        raise ValueError(f"layer4_inner must be in [1, {stage_width}] (layer4's width), got {inner}")


def narrow_layer4(backbone: DilatedResNet, inner: int) -> None:
    """Give every layer4 block ``inner`` channels between its two convolutions (new weights)."""
    for block in backbone.layer4:
        if not isinstance(block, BasicBlock):
            raise ValueError("layer4_inner narrows basic blocks only")
        first, second = block.conv1, block.conv2
        block.conv1 = nn.Conv2d(first.in_channels, inner, 3, first.stride, padding=first.padding,
                                dilation=first.dilation, bias=False)
        block.bn1 = nn.BatchNorm2d(inner)
        block.conv2 = nn.Conv2d(inner, second.out_channels, 3, 1, padding=second.padding,
                                dilation=second.dilation, bias=False)


def prune_layer4(model: nn.Module, inner: int) -> nn.Module:
    """A copy of ``model`` (a ResNet :class:`DescriptorNet`) whose layer4 blocks keep the ``inner``
    conv1 filters of largest L1 norm, with their bn1 channels and conv2 inputs; every other
    weight is copied unchanged."""
    from dense_descriptor_ros.model.descriptor_net import DescriptorNet  # it builds with this module

    if model.config.layer4_inner is not None:
        raise ValueError(f"the model's layer4 is already pruned to {model.config.layer4_inner} channels")
    pruned = DescriptorNet(dataclasses.replace(model.config, layer4_inner=inner))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for index in range(len(model.backbone.layer4)):
        prefix = f"backbone.layer4.{index}."
        filters = state[prefix + "conv1.weight"]
        keep = filters.abs().sum(dim=(1, 2, 3)).topk(inner).indices.sort().values
        state[prefix + "conv1.weight"] = filters[keep]
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[prefix + "bn1." + name] = state[prefix + "bn1." + name][keep]
        state[prefix + "conv2.weight"] = state[prefix + "conv2.weight"][:, keep]
    pruned.load_state_dict(state)
    return pruned.train(model.training)


def layer4_parameters(model: nn.Module) -> list[torch.nn.Parameter]:
    """The weights a layer4 distillation trains: layer4 and the head."""
    return [*model.backbone.layer4.parameters(), *model.head.parameters()]
