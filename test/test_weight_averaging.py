"""``ddr average-weights``: the mean of several runs' weights, one architecture only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dense_descriptor_ros.cli import main as cli_main
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, load_checkpoint, save_checkpoint
from dense_descriptor_ros.model.averaging import average_checkpoints
from dense_descriptor_ros.model.checkpoint import file_hash

CONFIG = ModelConfig(width=8, descriptor_dim=16)


def run_of(folder: Path, seed: int, config: ModelConfig = CONFIG) -> Path:
    torch.manual_seed(seed)
    return save_checkpoint(folder / f"seed{seed}.pt", DescriptorNet(config), method="identical-view", epoch=seed)


def test_the_average_holds_the_mean_weights_and_where_they_came_from(tmp_path: Path) -> None:
    paths = [run_of(tmp_path, seed) for seed in (0, 1, 2)]
    out = average_checkpoints(paths, tmp_path / "average.pt")
    average, metadata = load_checkpoint(out)
    states = [load_checkpoint(path)[0].state_dict() for path in paths]
    for name, tensor in average.state_dict().items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (states[0][name] + states[1][name] + states[2][name]) / 3)
        else:
            assert torch.equal(tensor, states[0][name])
    assert metadata["method"] == "weight average of identical-view"
    assert [s["sha256"] for s in metadata["averaged_from"]] == [file_hash(p) for p in paths]
    assert [s["epoch"] for s in metadata["averaged_from"]] == [0, 1, 2]
    assert "heatmap_eta" not in metadata  # the average needs its own calibration
    rgb = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert DescriptorModel.load(out).describe(rgb).shape == (1, 16, 4, 6)


def test_other_architectures_or_a_single_run_are_refused(tmp_path: Path) -> None:
    one, wider = run_of(tmp_path, 0), run_of(tmp_path / "wide", 1, ModelConfig(width=16, descriptor_dim=16))
    with pytest.raises(ValueError, match="another architecture"):
        average_checkpoints([one, wider], tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="two checkpoints or more"):
        average_checkpoints([one], tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


def test_cli_writes_the_average(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = [run_of(tmp_path, seed) for seed in (0, 1)]
    assert cli_main.main(["average-weights", *map(str, paths), "--out", str(tmp_path / "avg.pt")]) == 0
    assert "ddr calibrate --model" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "avg.pt")[1]["method"] == "weight average of identical-view"
    assert cli_main.main(["average-weights", str(paths[0]), str(tmp_path / "missing.pt"),
                          "--out", str(tmp_path / "x.pt")]) == 2
