"""Every simulated dataset kind feeds the command that consumes it: `ddr sim dataset` output
goes straight into `ddr train` (unordered, rgbd-sequences, rearranged-sequences) and `ddr evaluate` (cross-scene
pairs, invariance), through the real command line."""
from __future__ import annotations

import json

import pytest

from dense_descriptor_ros.cli.main import main
from dense_descriptor_ros.model import load_checkpoint

pytestmark = pytest.mark.slow

TINY_TRAIN = ["--width", "8", "--descriptor-dim", "16", "--batch-size", "2", "--epochs", "1",
              "--steps-per-epoch", "2", "--workers", "0", "--num-keypoints", "50"]


def sim(kind: str, out, count: int, *extra: str) -> None:
    assert main(["sim", "dataset", "--kind", kind, "--out", str(out), "--count", str(count),
                 "--size", "64x80", "--seed", "0", *extra]) == 0


@pytest.mark.parametrize("kind, method, count, extra", [
    ("unordered", "ccl+identical-view", 6, []),
    ("rgbd-sequences", "geometric", 2, ["--frames", "4"]),
    ("rearranged-sequences", "geometric", 1, ["--scenes", "2", "--views", "2"])])
def test_training_sets_train(tmp_path, kind, method, count, extra):
    sim(kind, tmp_path / "data", count, *extra)
    assert main(["train", "--method", method, "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "run"), "--size", "64x80", *TINY_TRAIN]) == 0
    _, meta = load_checkpoint(tmp_path / "run" / "last.pt")
    assert meta["method"] == method and meta["epoch"] == 1


@pytest.mark.parametrize("kind", ["cross-scene-pairs", "invariance"])
def test_evaluation_sets_evaluate(tmp_path, kind):
    sim(kind, tmp_path / "data", 1)
    assert main(["train", "--method", "identical-view", "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "model"), "--size", "64x80", *TINY_TRAIN, "--epochs", "0"]) == 0
    assert main(["evaluate", "--model", str(tmp_path / "model" / "best.pt"), "--pairs",
                 str(tmp_path / "data" / "pairs.json"), "--images", str(tmp_path / "data"),
                 "--out", str(tmp_path / "eval"), "--device", "cpu"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["count"] > 0 and 0.0 <= metrics["auc@50"] <= 1.0
    assert (tmp_path / "eval" / "pck_curve.png").stat().st_size > 1000
    if kind == "invariance":
        assert list((tmp_path / "eval").glob("invariance_*.png"))
