"""Descriptor network f(I) -> D: RGB image to L2-normalised per-pixel descriptors."""
from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dense_descriptor_ros.model.backbone import LAYOUTS, DilatedResNet
from dense_descriptor_ros.model.pruning import check_layer4_inner, narrow_layer4
from dense_descriptor_ros.model.rotations import check_rotations, rotation_ensemble
from dense_descriptor_ros.model.xfeat_backbone import XFeatBackbone

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE = 8

# File names torchvision uses for its ImageNet weights (torch hub cache).
IMAGENET_WEIGHT_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
}

BACKBONES = (*LAYOUTS, "xfeat")


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network; stored in every checkpoint.

    ``rotations``: in eval mode, descriptors are averaged over this many turns of the image
    (1, 2 or 4; see ``model.rotations``); training always runs one pass. ``backbone`` is a
    dilated ResNet (``width`` scales it) or ``xfeat``, XFeat's pretrained trunk (``colour``
    adds colour to its grey input; see ``model.xfeat_backbone``). ``layer4_inner``: the
    channels between the two convolutions of each layer4 block (None: the stage's width; a
    narrower one is the CPU model, see ``model.pruning``).
    """

    backbone: str = "resnet18"
    descriptor_dim: int = 64
    width: int = 64
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    rotations: int = 1
    colour: bool = False
    layer4_inner: int | None = None

    def __post_init__(self) -> None:
        check_rotations(self.rotations)
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {BACKBONES}")
        if self.colour and self.backbone != "xfeat":
            raise ValueError(f"colour input is an option of the xfeat backbone, not of {self.backbone}")
        check_layer4_inner(self.backbone, self.layer4_inner, self.width * 8)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

def build_backbone(config: ModelConfig) -> nn.Module:
    if config.backbone == "xfeat":
        return XFeatBackbone(colour=config.colour)
    backbone = DilatedResNet(config.backbone, config.width)
    if config.layer4_inner is not None:
        narrow_layer4(backbone, config.layer4_inner)
    return backbone


class DescriptorNet(nn.Module):
    """Backbone (dilated ResNet or XFeat, stride 8) + 1x1 head, input normalisation inside.

    Input: ``(B, 3, H, W)`` RGB in [0, 1].
    Output: ``(B, D, ceil(H/8), ceil(W/8))`` unit-norm descriptors, or ``(B, D, H, W)`` with
    ``upsample=True`` (bilinear, re-normalised). In eval mode with ``config.rotations > 1`` they
    are the test-time rotation ensemble (``model/rotations.py``), which costs that many passes.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.backbone = build_backbone(self.config)
        self.head = nn.Conv2d(self.backbone.out_channels, self.config.descriptor_dim, 1)
        if getattr(self.backbone, "normalises_input", False) and \
                self.backbone.out_channels == self.config.descriptor_dim:
            with torch.no_grad():  # start as the pretrained descriptors themselves
                self.head.weight.copy_(torch.eye(self.config.descriptor_dim).view_as(self.head.weight))
                self.head.bias.zero_()
        self.register_buffer("mean", torch.tensor(self.config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.config.std).view(1, 3, 1, 1), persistent=False)

    @property
    def descriptor_dim(self) -> int:
        return self.config.descriptor_dim

    def forward(self, images: Tensor, upsample: bool = False) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        if self.training or self.config.rotations == 1:
            descriptors = self._describe(images)
        else:
            descriptors = rotation_ensemble(self._describe, images, self.config.rotations, STRIDE)
        if upsample:
            descriptors = F.interpolate(descriptors, size=images.shape[-2:], mode="bilinear",
                                        align_corners=False)
        return F.normalize(descriptors.float(), dim=1)

    def _describe(self, images: Tensor) -> Tensor:
        """One pass: raw (not yet normalised) descriptors on the stride-8 grid."""
        if not getattr(self.backbone, "normalises_input", False):
            images = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        return self.head(self.backbone(images))

    def load_imagenet_weights(self, path: str | Path | None = None) -> bool:
        """Start the ResNet backbone from torchvision-named ImageNet weights.

        ``path``: a weight file the user has; it must fit (a clear error otherwise). Without
        it, torch hub's cache is looked at, and a missing file only logs, since no weights can
        be downloaded on machines without network access. Returns whether weights were loaded.
        """
        if self.config.backbone not in IMAGENET_WEIGHT_FILES:
            raise ValueError(f"ImageNet weights fit the ResNet backbones, not {self.config.backbone}")
        candidate = Path(path) if path else (
            Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_WEIGHT_FILES[self.config.backbone])
        if not candidate.is_file():
            if path:
                raise FileNotFoundError(f"ImageNet weight file {candidate} does not exist")
            log.info("no ImageNet weights at %s; starting from random init", candidate)
            return False
        state = torch.load(candidate, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            self.backbone.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{candidate} does not fit a {self.config.backbone} of width "
                             f"{self.config.width}: {str(exc).splitlines()[0]}") from exc
        log.info("loaded ImageNet weights from %s", candidate)
        return True


PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}

@contextlib.contextmanager
def autocast_context(device: torch.device | str, precision: str = "fp32") -> Iterator[None]:
    """Mixed-precision context: fp16 on CUDA, bf16 on CPU or CUDA, no-op for fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    device_type = torch.device(device).type
    if dtype is None:
        yield
        return
    if device_type == "cpu" and dtype == torch.float16:
        raise ValueError("fp16 autocast needs CUDA; use bf16 on CPU")
    with torch.autocast(device_type=device_type, dtype=dtype):
        yield

def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
