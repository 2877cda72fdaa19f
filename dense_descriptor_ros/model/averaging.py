"""One model from several runs: the mean of their weights.

Runs fine-tuned from the same start (the same pretrained backbone, different seeds) stay in one
basin of the loss, and the mean of their weights often matches better than any one of them
(model soups, Wortsman et al., ICML 2022) at no cost when running. Runs from different starts do
not average into anything useful; only validation pairs can say whether an average helps.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from dense_descriptor_ros.model.checkpoint import file_hash, load_checkpoint, save_checkpoint


def average_checkpoints(paths: list[Path], out: Path) -> Path:
    """Write the weight mean of the checkpoints ``paths`` (two or more, one architecture) to
    ``out``; integer buffers (batch counts) are the first's. The heatmap eta is not carried over:
    calibrate the average (``ddr calibrate``)."""
    if len(paths) < 2:
        raise ValueError(f"averaging needs two checkpoints or more, got {len(paths)}")
    loaded = [load_checkpoint(path) for path in paths]
    first_model, first_meta = loaded[0]
    for path, (_, metadata) in zip(paths[1:], loaded[1:]):
        if metadata["model"] != first_meta["model"]:
            raise ValueError(f"{path} is another architecture than {paths[0]} ({json.dumps(metadata['model'])} "
                             f"against {json.dumps(first_meta['model'])}): only one model's runs average")
    states = [model.state_dict() for model, _ in loaded]
    mean = {name: torch.stack([state[name] for state in states]).mean(dim=0) if tensor.is_floating_point()
            else tensor for name, tensor in states[0].items()}
    first_model.load_state_dict(mean)
    sources = [{"path": str(path), "sha256": file_hash(path), "method": metadata.get("method", "?"),
                "epoch": metadata.get("epoch")} for path, (_, metadata) in zip(paths, loaded)]
    methods = sorted({source["method"] for source in sources})
    return save_checkpoint(out, first_model, method=f"weight average of {' + '.join(methods)}",
                           averaged_from=sources)
