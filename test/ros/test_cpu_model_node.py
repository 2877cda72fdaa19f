"""The CPU model (standard-width ResNet-18, layer4 pruned and distilled; models/README.md) is
what a user gets by pointing the descriptor node's ``model_path`` at it, compiled as the CPU
target was measured: its descriptors over DDS equal the network's own."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dense_descriptor_ros.messages import image_to_numpy
from dense_descriptor_ros.model import load_checkpoint
from test_descriptor_node import RGB, H, W, expected_descriptors, start_node

pytestmark = pytest.mark.ros

CPU_MODEL = Path(__file__).resolve().parents[2] / "models" / "ddr_resnet18_l4x256_sim.pt"


def test_the_cpu_model_runs_compiled_in_the_descriptor_node(ros) -> None:
    network, meta = load_checkpoint(CPU_MODEL)
    assert network.config.layer4_inner == 256 and network.config.width == 64
    assert meta["heatmap_eta"] > 0  # calibrated, so the grasp gates mean what they mean for the others
    node, probe = start_node(ros, CPU_MODEL, compile=True)
    assert hasattr(node.model.network, "_orig_mod")  # torch.compile's wrapper
    got = probe.send_until_answered(probe.image(frame_id="cpu_model"), timeout_s=180.0)
    assert (got.encoding, got.height, got.width) == ("32FC64", H // 8, W // 8)
    np.testing.assert_allclose(image_to_numpy(got), expected_descriptors(CPU_MODEL, RGB), atol=1e-4)

