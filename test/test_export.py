"""Exported models (TorchScript, ONNX) give the checkpoint's descriptors and load back.

Tolerance: an export runs the same fp32 operations, so per-value differences stay below
1e-4 (measured ~1e-6 for ONNX Runtime, 0 for TorchScript) and per-pixel cosine above 0.9999.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json

import pytest
import torch

from dense_descriptor_ros.cli import export as export_cli
from dense_descriptor_ros.model.export import (ExportError, export_model, load_exported, metadata_path,
                                         read_export_metadata)
from dense_descriptor_ros.model import autocast_context, load_checkpoint, save_checkpoint
from dense_descriptor_ros.model.checkpoint import CheckpointError, file_hash
from helpers import tiny_model

MAX_ABS_DIFF = 1e-4
MIN_COSINE = 0.9999
ONNX_MISSING = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("export") / "tiny.pt"
    return save_checkpoint(path, tiny_model(seed=3), method="identical-view")


def reference(checkpoint, images: torch.Tensor) -> torch.Tensor:
    model, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        return model(images)


def assert_same_descriptors(exported: torch.Tensor, expected: torch.Tensor) -> None:
    assert exported.shape == expected.shape
    assert (exported - expected).abs().max().item() <= MAX_ABS_DIFF
    assert torch.nn.functional.cosine_similarity(exported, expected, dim=1).min().item() >= MIN_COSINE


def test_torchscript_matches_checkpoint_at_other_sizes(checkpoint, tmp_path):
    out = export_model(checkpoint, tmp_path / "model.ts", "torchscript", example_size=(48, 64))
    model, metadata = load_exported(out)
    # traced at 48x64, run at another size and batch: nothing size-dependent is baked in
    images = torch.rand(2, 3, 40, 72, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        descriptors = model(images)
    assert descriptors.shape == (2, 16, 5, 9)
    assert_same_descriptors(descriptors, reference(checkpoint, images))
    assert metadata["model_format"] == "torchscript"
    assert metadata["descriptor_dim"] == model.descriptor_dim == 16
    assert metadata["model"]["width"] == 8 and metadata["stride"] == 8
    assert metadata["source_sha256"] == file_hash(checkpoint)
    assert metadata["checkpoint_metadata"]["method"] == "identical-view"
    assert metadata["example_size"] == [48, 64]


@pytest.mark.parametrize("format", ["torchscript", pytest.param("onnx", marks=[
    pytest.mark.slow, pytest.mark.skipif(bool(ONNX_MISSING), reason=f"ONNX needs {ONNX_MISSING}")])])
def test_a_rotation_ensemble_runs_around_the_export_at_any_size(tmp_path, format):
    model = tiny_model(seed=4)
    model.config = dataclasses.replace(model.config, rotations=4)
    checkpoint = save_checkpoint(tmp_path / "four.pt", model)
    exported, metadata = load_exported(export_model(checkpoint, tmp_path / "model", format, (48, 64)))
    assert metadata["model"]["rotations"] == 4 and exported.rotations == 4
    for shape in [(1, 3, 48, 64), (2, 3, 37, 50)]:
        images = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
        with torch.no_grad():
            assert_same_descriptors(exported(images), reference(checkpoint, images))


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="bf16 autocast on CPU needs oneDNN")
def test_torchscript_runs_under_the_nodes_bf16_autocast(checkpoint, tmp_path):
    model, _ = load_exported(export_model(checkpoint, tmp_path / "model.ts", "torchscript", (48, 64)))
    images = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), autocast_context("cpu", "bf16"):
        descriptors = model(images)
    cosine = torch.nn.functional.cosine_similarity(descriptors, reference(checkpoint, images), dim=1)
    assert descriptors.dtype == torch.float32
    assert cosine.min().item() >= 0.999  # measured 0.99995: bf16 rounding only


def test_loaded_torchscript_rejects_bad_images(checkpoint, tmp_path):
    model, _ = load_exported(export_model(checkpoint, tmp_path / "model.ts", "torchscript", (32, 32)))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(3, 32, 32))


@pytest.mark.slow
@pytest.mark.skipif(bool(ONNX_MISSING), reason=f"ONNX export/check needs {ONNX_MISSING} "
                                                "(pip install -r requirements/export.txt)")
def test_onnx_matches_checkpoint_with_dynamic_shapes(checkpoint, tmp_path):
    out = export_model(checkpoint, tmp_path / "model.onnx", "onnx", example_size=(48, 64))
    model, metadata = load_exported(out)
    assert metadata["model_format"] == "onnx"
    for shape in [(1, 3, 48, 64), (3, 3, 57, 83)]:
        images = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
        assert_same_descriptors(model(images), reference(checkpoint, images))


def test_bad_format_is_refused_and_writes_nothing(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'tensorrt'; choose one of torchscript, onnx"):
        export_model(checkpoint, tmp_path / "model.trt", "tensorrt")
    with pytest.raises(ValueError, match="example_size"):
        export_model(checkpoint, tmp_path / "model.ts", "torchscript", example_size=(8, 64))
    assert list(tmp_path.iterdir()) == []


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        export_model(tmp_path / "absent.pt", tmp_path / "model.ts")
    assert not (tmp_path / "model.ts").exists()


def test_load_exported_refuses_foreign_or_incomplete_exports(checkpoint, tmp_path):
    with pytest.raises(ExportError, match="not found"):
        load_exported(tmp_path / "absent.ts")
    out = export_model(checkpoint, tmp_path / "model.ts", "torchscript", (32, 32))
    meta = metadata_path(out)
    saved = meta.read_text()
    meta.unlink()
    with pytest.raises(ExportError, match="no metadata file"):
        load_exported(out)
    meta.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ExportError, match="ddr-exported-model"):
        read_export_metadata(out)
    meta.write_text(saved)
    out.write_bytes(b"not a torchscript archive")
    with pytest.raises(ExportError, match="not a loadable TorchScript"):
        load_exported(out)


def test_cli_writes_a_loadable_export(checkpoint, tmp_path):
    parser = argparse.ArgumentParser(prog="ddr")
    export_cli.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli" / "model.ts"
    args = parser.parse_args(["export", "--model", str(checkpoint), "--format", "torchscript",
                              "--out", str(out), "--size", "40x56"])
    assert args.func(args) == 0
    model, metadata = load_exported(out)
    assert metadata["example_size"] == [40, 56]
    images = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert_same_descriptors(model(images), reference(checkpoint, images))
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "--model", str(checkpoint), "--format", "tflite", "--out", str(out)])
