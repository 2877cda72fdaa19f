"""One prepared GPU check: the figures a GPU machine should give, measured in one run, one JSON.

Sections, each under its own time budget so the whole run stays under 8 minutes on an H100
(a section past its budget starts nothing new and says so):

* ``inference``: the shipped models (``models/``: width 64 and width 32), fp16 autocast, at
  320x240 and 640x480: eager, compiled (inductor, weights frozen) and CUDA graphs
  (``torch.compile`` mode ``reduce-overhead``), with each compile's time;
* ``end_to_end``: image -> suction grasp (``bench_heatmap``'s: upload, network, heatmap ranked
  by the colour check, grasp pose), eager and compiled;
* ``heatmap``: the fused heatmap and suction grasp for 100 keypoints on a 640x480 frame;
* ``training``: steps/s per image-only method (``bench_training``'s step) with the GPU's busy
  share sampled meanwhile (NVML, else ``nvidia-smi``);
* ``export``: the width-32 model through ONNX in onnxruntime (its CUDA or TensorRT provider
  where installed) and through Torch-TensorRT where installed; skipped, with the reason, where not.

The JSON is rewritten after every section, so a run cut short keeps what it measured. Nothing is
downloaded. ``--smoke`` runs every section on tiny sizes on the CPU (fp32: fp16 autocast needs
CUDA; ``torch.compile`` with the ``eager`` backend, since inductor's C++ build takes minutes
there), so the test suite keeps the script working; its numbers mean nothing.

    python -m benchmarks.gpu_check --out docs/benchmarks/gpu_check_<device>.json
    python -m benchmarks.gpu_check --smoke --out /tmp/gpu_check_smoke.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import (count_flops, descriptor_fn, environment, matmul_peak, parse_sizes, synchronize,
                               time_call)

REPO = Path(__file__).resolve().parents[1]
MODELS = {"resnet18": REPO / "models" / "ddr_resnet18_sim.pt",
          "resnet18/w32": REPO / "models" / "ddr_resnet18_w32_sim.pt"}
VARIANTS = ("eager", "compiled", "cuda_graphs")
TRAINING_METHODS = ("identical-view", "ccl", "ccl+identical-view")


@dataclass(frozen=True)
class Plan:
    """What one run measures: sizes, repeats and each section's budget (seconds)."""

    sizes: tuple[tuple[int, int], ...]
    heatmap_size: tuple[int, int]
    training_size: tuple[int, int]
    batch: int
    warmup: int
    repeats: int
    training_steps: int
    budgets: dict[str, float]


FULL = Plan(sizes=((240, 320), (480, 640)), heatmap_size=(480, 640), training_size=(240, 320), batch=4,
            warmup=5, repeats=30, training_steps=10,
            budgets={"inference": 240, "end_to_end": 45, "heatmap": 15, "training": 75, "export": 45})
SMOKE = Plan(sizes=((48, 64),), heatmap_size=(48, 64), training_size=(48, 64), batch=2,
             warmup=1, repeats=2, training_steps=2,
             budgets={"inference": 60, "end_to_end": 60, "heatmap": 60, "training": 60, "export": 60})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: checks the script, not the GPU")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu (smoke: cpu)")
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="inference sizes WIDTHxHEIGHT, comma-separated (default 320x240,640x480)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/gpu_check.json"), help="JSON to write")
    return parser.parse_args(argv)


