"""Checkpoints that carry their own metadata and load with ``weights_only=True``.

Layout: ``{"format": FORMAT, "version": 1, "metadata": {...}, "state_dict": {...}}``.
``metadata["model"]`` rebuilds the network; the rest records how it was made (training
method and config, git revision, time) so a model file explains itself.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import torch

from dense_descriptor_ros.data.documents import DocumentError, check_header
from dense_descriptor_ros.model.descriptor_net import DescriptorNet, ModelConfig

FORMAT = "dense_descriptor_ros/checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, corrupt or does not fit the network."""


def git_revision() -> str:
    """The repository's HEAD (with ``-dirty``), or ``unknown`` outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def save_checkpoint(path: str | Path, model: DescriptorNet, *, half: bool = False,
                    **metadata: Any) -> Path:
    """Write ``model`` and its metadata atomically (temp file + rename).

    ``half=True`` stores floating-point tensors as fp16 (half the size; loads back as fp32).
    Extra keyword arguments (method, training config, metrics, ...) go into the metadata and
    must be plain Python values (dict, list, str, int, float, bool, None).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    meta = {
        "model": model.config.to_dict(),
        "stride": 8,
        "git_revision": git_revision(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "stored_dtype": "float16" if half else "float32",
        **metadata,
    }
    return _save_atomically({"format": FORMAT, "version": VERSION, "metadata": meta, "state_dict": state}, path)


def update_metadata(path: str | Path, **metadata: Any) -> Path:
    """Add or replace metadata entries of a checkpoint file in place (atomically); the weights
    are left exactly as stored."""
    path = Path(path)
    raw = read_checkpoint(path)
    raw["metadata"].update(metadata)
    return _save_atomically(raw, path)


def _save_atomically(blob: dict, path: Path) -> Path:
    """A reader never sees a half-written checkpoint: write a temp file, then rename it."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate the raw checkpoint dict, with clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # raised both for garbage bytes and for pickles holding code, which weights_only refuses
        raise CheckpointError(f"checkpoint {path} is corrupt or holds more than tensors and plain data "
                              "(torch.load with weights_only=True refused it)") from exc
    except Exception as exc:  # damaged bytes reach torch.load's parsers as IndexError, KeyError, ...
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file "
                              f"({type(exc).__name__}: {exc})") from exc
    try:
        blob = check_header(blob, f"checkpoint {path}", FORMAT, VERSION)
    except DocumentError as exc:
        raise CheckpointError(str(exc)) from exc
    if (not isinstance(blob.get("state_dict"), dict) or not isinstance(blob.get("metadata"), dict)
            or "model" not in blob["metadata"]):
        raise CheckpointError(f"checkpoint {path} lacks its weights or its model metadata: damaged, or not "
                              "written by ddr train")
    return blob


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[DescriptorNet, dict]:
    """Rebuild the network from a checkpoint; returns ``(model in eval mode, metadata)``."""
    blob = read_checkpoint(path)
    metadata = blob["metadata"]
    try:
        config = ModelConfig.from_dict(metadata["model"])
        model = DescriptorNet(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has unusable model metadata: {exc}") from exc
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit {config.backbone} "
                              f"(D={config.descriptor_dim}, width={config.width}): {exc}") from exc
    return model.to(device).eval(), metadata


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file: identifies the model that made stored descriptors."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
