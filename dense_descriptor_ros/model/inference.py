"""The inference fast path: eval mode, channels_last, an optional ``torch.compile``, and only a
reduced precision the device computes in hardware.

Measured on a 2-core AVX-512 CPU without bf16 hardware (docs/benchmarks/): channels_last is
1.14x faster than the default layout at 320x240, compiling (inductor, constants frozen) about 7%
more end to end, and bf16 autocast 4x *slower* because oneDNN emulates it. So "half precision" means fp16 on
CUDA, bf16 on CPUs with AVX512-BF16 or AMX, and fp32 everywhere else.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 in hardware (AVX512-BF16 or AMX); otherwise oneDNN emulates it."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fast_precision(device: torch.device | str, half: bool) -> str:
    """The precision to run at when half precision is wanted: fp16 on CUDA, bf16 on a CPU that
    has it in hardware, else fp32 (with a log line saying why)."""
    if not half:
        return "fp32"
    if torch.device(device).type == "cuda":
        return "fp16"
    if cpu_has_native_bf16():
        return "bf16"
    log.info("half precision requested, but this CPU emulates bf16 (no AVX512-BF16 / AMX), "
             "which is slower than fp32: running fp32")
    return "fp32"


def prepare_for_inference(model: nn.Module, device: torch.device | str,
                          compile_mode: str | None = None, channels_last: bool = True) -> nn.Module:
    """``model`` in eval mode on ``device`` in channels_last, compiled when ``compile_mode`` is set.

    Inputs should be channels_last too (``x.contiguous(memory_format=torch.channels_last)``);
    ``channels_last=False`` keeps the default layout (what the benchmarks compare against).
    ``compile_mode="default"`` freezes the weights into the compiled graph (inference only);
    ``"reduce-overhead"`` captures CUDA graphs on a GPU. Compiling costs seconds on the first
    call and again for every new input size.
    """
    if compile_mode is not None and compile_mode not in COMPILE_MODES:
        raise ValueError(f"compile_mode must be one of {COMPILE_MODES} or None, got {compile_mode!r}")
    model = model.to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile_mode == "default":
        return torch.compile(model, options={"freezing": True})
    if compile_mode is not None:
        return torch.compile(model, mode=compile_mode)
    return model


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[Any]:
    """Run ``model`` in eval mode and give back its previous mode, so validation inside a
    training loop leaves the model training (a plain callable, e.g. an ONNX session, as it is)."""
    if not isinstance(model, nn.Module):
        yield model
        return
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
