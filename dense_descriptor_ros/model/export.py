"""Export a checkpoint to TorchScript or ONNX, and load an export back as a descriptor model.

An export is two files: the model (``model.ts`` / ``model.onnx``) and its metadata next to it
(``model.ts.json``): the checkpoint's model config, stride, the source checkpoint's hash (so
keypoint databases can tell which model made their descriptors) and the export settings.

Both formats take ``(B, 3, H, W)`` float32 RGB in [0, 1] and return ``(B, D, ceil(H/8),
ceil(W/8))`` unit descriptors, like :class:`DescriptorNet` without ``upsample``. TorchScript is
traced at ``example_size`` but its graph has no size baked in (convolutions and the final
normalisation only), so it runs at any size; ONNX is exported with dynamic batch, height and
width. Precision: fp32; mixed precision stays the runtime's job (autocast, TensorRT).
A checkpoint with a test-time rotation ensemble (``model.rotations``) is exported as its plain
pass; :func:`load_exported` runs the ensemble around it, so the export keeps no size baked in.
"""
from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dense_descriptor_ros.data.documents import DocumentError, read_document
from dense_descriptor_ros.model.checkpoint import file_hash, load_checkpoint
from dense_descriptor_ros.model.rotations import rotation_ensemble

FORMATS = ("torchscript", "onnx")
METADATA_FORMAT = "ddr-exported-model"
METADATA_VERSION = 1
ONNX_OPSET = 18


class ExportError(RuntimeError):
    """An export that cannot be written or an exported model that cannot be loaded."""


def metadata_path(model_path: str | Path) -> Path:
    """Where an exported model's metadata lives: ``<model file>.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    return format


def _check_size(example_size: tuple[int, int]) -> tuple[int, int]:
    size = tuple(int(v) for v in example_size)
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"example_size must be (height, width) with both >= 16 pixels, got {example_size}")
    return size  # type: ignore[return-value]


def _trace_torchscript(model: nn.Module, example: Tensor, tmp: Path) -> None:
    # the tracer warns about DescriptorNet's Python-side input checks (shape tests, the
    # ``upsample`` flag): they fix nothing about sizes in the graph, and the test runs other sizes
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example, check_trace=True)
    traced.save(str(tmp))


def _export_onnx(model: nn.Module, example: Tensor, tmp: Path) -> None:
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it; fail with a clear message first)
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"ONNX export needs the onnx and onnxscript packages ({exc}); "
                          f"install them with: pip install -r requirements/export.txt") from exc
    batch = torch.export.Dim("batch", min=1, max=1024)
    height = torch.export.Dim("height", min=16, max=8192)
    width = torch.export.Dim("width", min=16, max=8192)
    torch.onnx.export(model, (example,), str(tmp), input_names=["images"], output_names=["descriptors"],
                      dynamo=True, dynamic_shapes={"images": {0: batch, 2: height, 3: width}},
                      opset_version=ONNX_OPSET, external_data=False, verbose=False)


def export_model(checkpoint: str | Path, out_path: str | Path, format: str = "torchscript",
                 example_size: tuple[int, int] = (240, 320)) -> Path:
    """Write ``checkpoint``'s network as ``format`` to ``out_path`` (+ metadata JSON); returns ``out_path``.

    ``example_size = (H, W)`` is the size traced and checked at. Files are written to temporary
    names and renamed, so a failed export leaves no half-written model behind.
    """
    format = _check_format(format)
    example_size = _check_size(example_size)
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    model, checkpoint_meta = load_checkpoint(checkpoint, "cpu")
    model.config = dataclasses.replace(model.config, rotations=1)  # load_exported runs the ensemble
    example = torch.rand(1, 3, *example_size, generator=torch.Generator().manual_seed(0))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
    tmp_meta = metadata_path(tmp)
    try:
        if format == "torchscript":
            _trace_torchscript(model, example, tmp)
        else:
            _export_onnx(model, example, tmp)
        metadata = {
            "format": METADATA_FORMAT, "version": METADATA_VERSION, "model_format": format,
            "model": checkpoint_meta["model"], "stride": checkpoint_meta.get("stride", 8),
            "descriptor_dim": model.descriptor_dim, "example_size": list(example_size),
            "input": "images (B, 3, H, W) float32 RGB in [0, 1]",
            "output": "descriptors (B, D, ceil(H/8), ceil(W/8)) float32, unit length",
            "source_checkpoint": str(checkpoint), "source_sha256": file_hash(checkpoint),
            "checkpoint_metadata": checkpoint_meta, "torch_version": torch.__version__,
        }
        tmp_meta.write_text(json.dumps(metadata, indent=2) + "\n")
        os.replace(tmp, out_path)
        os.replace(tmp_meta, metadata_path(out_path))
    finally:
        tmp.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)
    return out_path


def read_export_metadata(path: str | Path) -> dict:
    """The metadata of an exported model, with clear errors for a missing or foreign file."""
    meta_file = metadata_path(path)
    if not Path(path).is_file():
        raise ExportError(f"exported model not found: {path}")
    if not meta_file.is_file():
        raise ExportError(f"{path} has no metadata file {meta_file}; export it with ddr export")
    try:
        metadata = read_document(meta_file, METADATA_FORMAT, METADATA_VERSION)
    except DocumentError as exc:
        raise ExportError(f"export metadata: {exc}") from exc
    if metadata.get("model_format") not in FORMATS:
        raise ExportError(f"{meta_file} names unknown model format {metadata.get('model_format')!r}")
    return metadata


def _check_images(images: Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")


def _rotations(metadata: dict) -> tuple[int, int]:
    """The source model's test-time rotation ensemble and its stride (1 turn: the plain pass)."""
    return int(metadata["model"].get("rotations", 1)), int(metadata.get("stride", 8))