class Budget:
    """A section's deadline: ``spent()`` tells the section to start nothing new."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.monotonic()

    def spent(self) -> bool:
        return time.monotonic() - self.start > self.seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class GpuBusy:
    """Samples the GPU's busy share (percent) every ``period`` seconds while in the ``with`` block:
    NVML through ``torch.cuda.utilization`` when it works, else ``nvidia-smi``; nothing on a CPU."""

    def __init__(self, device: torch.device, period: float = 0.1) -> None:
        self.device, self.period = device, period
        self.samples: list[float] = []
        self.source = self._source()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _source(self) -> Callable[[], float] | None:
        if self.device.type != "cuda":
            return None
        try:
            torch.cuda.utilization(self.device)
            return lambda: float(torch.cuda.utilization(self.device))
        except Exception:  # no pynvml / NVML: fall back to the command line tool
            pass
        if shutil.which("nvidia-smi") is None:
            return None
        index = self.device.index or 0

        def smi() -> float:
            out = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
            return float(out.stdout.strip())
        return smi

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.samples.append(self.source())
            except (OSError, ValueError, subprocess.SubprocessError):
                return

    def __enter__(self) -> "GpuBusy":
        if self.source is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean_percent(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


def precision_of(device: torch.device) -> str:
    """fp16 autocast on CUDA; fp32 on the CPU (smoke), where fp16 autocast does not run."""
    return "fp16" if device.type == "cuda" else "fp32"


def compiled(model: torch.nn.Module, device: torch.device, variant: str, smoke: bool) -> torch.nn.Module:
    """``model`` ready for ``variant``: the inference fast path, compiled as the nodes compile it
    (``compiled``: inductor, weights frozen; ``cuda_graphs``: mode reduce-overhead). Smoke runs
    trace with dynamo but compile with the ``eager`` backend."""
    from dense_descriptor_ros.model.inference import prepare_for_inference

    if variant == "eager":
        return prepare_for_inference(model, device)
    if smoke:
        return torch.compile(prepare_for_inference(model, device), backend="eager")
    return prepare_for_inference(model, device, "default" if variant == "compiled" else "reduce-overhead")


def compiler_name(device: torch.device, variant: str, smoke: bool) -> str:
    """What ran ``variant``, in words, for the report."""
    if variant == "eager":
        return "eager"
    if smoke:
        return "dynamo, eager backend (smoke)"
    graphs = device.type == "cuda" and variant == "cuda_graphs"
    return "inductor + CUDA graphs" if graphs else "inductor, weights frozen" if variant == "compiled" else "inductor"


def inference_section(device: torch.device, plan: Plan, budget: Budget, smoke: bool) -> list[dict]:
    from dense_descriptor_ros.model import load_checkpoint

    rows = []
    precision = precision_of(device)
    for label, path in MODELS.items():
        for height, width in plan.sizes:
            images = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            for variant in VARIANTS:
                row = {"model": label, "size": f"{width}x{height}", "precision": precision, "variant": variant,
                       "compiler": compiler_name(device, variant, smoke)}
                if budget.spent():
                    rows.append({**row, "skipped": f"section budget of {budget.seconds:.0f} s spent"})
                    continue
                torch._dynamo.reset()  # each model and size compiles afresh: compile times compare
                model, _ = load_checkpoint(path, device)
                flops = count_flops(model.eval(), images)
                run = descriptor_fn(compiled(model, device, variant, smoke), images, device, precision)
                started = time.perf_counter()
                run()
                synchronize(device)
                first_ms = (time.perf_counter() - started) * 1e3
                timing = time_call(run, device, plan.warmup, plan.repeats)
                rows.append({**row, **timing.to_dict(), "first_call_ms": first_ms, "fps": 1e3 / timing.median_ms,
                             "gflop_per_frame": flops / 1e9,
                             "tflop_per_s": flops / (timing.median_ms / 1e3) / 1e12})
    return rows


def heatmap_arguments(plan: Plan, **values: object) -> argparse.Namespace:
    """``bench_heatmap``'s options for this plan (its defaults: D = 64, width 64, ResNet-18)."""
    from benchmarks.bench_heatmap import parse_args as heatmap_args

    size = f"{plan.heatmap_size[1]}x{plan.heatmap_size[0]}"
    args = heatmap_args(["--sizes", size, "--e2e-size", size, "--keypoints", "100",
                         "--warmup", str(plan.warmup), "--repeats", str(plan.repeats)])
    for name, value in values.items():
        setattr(args, name, value)
    return args


