"""What ``--model`` names for matching: a trained checkpoint, or the pretrained XFeat baseline."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from dense_descriptor_ros.evaluation.xfeat_baseline import XFeatDescriptor
from dense_descriptor_ros.model import load_checkpoint
from dense_descriptor_ros.model.checkpoint import file_hash
from dense_descriptor_ros.model.descriptor_model import DescriptorModel, model_eta
from dense_descriptor_ros.model.rotations import check_rotations

XFEAT_SPEC = "xfeat"


def load_matcher(spec: str | Path, device: torch.device | str, rotations: int | None = None,
                 precision: str = "fp32") -> DescriptorModel:
    """The model ``spec`` names, on ``device`` at ``precision``, as it is evaluated.

    ``"xfeat"`` is the pretrained XFeat baseline (needs requirements/xfeat.txt); anything else
    is the path of a checkpoint written by ``ddr train``. ``rotations`` overrides a checkpoint's
    test-time rotation ensemble (``model.rotations``) to compare with and without it.
    """
    if str(spec) == XFEAT_SPEC:
        if rotations is not None:
            raise ValueError("--rotations applies to trained checkpoints, not to the XFeat baseline")
        network = XFeatDescriptor().to(device).eval()
        return DescriptorModel.of(network, "xfeat", precision=precision, metadata=dict(network.metadata))
    network, metadata = load_checkpoint(spec, device)
    if rotations is not None:
        network.config = dataclasses.replace(network.config, rotations=check_rotations(rotations))
    return DescriptorModel.of(network, file_hash(spec), model_eta(metadata), precision, metadata)
