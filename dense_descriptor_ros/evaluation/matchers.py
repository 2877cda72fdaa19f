"""What ``--model`` names for matching: a trained checkpoint, or the pretrained XFeat baseline."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dense_descriptor_ros.evaluation.xfeat_baseline import XFeatDescriptor
from dense_descriptor_ros.model import load_checkpoint

XFEAT_SPEC = "xfeat"


def load_matcher(spec: str | Path, device: torch.device | str) -> tuple[nn.Module, dict]:
    """``(descriptor model on device in eval mode, its metadata)`` for ``spec``.

    ``"xfeat"`` is the pretrained XFeat baseline (needs requirements/xfeat.txt); anything else
    is the path of a checkpoint written by ``ddr train``.
    """
    if str(spec) == XFEAT_SPEC:
        model = XFeatDescriptor()
        return model.to(device).eval(), dict(model.metadata)
    return load_checkpoint(spec, device)