def end_to_end_section(device: torch.device, plan: Plan, budget: Budget, smoke: bool) -> list[dict]:
    from benchmarks.bench_heatmap import end_to_end_rows

    precision = precision_of(device)
    e2e_size = plan.sizes[0]
    args = heatmap_arguments(plan, e2e_size=[e2e_size], e2e_precisions=[precision],
                             e2e_compile=["none"] if smoke else ["none", "default"])
    return end_to_end_rows(args, device, {precision: None})


def heatmap_section(device: torch.device, plan: Plan, budget: Budget, smoke: bool) -> list[dict]:
    from benchmarks.bench_heatmap import heatmap_rows

    return heatmap_rows(heatmap_arguments(plan), device, None)


def training_section(device: torch.device, plan: Plan, budget: Budget, smoke: bool) -> list[dict]:
    from benchmarks.bench_training import photo_batch
    from dense_descriptor_ros.augmentation import AugmentationConfig, Augmenter
    from dense_descriptor_ros.model import DescriptorNet, ModelConfig
    from dense_descriptor_ros.training.config import TrainConfig
    from dense_descriptor_ros.training.trainer import train_step

    precision = precision_of(device)
    height, width = plan.training_size
    images = photo_batch(plan.batch, height, width, device)
    rows = []
    for method in TRAINING_METHODS:
        row = {"method": method, "model": "resnet18", "size": f"{width}x{height}", "batch": plan.batch,
               "precision": precision}
        if budget.spent():
            rows.append({**row, "skipped": f"section budget of {budget.seconds:.0f} s spent"})
            continue
        config = TrainConfig.for_method(method, batch_size=plan.batch, image_size=(height, width))
        torch.manual_seed(0)
        model = DescriptorNet(ModelConfig("resnet18", config.descriptor_dim, 8 if smoke else 64)).to(device)
        model = model.to(memory_format=torch.channels_last).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        augmenter = Augmenter(AugmentationConfig.synthetic(), out_size=(height, width),
                              generator=torch.Generator(device=device).manual_seed(0))

        def step() -> None:
            train_step(model, images, augmenter, config, optimizer, scaler, precision)

        step()  # the first step allocates and tunes kernels
        with GpuBusy(device) as busy:
            timing = time_call(step, device, warmup=1, repeats=plan.training_steps)
        rows.append({**row, **timing.to_dict(), "steps_per_s": 1e3 / timing.median_ms,
                     "gpu_busy_percent": busy.mean_percent, "gpu_busy_samples": len(busy.samples)})
    rows.append({"method": "geometric", "skipped": "needs RGB-D pairs with correspondences (a dataset on disk); "
                 "its steps/s come from a real run (models/README.md)"})
    return rows


def onnx_rows(path: Path, device: torch.device, plan: Plan, folder: Path) -> list[dict]:
    """The width-32 model exported to ONNX and run in onnxruntime, per available provider."""
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        return [{"runtime": "onnxruntime", "skipped": f"not installed: {', '.join(missing)}"}]
    import onnxruntime

    from dense_descriptor_ros.model.export import OnnxDescriptors, export_model, read_export_metadata

    height, width = plan.sizes[0]
    exported = export_model(path, folder / "model.onnx", "onnx", (height, width))
    images = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"] if device.type == "cuda" else []
    rows = []
    for provider in [*wanted, "CPUExecutionProvider"]:
        row = {"runtime": "onnxruntime", "provider": provider, "model": "resnet18/w32", "size": f"{width}x{height}",
               "precision": "fp32"}
        if provider not in onnxruntime.get_available_providers():
            rows.append({**row, "skipped": f"onnxruntime {onnxruntime.__version__} has no {provider}"})
            continue
        session = OnnxDescriptors(exported, read_export_metadata(exported), providers=[provider])
        timing = time_call(lambda: session(images), torch.device("cpu"), plan.warmup, plan.repeats)
        rows.append({**row, **timing.to_dict(), "fps": 1e3 / timing.median_ms, "includes": "host copies"})
    return rows


