"""What ``--model`` names for matching: a trained checkpoint, or the pretrained XFeat baseline."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from dense_descriptor_ros.evaluation.xfeat_baseline import XFeatDescriptor
from dense_descriptor_ros.model import load_checkpoint

XFEAT_SPEC = "xfeat"


def load_matcher(spec: str | Path, device: torch.device | str,
                 rotations: int | None = None) -> tuple[nn.Module, dict]:
    """``(descriptor model on device in eval mode, its metadata)`` for ``spec``.

    ``"xfeat"`` is the pretrained XFeat baseline (needs requirements/xfeat.txt); anything else
    is the path of a checkpoint written by ``ddr train``. ``rotations`` overrides a checkpoint's
    test-time rotation ensemble (``model.rotations``) to compare with and without it.
    """
    if str(spec) == XFEAT_SPEC:
        if rotations is not None:
            raise ValueError("--rotations applies to trained checkpoints, not to the XFeat baseline")
        model = XFeatDescriptor()
        return model.to(device).eval(), dict(model.metadata)
    model, metadata = load_checkpoint(spec, device)
    if rotations is not None:
        model.config = dataclasses.replace(model.config, rotations=rotations)
    return model, metadata
