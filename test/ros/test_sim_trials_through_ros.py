"""The launched simulated cell picks: sim_cell.launch.py's graph as processes, trials through ROS.

The graph (``ros.graph.sim_cell_graph``: cell, descriptor, planner and executor nodes, the
executor on the sim backend) runs as separate processes; every grasp goes camera -> descriptors
-> planner -> executor -> the cell's arm, vacuum and jaws, over DDS. On the same seed the trials
agree trial for trial with the in-process ``ddr sim pick``, physics included.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint
from dense_descriptor_ros.model.checkpoint import update_metadata

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SIZE = (48, 64)  # tiny images: the physics is the same, the descriptors cheap


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    from dense_descriptor_ros.model.descriptor_model import DescriptorModel
    from dense_descriptor_ros.simulation.experiments.reference import REFERENCE_OBJECT, annotate_reference

    folder = tmp_path_factory.mktemp("cell")
    torch.manual_seed(0)
    model = save_checkpoint(folder / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))
    update_metadata(model, heatmap_eta=5.0)  # an untrained model's matches clear the confidence gates
    annotations = {}
    for gripper, product in REFERENCE_OBJECT.items():
        out = folder / gripper
        annotate_reference(DescriptorModel.load(model), out / "keypoints.sqlite", out, product, SIZE)
        annotations[gripper] = out / "reference.json"
    return model, annotations


@pytest.mark.parametrize("gripper", ["suction", "parallel"])
def test_trials_through_the_launched_graph_agree_with_the_in_process_trials(reference, gripper: str,
                                                                            tmp_path: Path) -> None:
    from dense_descriptor_ros.grasping.appearance import AppearanceCheck
    from dense_descriptor_ros.ros.sim_trials import run_trials_through_ros
    from dense_descriptor_ros.simulation.experiments.pick_trials import run_trials

    model, annotations = reference
    seed, trials = 2, 3  # heaps with a held pick, failed seals (suction), a collision and a refusal (parallel)
    colours_off = AppearanceCheck(power=0.0, min_similarity=0.0)  # 48x64 is too coarse for the colour check
    through = run_trials_through_ros(annotations[gripper], gripper, model, tmp_path / "ros", trials, seed, SIZE,
                                     colours_off, progress=False)
    local = run_trials(annotations[gripper], gripper, model, tmp_path / "local", trials, SIZE, seed, 0,
                       colours_off)["results"]
    assert [r.index for r in through] == list(range(trials))
    for ours, theirs in zip(through, local):
        assert (ours.grasped, ours.success, ours.target_picked, ours.preference_hit, ours.face) == \
            (theirs["grasped"], theirs["success"], theirs["target_picked"], theirs["preference_hit"], theirs["face"])
        assert ours.confidence == pytest.approx(theirs["confidence"], abs=1e-6)
        if ours.grasped:  # the cell judged a physical pick: the executor's result code and the held object
            assert ours.outcome == theirs["outcome"] and ours.outcome["detail"]
    assert any(r.success for r in through) and any(r.grasped and not r.success for r in through)
