"""Simulated grippers (suction seal, friction grasp), preference hits and ``ddr sim pick``."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dense_descriptor_ros.cli import sim as sim_cli
from dense_descriptor_ros.cli import sim_pick
from dense_descriptor_ros.execution.backends import SimulatedCellBackend
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, save_checkpoint
from dense_descriptor_ros.model.checkpoint import update_metadata
from dense_descriptor_ros.simulation.world import scene
from dense_descriptor_ros.simulation.world.grippers import ParallelJawSpec, SimulatedGripper, open_cell
from dense_descriptor_ros.simulation.world.objects import OBJECT_TYPES
from dense_descriptor_ros.simulation.experiments.pick import SIM_EXECUTOR, PickConfig, PreferredRegion, execute_pick
from dense_descriptor_ros.simulation.experiments.reference import annotate_reference, box_faces, held_out_instance

TEA = held_out_instance("tea_box")  # half sizes 0.035 x 0.055 x 0.03 m
FAST = PickConfig(replace(SIM_EXECUTOR, approach_distance=0.05, retreat_distance=0.1), hold_seconds=0.5,
                  min_lift=0.07)


def _cell_with_box(kind: str):
    spec = scene.SceneSpec((TEA,), 1, max_width=64, max_height=48)
    cell = open_cell(spec, kind, 64, 48)
    pose = np.eye(4)
    pose[:3, 3] = [0.05, 0.0, scene.BIN_FLOOR_Z + 0.0301]
    cell.set_object_pose(TEA.instance_id, pose)
    return cell, SimulatedGripper(cell, kind)


def _top_pose(offset=(0.0, 0.0, 0.0), tilt_deg: float = 0.0, yaw_deg: float = 90.0) -> Pose:
    """Tool z down onto the box top; yaw 90 puts the closing axis (tool y) along world x."""
    rotation = (Rotation.from_euler("y", tilt_deg, degrees=True) * Rotation.from_euler("z", yaw_deg, degrees=True)
                * Rotation.from_euler("x", 180, degrees=True))
    return Pose(np.array([0.05, 0.0, scene.BIN_FLOOR_Z + 0.06]) + offset, rotation.as_quat(), "world")


def test_suction_lifts_a_box_from_the_top_face_centre():
    cell, gripper = _cell_with_box("suction")
    assert isinstance(gripper, SimulatedCellBackend)
    outcome = execute_pick(gripper, _top_pose(), config=FAST)
    assert outcome.success and outcome.held == TEA.instance_id, outcome.detail
    assert outcome.lift == pytest.approx(0.1, abs=0.01)
    assert np.allclose(outcome.grasp_point[:2], [0.05, 0.0], atol=2e-3)


def test_a_sealed_cup_touches_nothing_and_a_load_beyond_the_vacuum_drops_the_object():
    cell, gripper = _cell_with_box("suction")
    gripper.move_to_pose(_top_pose((0.0, 0.0, 0.05)), 5.0)
    gripper.set(True, 5.0)
    gripper.move_to_pose(_top_pose((0.0, 0.0, -0.01)), 5.0)
    gripper.move_to_pose(_top_pose((0.0, 0.0, 0.05)), 5.0)
    gripper.hold(0.1)
    assert gripper.held_object() == TEA.instance_id
    assert gripper.contacts() == []  # the held box hangs on the seal alone, not pushed by the cup
    gripper.park()

    cell, gripper = _cell_with_box("suction")
    cell.model.body_mass[cell.model.body(scene.object_body(TEA.instance_id)).id] = 5.0  # 49 N > the cup's 25 N
    outcome = execute_pick(gripper, _top_pose(), config=FAST)
    assert not outcome.success and outcome.held is None
    assert "the seal broke while moving" in outcome.detail and "25 N" in outcome.detail
    assert cell.object_poses()[TEA.instance_id][2, 3] < scene.BIN_FLOOR_Z + 0.04  # dropped back


@pytest.mark.parametrize("offset, held", [(0.0, True), (0.04, False)])
def test_the_weight_hanging_off_centre_peels_the_cup(offset, held):
    """A 1 kg box (9.8 N, well under the cup's 25 N) held 4 cm from its centre of mass loads the
    cup with up to 0.39 N m as it lifts, more than the 0.30 N m it holds; held at its centre, it
    stays."""
    cell, gripper = _cell_with_box("suction")
    cell.model.body_mass[cell.model.body(scene.object_body(TEA.instance_id)).id] = 1.0
    outcome = execute_pick(gripper, _top_pose((0.0, offset, 0.0)), config=FAST)
    assert outcome.success is held, outcome.detail
    if not held:
        assert "the seal broke while moving" in outcome.detail and "0.30 N m" in outcome.detail


@pytest.mark.parametrize("offset, tilt, reason", [((0.03, 0.0, 0.0), 0.0, "rim points are off the object"),
                                                  ((0.08, 0.0, 0.0), 0.0, "nothing held"),
                                                  ((0.0, 0.0, 0.0), 60.0, "off the surface")])
def test_suction_fails_off_the_object_on_an_edge_or_tilted(offset, tilt, reason):
    cell, gripper = _cell_with_box("suction")
    outcome = execute_pick(gripper, _top_pose(offset, tilt), config=FAST)
    assert not outcome.success and outcome.held is None
    assert reason in outcome.detail
    assert cell.object_poses()[TEA.instance_id][2, 3] < scene.BIN_FLOOR_Z + 0.04  # still in the bin


def test_parallel_gripper_holds_a_box_by_friction_across_its_narrow_width():
    cell, gripper = _cell_with_box("parallel")
    outcome = execute_pick(gripper, _top_pose(), width=0.07, config=FAST)
    assert outcome.success and outcome.held == TEA.instance_id, outcome.detail


def test_the_simulated_jaw_is_the_body_the_room_check_is_given():
    """The palm and fingers in the MJCF are the spec's boxes (the oriented grasp's room check is
    given the spec), and the palm sits on top of the fingers."""
    cell, _ = _cell_with_box("parallel")
    jaw, model = ParallelJawSpec(), cell.model
    np.testing.assert_allclose(2 * model.geom("palm").size, [jaw.palm_length, jaw.palm_width, jaw.palm_height])
    np.testing.assert_allclose(2 * model.geom("finger_a").size, [jaw.finger_width, jaw.finger_thickness,
                                                                 jaw.finger_length])
    palm_bottom = -model.geom("palm").pos[2] - jaw.palm_height / 2
    assert jaw.finger_length <= palm_bottom <= jaw.finger_length + 0.003
    assert jaw.palm_width >= jaw.max_opening + 2 * jaw.finger_thickness


@pytest.mark.parametrize("width, yaw", [(0.05, 90.0), (0.07, 0.0)])
def test_parallel_gripper_fails_when_too_narrow_or_across_the_long_side(width, yaw):
    cell, gripper = _cell_with_box("parallel")
    outcome = execute_pick(gripper, _top_pose(yaw_deg=yaw), width=width, config=FAST)
    assert not outcome.success and outcome.held is None
    assert "collision" in outcome.detail
    assert cell.object_poses()[TEA.instance_id][2, 3] < scene.BIN_FLOOR_Z + 0.04


def test_preference_hit_follows_the_object_pose():
    region = PreferredRegion(7, np.array([0.0, 0.0, 0.03]), radius=0.02, axis=np.array([1.0, 0.0, 0.0]))
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    pose[:3, 3] = [0.1, 0.2, 0.05]
    centre = np.array([0.1, 0.2, 0.08])  # (0, 0, 0.03) moved by the pose
    y_axis = np.array([0.0, 1.0, 0.0])  # the object's x axis after the 90 deg yaw
    assert region.hit(centre + [0.015, 0, 0], pose, closing_world=y_axis)
    assert not region.hit(centre + [0.025, 0, 0], pose, closing_world=y_axis)
    assert not region.hit(centre, pose, closing_world=np.array([1.0, 0.0, 0.0]))  # wrong axis
    assert region.hit(centre, pose, closing_world=-y_axis)  # a gripper is symmetric
    suction = PreferredRegion(7, np.array([0.0, 0.0, 0.03]), radius=0.02)
    assert suction.hit(centre, pose) and not suction.hit(np.array([0.1, 0.2, 0.03]), pose)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    sim_cli.register(commands)
    sim_pick.register(commands)
    return parser


def test_the_operator_annotates_every_side_of_a_box():
    tea_box = held_out_instance("tea_box").type
    half = np.asarray(tea_box.parts[0].size)  # 35 x 55 x 30 mm half extents
    faces = box_faces(tea_box)
    assert sorted(face.name.split("/")[1] for face in faces) == ["+x", "+y", "+z", "-x", "-y", "-z"]
    for face in faces:
        normal_axis = int(np.argmax(np.abs(face.normal)))
        assert np.allclose(face.centre, half[normal_axis] * face.normal)  # on the box's surface
        assert np.allclose(face.preferences[0], face.centre)
        assert np.allclose((face.preferences - face.centre) @ face.normal, 0)  # clicks lie on the face
        across = face.axis_points[1] - face.axis_points[0]
        in_face = [k for k in range(3) if k != normal_axis]
        narrow = min(in_face, key=lambda k: half[k])
        assert np.isclose(np.linalg.norm(across), 2 * 0.7 * half[narrow])  # across the narrow width
        assert np.isclose(abs(across[narrow]), np.linalg.norm(across))
    with pytest.raises(ValueError, match="box-shaped"):
        box_faces(next(t for t in OBJECT_TYPES if t.name == "bottle"))


def test_sim_pick_runs_the_whole_loop_and_reports(tmp_path, capsys):
    torch.manual_seed(0)
    model = save_checkpoint(tmp_path / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))
    update_metadata(model, heatmap_eta=0.6)  # as `ddr calibrate` stores it
    parser = _parser()
    args = parser.parse_args(["sim", "annotate-reference", "--model", str(model), "--out", str(tmp_path / "ref"),
                              "--size", "48x64", "--object", "toothpaste_box"])
    assert args.func(args) == 0
    reference = json.loads((tmp_path / "ref" / "reference.json").read_text())
    assert len(reference["faces"]) == 6 and reference["object_type"] == "toothpaste_box"
    for gripper in ("suction", "parallel"):
        out = tmp_path / gripper
        args = parser.parse_args(["sim", "pick", "--gripper", gripper, "--trials", "2", "--model", str(model),
                                  "--annotations", str(tmp_path / "ref" / "reference.json"), "--out", str(out),
                                  "--size", "48x64", "--overlays", "1"])
        assert args.func(args) == 0
        result = json.loads((out / "results.json").read_text())
        assert result["trials"] == 2 and len(result["results"]) == 2 and result["eta"] == 0.6
        assert result["appearance"]["min_similarity"] == {"suction": 0.85, "parallel": 0.7}[gripper]  # its own gate
        for key in ("success_rate", "preference_hit_rate", "target_success_rate", "grasp_rate"):
            assert 0.0 <= result[key] <= 1.0
        assert {"render", "descriptors", "heatmap", "grasp"} <= set(result["timings_ms"])
        assert all(v > 0 for v in result["timings_ms"].values())
        assert sorted(p.name for p in out.glob("overlay_*.png")) == ["overlay_000.png"]
    assert "preference hit" in capsys.readouterr().out


def test_a_new_model_re_annotates_a_reference_made_with_an_old_one(tmp_path):
    """`make demo` after the shipped model changed: the old database is re-embedded, not refused."""
    database, old, new = tmp_path / "ref" / "keypoints.sqlite", "0" * 64, "1" * 64
    for seed, model_hash in ((0, old), (1, new)):
        torch.manual_seed(seed)
        model = DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).eval()
        annotation = annotate_reference(DescriptorModel.of(model, model_hash), database, tmp_path / "ref", "tea_box",
                                        (48, 64))
        faces = [face.name for face in annotation.faces]
    with KeypointDatabase(database) as db:
        assert db.model_hashes() == {new}
        assert sorted(db.preference_descriptors(new)) == sorted(faces) and len(faces) == 6


def test_compare_oracle_picks_the_same_heaps_as_an_oracle_run(tmp_path):
    torch.manual_seed(0)
    model = save_checkpoint(tmp_path / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))
    parser = _parser()
    reference = tmp_path / "ref"
    args = parser.parse_args(["sim", "annotate-reference", "--model", str(model), "--out", str(reference),
                              "--size", "48x64"])
    assert args.func(args) == 0
    common = ["sim", "pick", "--gripper", "suction", "--trials", "3", "--seed", "2", "--size", "48x64",
              "--overlays", "0", "--annotations", str(reference / "reference.json")]
    for name, extra in (("compared", ["--model", str(model), "--compare-oracle"]), ("oracle", ["--oracle"])):
        args = parser.parse_args([*common, *extra, "--out", str(tmp_path / name)])
        assert args.func(args) == 0
    compared, oracle = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("compared", "oracle"))
    flags = [r["oracle_target_picked"] for r in compared["results"]]
    assert flags == [r["target_picked"] for r in oracle["results"]]  # the same heap, dropped again
    assert compared["oracle_target_success_rate"] == oracle["target_success_rate"] == sum(flags) / 3
    pickable = [r for r, flag in zip(compared["results"], flags) if flag]
    for key, rate in (("target_success_where_oracle_picks", "target_picked"),
                      ("preference_hit_where_oracle_picks", "preference_hit")):
        assert compared[key] == (sum(r[rate] for r in pickable) / len(pickable) if pickable else None)
    assert "oracle_target_success_rate" not in oracle


@pytest.mark.parametrize("extra, message", [(["--model", "m.pt"], "--oracle without a model"),
                                            (["--compare-oracle"], "not --oracle")])
def test_sim_pick_refuses_a_model_or_a_comparison_with_oracle(tmp_path, extra, message):
    args = _parser().parse_args(["sim", "pick", "--gripper", "suction", "--oracle", *extra,
                                 "--annotations", "a.json", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match=message):
        args.func(args)


def test_the_grasp_executor_drives_the_simulated_suction_cup():
    """The ROS executor's core runs the MuJoCo gripper through its backend interface: the
    same approach -> vacuum -> grasp -> retreat sequence a MoveIt cell gets."""
    from dense_descriptor_ros.execution import ExecutionResult, ExecutorConfig, GraspExecutor
    from dense_descriptor_ros.grasping.workspace import WorkspaceBox

    cell, gripper = _cell_with_box("suction")
    box_z = cell.object_poses()[TEA.instance_id][2, 3]
    workspace = WorkspaceBox(np.array([-0.3, -0.25, 0.0]), np.array([0.3, 0.25, 0.5]))
    executor = GraspExecutor(gripper, vacuum=gripper, config=ExecutorConfig(
        approach_distance=0.05, retreat_distance=0.1, workspace=workspace))
    assert executor.execute_suction(_top_pose(offset=(0.0, 0.0, -0.005)), confidence=0.9)
    assert executor.wait(60.0)
    report = executor.get_report()
    assert report.result == ExecutionResult.SUCCEEDED, report.detail
    assert gripper.held_object() == TEA.instance_id
    assert cell.object_poses()[TEA.instance_id][2, 3] > box_z + 0.08  # lifted by the retreat
    # the refusal path moves nothing
    before = gripper.commanded_pose.position.copy()
    assert not executor.execute_suction(_top_pose(offset=(0.0, 0.0, 0.6)), confidence=0.9)
    assert executor.get_result() == ExecutionResult.REJECTED_OUTSIDE_WORKSPACE
    assert np.allclose(gripper.commanded_pose.position, before)


def test_compare_trials_names_every_differing_trial_and_field(tmp_path, capsys):
    def run(confidences: list[float], seed: int = 0) -> dict:
        results = [{"index": i, "success": c > 0.2, "face": "tea_box/+z", "confidence": c,
                    "timings_ms": {"plan": 100.0 + i}} for i, c in enumerate(confidences)]
        return {"gripper": "suction", "object_type": "tea_box", "seed": seed, "size": [48, 64],
                "trials": len(results), "results": results}

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(run([0.3, 0.1, 0.4])))
    second.write_text(json.dumps(run([0.3, 0.25, 0.4])))  # other timings are no difference
    args = argparse.Namespace(first=first, second=second)
    assert sim_pick.run_compare_trials(args) == 1
    printed = capsys.readouterr().out
    assert "trial 1: confidence: 0.1 / 0.25, success: False / True" in printed
    assert "2 of 3 trials identical" in printed
    second.write_text(json.dumps(run([0.3, 0.1, 0.4])))
    assert sim_pick.run_compare_trials(args) == 0
    second.write_text(json.dumps(run([0.3, 0.1, 0.4], seed=1)))
    with pytest.raises(ValueError, match="differ in seed"):
        sim_pick.run_compare_trials(args)