class TorchScriptDescriptors(nn.Module):
    """A loaded TorchScript export with :class:`DescriptorNet`'s call: ``(B, 3, H, W) -> (B, D, h, w)``."""

    def __init__(self, scripted: torch.jit.ScriptModule, metadata: dict) -> None:
        super().__init__()
        self.scripted = scripted
        self.descriptor_dim = int(metadata["descriptor_dim"])
        self.rotations, self.stride = _rotations(metadata)

    def forward(self, images: Tensor) -> Tensor:
        _check_images(images)
        return rotation_ensemble(self.scripted, images.float(), self.rotations, self.stride)


class OnnxDescriptors:
    """A loaded ONNX export run by onnxruntime, called like :class:`DescriptorNet`.

    Takes and returns torch tensors (on the CPU: onnxruntime copies through host memory).
    """

    def __init__(self, path: Path, metadata: dict, providers: list[str] | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise ExportError(f"running an ONNX export needs onnxruntime ({exc}); "
                              f"install it with: pip install -r requirements/export.txt") from exc
        available = onnxruntime.get_available_providers()
        self.session = onnxruntime.InferenceSession(str(path), providers=providers or available)
        self.descriptor_dim = int(metadata["descriptor_dim"])
        self.rotations, self.stride = _rotations(metadata)

    def __call__(self, images: Tensor) -> Tensor:
        _check_images(images)
        return rotation_ensemble(self._run, images.detach().float().cpu(), self.rotations, self.stride)

    def _run(self, images: Tensor) -> Tensor:
        (descriptors,) = self.session.run(["descriptors"], {"images": images.contiguous().numpy()})
        return torch.from_numpy(np.ascontiguousarray(descriptors))


def load_exported(path: str | Path, device: torch.device | str = "cpu") -> tuple[Any, dict]:
    """Load an export: ``(callable images (B, 3, H, W) -> descriptors (B, D, h, w), metadata)``.

    TorchScript loads onto ``device``; ONNX runs in onnxruntime with its available providers.
    """
    metadata = read_export_metadata(path)
    if metadata["model_format"] == "torchscript":
        try:
            scripted = torch.jit.load(str(path), map_location=torch.device(device))
        except RuntimeError as exc:
            raise ExportError(f"{path} is not a loadable TorchScript file: {exc}") from exc
        return TorchScriptDescriptors(scripted, metadata).eval(), metadata
    try:
        return OnnxDescriptors(Path(path), metadata), metadata
    except ExportError:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ExportError(f"{path} is not a loadable ONNX file: {exc}") from exc
