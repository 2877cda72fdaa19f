"""What every benchmark needs: correct timing, the device's measured matmul peak, FLOP counts
of a model, and one report format (a printed table plus JSON naming the machine).

Results are ratios to a limit measured in the same run (achieved FLOP/s over the matmul peak),
so a number taken on a loaded or different machine still says how close it is to the hardware.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from dense_descriptor_ros.cli.arguments import parse_size_list
from dense_descriptor_ros.model import autocast_context
from dense_descriptor_ros.model.inference import cpu_has_native_bf16

# precision name -> dtype of the matmul peak it is compared with
PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
               "fp64": torch.float64}


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels: without it CUDA timings measure only the launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """Wall-clock samples of one measured call, in milliseconds."""

    samples_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p90_ms(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]

    def to_dict(self) -> dict:
        return {"median_ms": self.median_ms, "p90_ms": self.p90_ms,
                "min_ms": min(self.samples_ms), "repeats": len(self.samples_ms)}


def time_call(fn: Callable[[], object], device: torch.device, warmup: int = 2,
              repeats: int = 10) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times, each synchronised."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return Timing(samples)


def precision_supported(device: torch.device, precision: str) -> bool:
    """bf16 needs a CPU or GPU that runs it natively; fp16 autocast needs CUDA."""
    if precision == "fp32":
        return True
    if precision == "fp16":
        return device.type == "cuda"
    if precision == "bf16":
        return torch.cuda.is_bf16_supported() if device.type == "cuda" else torch.backends.mkldnn.is_available()
    return False


def matmul_peak(device: torch.device, precision: str = "fp32", size: int | None = None,
                repeats: int = 10) -> dict:
    """Measured matrix-multiply throughput: FLOP/s of a square ``size`` matmul (best of repeats).

    The best (not median) sample estimates the limit; the size defaults to 2048 on CPU (a
    fraction of a second on two cores) and 8192 on GPU (large enough to fill an H100).
    """
    dtype = PEAK_DTYPES[precision]
    size = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    timing = time_call(lambda: torch.mm(a, b), device, warmup=1, repeats=repeats)
    flops = 2.0 * size ** 3
    return {"precision": precision, "size": size, "flops_per_s": flops / (min(timing.samples_ms) / 1e3),
            "median_flops_per_s": flops / (timing.median_ms / 1e3)}


def count_flops(model: nn.Module, *inputs: Tensor) -> int:
    """FLOPs of one forward pass (2 per multiply-add) of every Conv2d and Linear layer.

    Counted with forward hooks on the real call, so dilation, stride and input size are all
    accounted for; normalisation, activations and interpolation are left out (a few percent).
    """
    total = 0

    def conv_hook(module: nn.Conv2d, _: tuple, output: Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += 2 * output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _: tuple, output: Tensor) -> None:
        nonlocal total
        total += 2 * output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total


def descriptor_fn(model: nn.Module, images: Tensor, device: torch.device,
                  precision: str) -> Callable[[], Tensor]:
    """A no-argument call of the network on ``images (B, 3, H, W)`` under ``precision``."""
    def run() -> Tensor:
        with torch.inference_mode(), autocast_context(device, precision):
            return model(images)
    return run


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"320x240,640x480"`` (width x height, as cameras state it) -> ``[(240, 320), (480, 640)]``."""
    return parse_size_list(text, "WxH", minimum=8)


def parse_list(choices: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated subset of ``choices``."""
    allowed = list(choices)

    def parse(text: str) -> list[str]:
        items = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [item for item in items if item not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: choose a comma-separated subset of {allowed}")
        return items
    return parse


def add_common_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--width", type=int, default=64,
                        help="backbone base width (64 = standard ResNet, as shipped; 32 = the CPU variant)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before measuring")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls (median and p90 reported)")
    parser.add_argument("--out", type=Path, default=Path(default_out), help="JSON report to write")


def backbone_label(backbone: str, width: int) -> str:
    """``resnet18`` for the standard width, ``resnet18/w32`` otherwise."""
    return backbone if width == 64 else f"{backbone}/w{width}"


def setup_run(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads`` and resolve ``--device`` (clear error when CUDA is asked for but absent)."""
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    name = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but this torch has no usable CUDA device")
    return device


def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bf16_notes(device: torch.device, env: dict, precisions: list[str]) -> list[str]:
    """A note for the report when bf16 was measured on a CPU that only emulates it."""
    if device.type == "cpu" and "bf16" in precisions and not env["cpu_native_bf16"]:
        return ["this CPU has no AVX512-BF16 or AMX: bf16 is emulated by oneDNN and slower than "
                "fp32 here; on such a CPU the fast path is fp32 + channels_last"]
    return []


def describe_device(device: torch.device) -> str:
    """A person-readable name of the machine the numbers come from."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    gpu = "GPU present but unused" if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()}-core CPU ({cpu_model_name()}), {gpu}"


def environment(device: torch.device) -> dict:
    """Everything that decides the numbers: device, software, threads, date and machine load."""
    return {
        "device": describe_device(device),
        "device_type": device.type,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": list(os.getloadavg()),
    }


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A fixed-width text table; ``columns`` are ``(key, header, format spec)``."""
    def cell(row: dict, key: str, spec: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        return format(value, spec) if spec else str(value)

    body = [[header for _, header, _ in columns]]
    body += [[cell(row, key, spec) for key, _, spec in columns] for row in rows]
    widths = [max(len(line[i]) for line in body) for i in range(len(columns))]
    lines = ["  ".join(text.rjust(width) for text, width in zip(line, widths)) for line in body]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_report(path: Path, name: str, env: dict, peaks: dict, rows: list[dict],
                 columns: list[tuple[str, str, str]], notes: list[str] = ()) -> None:
    """Print the table and write ``{"benchmark", "environment", "peaks", "results", "notes"}``."""
    env = {**env, "loadavg_end": list(os.getloadavg())}
    print(f"\n{name} on {env['device']}, torch {env['torch_version']}, {env['threads']} threads, "
          f"load {env['loadavg_start'][0]:.1f} -> {env['loadavg_end'][0]:.1f}")
    for precision, peak in peaks.items():
        print(f"  measured {precision} matmul peak: {peak['flops_per_s'] / 1e9:.1f} GFLOP/s "
              f"(n={peak['size']})")
    print(format_table(rows, columns))
    for note in notes:
        print(f"note: {note}")
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": name, "environment": env, "peaks": peaks, "results": rows,
              "notes": list(notes)}
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def achieved(flops: float, milliseconds: float, peak: dict | None) -> dict:
    """Achieved FLOP/s of ``flops`` done in ``milliseconds`` and its fraction of ``peak``."""
    rate = flops / (milliseconds / 1e3)
    return {"gflop_per_s": rate / 1e9,
            "peak_fraction": rate / peak["flops_per_s"] if peak else None}