def tensorrt_rows(path: Path, device: torch.device, plan: Plan) -> list[dict]:
    """The width-32 model compiled by Torch-TensorRT (fp16), where it is installed and CUDA runs."""
    row = {"runtime": "torch_tensorrt", "model": "resnet18/w32"}
    if device.type != "cuda":
        return [{**row, "skipped": "TensorRT needs CUDA"}]
    if importlib.util.find_spec("torch_tensorrt") is None:
        return [{**row, "skipped": "torch_tensorrt not installed"}]
    import torch_tensorrt

    from dense_descriptor_ros.model import load_checkpoint
    from dense_descriptor_ros.model.inference import prepare_for_inference

    height, width = plan.sizes[0]
    model = prepare_for_inference(load_checkpoint(path, device)[0], device, channels_last=False)
    images = torch.rand(1, 3, height, width, device=device)
    engine = torch_tensorrt.compile(model, ir="dynamo", inputs=[images], enabled_precisions={torch.half})
    with torch.inference_mode():
        timing = time_call(lambda: engine(images), device, plan.warmup, plan.repeats)
    return [{**row, "size": f"{width}x{height}", "precision": "fp16", **timing.to_dict(),
             "fps": 1e3 / timing.median_ms}]


def export_section(device: torch.device, plan: Plan, budget: Budget, smoke: bool) -> list[dict]:
    path = MODELS["resnet18/w32"]
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        rows = onnx_rows(path, device, plan, Path(folder))
    if budget.spent():
        return [*rows, {"runtime": "torch_tensorrt", "skipped": f"section budget of {budget.seconds:.0f} s spent"}]
    return [*rows, *tensorrt_rows(path, device, plan)]


SECTIONS: dict[str, Callable[[torch.device, Plan, Budget, bool], list[dict]]] = {
    "inference": inference_section, "end_to_end": end_to_end_section, "heatmap": heatmap_section,
    "training": training_section, "export": export_section}


def run_section(name: str, device: torch.device, plan: Plan, smoke: bool) -> dict:
    """One section's rows and seconds; an error is recorded (with its last lines), not raised,
    so one broken section does not cost the others' figures on a borrowed machine."""
    budget = Budget(plan.budgets[name])
    try:
        rows = SECTIONS[name](device, plan, budget, smoke)
        error = None
    except Exception as exc:  # noqa: BLE001 (reported in the JSON; the run goes on)
        rows, error = [], f"{type(exc).__name__}: {exc} | " + " | ".join(traceback.format_exc().splitlines()[-4:])
    return {"rows": rows, "seconds": budget.elapsed(), "budget_s": budget.seconds, "error": error}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    if args.sizes:
        plan = Plan(**{**plan.__dict__, "sizes": tuple(args.sizes)})
    device = torch.device(args.device or ("cpu" if args.smoke else "cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but this torch has no usable CUDA device")
    missing = [str(p) for p in MODELS.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"shipped models missing: {', '.join(missing)} (is this a checkout with models/?)")
    if args.smoke:
        torch.set_num_threads(1)  # two threads on a shared, loaded CPU spin against each other
    torch.manual_seed(0)
    np.random.seed(0)
    report = {"benchmark": "gpu check", "smoke": args.smoke, "environment": environment(device),
              "peaks": {precision_of(device): matmul_peak(device, precision_of(device), 256 if args.smoke else None)},
              "sections": {}}
    started = time.monotonic()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in SECTIONS:
        print(f"{name} ...", flush=True)
        report["sections"][name] = run_section(name, device, plan, args.smoke)
        section = report["sections"][name]
        print(f"  {len(section['rows'])} rows in {section['seconds']:.1f} s"
              + (f"; ERROR {section['error']}" if section["error"] else ""), flush=True)
        report["total_s"] = time.monotonic() - started
        report["environment"]["loadavg_end"] = list(os.getloadavg())
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({report['total_s']:.0f} s)")
    return 1 if any(s["error"] for s in report["sections"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
