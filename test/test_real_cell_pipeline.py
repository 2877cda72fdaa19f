"""scripts/real_cell_pipeline.sh with its tiny preset: an operator bag of the camera topics in,
a calibrated checkpoint and picks out, with extraction dropping exactly the repeated and the
blurred frames the recording holds."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader

from dense_descriptor_ros.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CAMERA_TOPICS = {"/camera/camera/color/image_raw", "/camera/camera/color/camera_info",
                 "/camera/camera/aligned_depth_to_color/image_raw",
                 "/camera/camera/aligned_depth_to_color/camera_info"}


def counted(table: str, row: str) -> int:
    return int(re.search(rf"^{re.escape(row)}.*?(\d+)$", table, re.MULTILINE).group(1))


@pytest.mark.slow
def test_tiny_pipeline_from_bag_to_picks(tmp_path: Path) -> None:
    out = tmp_path / "cell"
    env = {**os.environ, "PRESET": "tiny", "OUT": str(out), "DDR": str(Path(sys.executable).parent / "ddr"),
           "AUGMENTATION": "geometric", "CONTEXT_SWAP": "0.5", "PARTNER_GAP": "2"}  # docs/real_cell.md's recipe
    done = subprocess.run(["bash", str(ROOT / "scripts/real_cell_pipeline.sh")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    with Reader(out / "bag") as reader:  # the camera topics only: nothing after it has poses or masks
        assert {c.topic: c.msgcount for c in reader.connections} == dict.fromkeys(CAMERA_TOPICS, 12)
    moments = json.loads((out / "bag_manifest.json").read_text())["moments"]
    assert [moments.count(m) for m in ("rest", "repeat", "hands", "blurred")] == [3, 5, 2, 2]
    table = (out / "extract.txt").read_text()
    assert counted(table, "frames read") == 12
    assert counted(table, "near-duplicate") == 5 and counted(table, "blurry") == 2
    kept = sorted(int(p.stem.rsplit("_", 1)[1]) for p in (out / "images").glob("*.png"))
    assert kept == [i for i, m in enumerate(moments) if m in ("rest", "hands")]

    assert (out / "identical_view/best.pt").is_file() and (out / "ccl_identical_view/best.pt").is_file()
    recipe = load_checkpoint(out / "ccl_identical_view/best.pt")[1]["training_config"]
    assert (recipe["augmentation"], recipe["context_swap"], recipe["partner_gap"]) == ("geometric", 0.5, 2)
    eta = float(re.search(r"heatmap eta ([\d.]+)", (out / "calibrate.txt").read_text()).group(1))
    results = json.loads((out / "picks/results.json").read_text())
    assert results["trials"] == 1 and 0.0 <= results["target_success_rate"] <= 1.0
    assert results["model"].endswith("ccl_identical_view/best.pt")
    assert results["eta"] == pytest.approx(eta, abs=1e-3)  # the picks ran with the calibrated scale
    steps = [line.split()[0] for line in (out / "timings.txt").read_text().splitlines()]
    assert steps == ["record", "extract", "record_check", "extract_check", "check_pairs", "train_identical_view",
                     "train_ccl_identical_view", "calibrate", "annotate", "pick"]
