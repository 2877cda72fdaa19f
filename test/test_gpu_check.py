"""The prepared GPU check (``scripts/gpu_check.sh``) in its smoke mode: the script runs on a CPU,
writes every section, and its numbers are sane, so it cannot rot before a GPU is at hand."""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("gpu_check") / "smoke.json"
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(out.read_text())


def measured(rows: list[dict]) -> list[dict]:
    return [row for row in rows if "skipped" not in row]


def assert_sane_timing(row: dict) -> None:
    assert 0 < row["min_ms"] <= row["median_ms"] <= row["p90_ms"] < 60_000, row
    assert math.isfinite(row["median_ms"])


def test_every_section_ran_without_error(report: dict) -> None:
    assert report["smoke"] is True
    assert list(report["sections"]) == ["inference", "end_to_end", "heatmap", "training", "export"]
    for name, section in report["sections"].items():
        assert section["error"] is None, f"{name}: {section['error']}"
        assert measured(section["rows"]), f"{name} measured nothing"
    assert report["environment"]["device_type"] == "cpu"
    assert report["total_s"] == pytest.approx(sum(s["seconds"] for s in report["sections"].values()), rel=0.2)


def test_inference_measures_both_shipped_widths_in_every_variant(report: dict) -> None:
    rows = report["sections"]["inference"]["rows"]
    assert {(r["model"], r["variant"]) for r in measured(rows)} == \
        {(m, v) for m in gpu_check.MODELS for v in gpu_check.VARIANTS}
    for row in rows:
        assert_sane_timing(row)
        assert row["fps"] == pytest.approx(1e3 / row["median_ms"])
        assert row["precision"] == "fp32"  # fp16 autocast is CUDA's
    flops = {r["model"]: r["gflop_per_frame"] for r in rows}
    # a convolution's cost grows with the product of its channel counts: half width, ~1/4
    assert 3.0 < flops["resnet18"] / flops["resnet18/w32"] < 4.5


def test_heatmap_end_to_end_and_training_figures(report: dict) -> None:
    sections = report["sections"]
    heatmap = {r["stage"]: r for r in sections["heatmap"]["rows"]}
    assert heatmap["heatmap"]["keypoints"] == heatmap["heatmap+suction"]["keypoints"] == 100
    assert heatmap["heatmap+suction"]["grasp_ok"] is True
    (e2e,) = sections["end_to_end"]["rows"]
    assert e2e["stage"] == "image->suction pose"
    training = {r["method"]: r for r in sections["training"]["rows"]}
    for method in gpu_check.TRAINING_METHODS:
        assert_sane_timing(training[method])
        assert training[method]["steps_per_s"] == pytest.approx(1e3 / training[method]["median_ms"])
        assert training[method]["gpu_busy_percent"] is None  # no GPU to sample
    assert "skipped" in training["geometric"]
    for row in (*heatmap.values(), e2e):
        assert_sane_timing(row)


def test_export_runs_onnx_where_installed_and_skips_tensorrt_without_cuda(report: dict) -> None:
    rows = report["sections"]["export"]["rows"]
    onnx = [r for r in rows if r["runtime"] == "onnxruntime"]
    if all("skipped" in r for r in onnx):
        assert "not installed" in onnx[0]["skipped"]
    else:
        (cpu,) = [r for r in onnx if r.get("provider") == "CPUExecutionProvider"]
        assert_sane_timing(cpu)
    (trt,) = [r for r in rows if r["runtime"] == "torch_tensorrt"]
    assert trt["skipped"] == "TensorRT needs CUDA"


def test_a_spent_budget_starts_nothing_and_says_so() -> None:
    budget = gpu_check.Budget(0.0)
    rows = gpu_check.inference_section(torch.device("cpu"), gpu_check.SMOKE, budget, smoke=True)
    assert len(rows) == len(gpu_check.MODELS) * len(gpu_check.VARIANTS)
    assert all(r["skipped"] == "section budget of 0 s spent" for r in rows)


def test_a_failing_section_is_recorded_and_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> list[dict]:
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setitem(gpu_check.SECTIONS, "heatmap", broken)
    section = gpu_check.run_section("heatmap", torch.device("cpu"), gpu_check.SMOKE, smoke=True)
    assert section["rows"] == []
    assert section["error"].startswith("RuntimeError: CUDA error: out of memory")


def test_gpu_busy_samples_nothing_on_a_cpu() -> None:
    with gpu_check.GpuBusy(torch.device("cpu"), period=0.01) as busy:
        torch.ones(8).sum()
    assert busy.samples == [] and busy.mean_percent is None
