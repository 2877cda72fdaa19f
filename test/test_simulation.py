"""Simulated cell: determinism, metric depth, camera conventions, ground-truth correspondences,
dataset formats and the ``ddr sim dataset`` command."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from dense_descriptor_ros.cli import sim as sim_cli
from dense_descriptor_ros.data import photos
from dense_descriptor_ros.data.rgbd import load_sequence, reproject_correspondences
from dense_descriptor_ros.geometry.camera import backproject, project, transform_points
from dense_descriptor_ros.simulation.experiments import datasets
from dense_descriptor_ros.simulation.world import camera, scene, textures
from dense_descriptor_ros.simulation.world.cell import BinCell
from dense_descriptor_ros.simulation.world.objects import EXTRA_VARIANTS, OBJECT_TYPES, catalogue, sample_instances

SIZE = datasets.Size(96, 128)


def _frame(seed: int):
    rng = np.random.default_rng(seed)
    with datasets._open_cell(rng, SIZE, "all", objects=(4, 5)) as cell:
        return cell.render()


def test_catalogue_has_enough_types_and_a_held_out_split():
    assert len(OBJECT_TYPES) >= 12
    train, test = {i.instance_id for i in catalogue("train")}, {i.instance_id for i in catalogue("test")}
    assert train and test and not train & test
    assert {i.type.name for i in catalogue("test")} == {t.name for t in OBJECT_TYPES}
    with pytest.raises(ValueError, match="object set"):
        catalogue("validation")


def test_train_wide_adds_products_labelled_from_more_photos_and_keeps_the_others(monkeypatch):
    train, test, wide = catalogue("train"), catalogue("test"), catalogue("train-wide")
    assert len(wide) == len(train) + EXTRA_VARIANTS * len(OBJECT_TYPES)
    assert set(train) < set(wide) and not {i.instance_id for i in wide} & {i.instance_id for i in test}
    assert len({i.instance_id for i in wide}) == len(wide)
    extra = [i for i in wide if i.extra]
    assert min(i.instance_id for i in extra) > max(i.instance_id for i in catalogue("all"))
    used = []
    real_load = textures.load_photo
    monkeypatch.setattr(textures, "load_photo", lambda name: used.append(name) or real_load(name))
    for instance in train:
        scene.instance_texture.__wrapped__(instance, 32)
    assert used and not set(used) & set(textures.EXTRA_LABEL_PHOTOS)  # old labels: old photos only
    used.clear()
    for instance in extra:
        scene.instance_texture.__wrapped__(instance, 32)
    assert set(used) >= set(textures.EXTRA_LABEL_PHOTOS)
    assert set(textures.EXTRA_LABEL_PHOTOS) <= set(photos.licence_record())


@pytest.mark.parametrize("angle, azimuth", [(0.0, 0.0), (35.0, 0.0), (20.0, 130.0)])
def test_a_tilted_camera_still_looks_at_the_bin_centre(angle, azimuth):
    pose = camera.swung_about(scene.overhead_camera_pose(), datasets.BIN_CENTRE, datasets._horizontal(azimuth), angle)
    axis = pose[:3, 2]
    assert np.degrees(np.arccos(-axis[2])) == pytest.approx(angle, abs=1e-6)  # angle from straight down
    to_centre = datasets.BIN_CENTRE - pose[:3, 3]
    assert np.allclose(to_centre / np.linalg.norm(to_centre), axis, atol=1e-9)
    assert np.linalg.norm(to_centre) == pytest.approx(scene.OVERHEAD_HEIGHT - datasets.BIN_CENTRE[2])


def test_unordered_recordings_each_get_their_own_tilted_camera(tmp_path):
    tilted = datasets.generate_unordered(tmp_path / "tilted", 3, 0, SIZE, frames_per_scene=2, tilt=35.0)
    upright = datasets.generate_unordered(tmp_path / "upright", 3, 0, SIZE, frames_per_scene=2)
    angles = [f["camera_tilt_deg"] for f in json.loads((tilted / "metadata.json").read_text())["frames"]]
    assert angles[0] == angles[1] != angles[2] and all(0 < a <= 35 for a in angles)
    assert {f["camera_tilt_deg"] for f in json.loads((upright / "metadata.json").read_text())["frames"]} == {0}
    change = []  # the same heaps, seen from other mounts: more tilt, more change
    for name in ("000000.png", "000002.png"):
        a, b = (np.asarray(Image.open(folder / name), float) for folder in (tilted, upright))
        change.append(np.abs(a - b).mean())
    assert angles[0] > angles[2] and change[0] > 10 and 0 < change[1] < change[0]
    with pytest.raises(ValueError, match="tilt"):
        datasets.generate_unordered(tmp_path / "bad", 1, 0, SIZE, tilt=70.0)


def test_renders_are_deterministic_for_a_seed():
    a, b, c = _frame(3), _frame(3), _frame(4)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth)
    assert np.array_equal(a.segmentation, b.segmentation)
    assert not np.array_equal(a.rgb, c.rgb)
    assert not np.array_equal(a.segmentation, c.segmentation)


def test_depth_is_metric_and_camera_pose_follows_the_optical_frame():
    cube = next(i for i in catalogue() if i.type.name == "cube_box")
    spec = scene.SceneSpec((cube,), background_seed=1, max_width=SIZE.width, max_height=SIZE.height)
    with BinCell(spec, SIZE.width, SIZE.height) as cell:
        pose = np.eye(4)
        pose[:3, 3] = [0.1, -0.05, scene.BIN_FLOOR_Z + 0.04]
        cell.set_object_pose(cube.instance_id, pose)
        frame = cell.render()
    # overhead camera: optical z points down, straight above the bin
    assert np.allclose(frame.T_world_camera[:3, 2], [0, 0, -1], atol=1e-6)
    assert frame.T_world_camera[2, 3] == pytest.approx(scene.OVERHEAD_HEIGHT)
    # bin-floor pixels back-project onto the floor's known height
    h, w = frame.depth.shape
    ys, xs = np.mgrid[0:h, 0:w]
    xy = np.stack([xs.ravel(), ys.ravel()], -1)
    world = transform_points(frame.T_world_camera, backproject(frame.intrinsics, xy, frame.depth.ravel()))
    hx, hy = scene.BIN_HALF_SIZE
    floor = (frame.segmentation.ravel() == 0) & (np.abs(world[:, 0]) < hx - 0.03) & (np.abs(world[:, 1]) < hy - 0.03)
    assert floor.sum() > 500
    assert np.abs(world[floor, 2] - scene.BIN_FLOOR_Z).max() < 0.002
    # the cube's top-face centre projects to where the mask shows the cube, at the right depth
    top = np.array([[0.1, -0.05, scene.BIN_FLOOR_Z + 0.08]])
    pixel, z = project(frame.intrinsics, transform_points(np.linalg.inv(frame.T_world_camera), top))
    col, row = np.round(pixel[0]).astype(int)
    assert frame.segmentation[row, col] == cube.instance_id
    assert frame.depth[row, col] == pytest.approx(z[0], abs=0.002)
    assert pixel[0, 0] > frame.intrinsics.cx and pixel[0, 1] > frame.intrinsics.cy  # +x right, -y down


def _agreement(frame_a, frame_b, queries, targets, visible, ids, shift=0.0):
    """Fractions of visible points whose object id and (same-lighting) colour agree in B."""
    q = np.round(queries[visible]).astype(int)
    t = np.round(targets[visible] + shift).astype(int)
    t = np.clip(t, 0, [frame_b.rgb.shape[1] - 1, frame_b.rgb.shape[0] - 1])
    same_id = frame_b.segmentation[t[:, 1], t[:, 0]] == ids[visible]
    blur_a = ndimage.gaussian_filter(frame_a.rgb.astype(float), (1, 1, 0))
    blur_b = ndimage.gaussian_filter(frame_b.rgb.astype(float), (1, 1, 0))
    colour_a = blur_a[q[:, 1], q[:, 0]]
    best = np.full(len(q), np.inf)  # best match within one pixel: targets are sub-pixel
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            yy = np.clip(t[:, 1] + dy, 0, blur_b.shape[0] - 1)
            xx = np.clip(t[:, 0] + dx, 0, blur_b.shape[1] - 1)
            best = np.minimum(best, np.abs(blur_b[yy, xx] - colour_a).max(axis=1))
    return same_id.mean(), (best <= 40).mean()


def test_ground_truth_correspondences_on_an_rgbd_sequence_pair():
    size = datasets.Size(120, 160)
    ids_ok, colours_ok, shifted = [], [], []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        with datasets._open_cell(rng, size, "all", flat_lighting=True, objects=(6, 8)) as cell:
            frames = datasets.render_sequence(cell, rng, 4)
            q, t, v, ids = datasets.keypoint_pairs(frames[0], frames[3], cell.instance_ids, rng, 10, False)
        assert v.sum() >= 20
        i, c = _agreement(frames[0], frames[3], q, t, v, ids)
        ids_ok.append(i), colours_ok.append(c)
        shifted.append(_agreement(frames[0], frames[3], q, t, v, ids, shift=4.0)[1])
    assert min(ids_ok) == 1.0 and min(colours_ok) > 0.99
    assert max(shifted) < 0.9  # the colour test does catch targets that are off by a few pixels


def test_ground_truth_correspondences_on_cross_scene_pairs():
    # re-oriented objects are seen at other texture mip levels: objects need a few pixels to compare
    size = datasets.Size(240, 320)
    agree, total, shifted = [], 0, []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        frame_a, frame_b, shared = datasets.cross_scene_pair(rng, size, "all", flat_lighting=True)
        assert frame_a.object_poses.keys() != frame_b.object_poses.keys() or not np.array_equal(
            frame_a.rgb, frame_b.rgb)
        q, t, v, ids = datasets.keypoint_pairs(frame_a, frame_b, shared, rng, 10, True)
        assert set(ids.tolist()) <= set(shared)
        if v.sum():
            i, c = _agreement(frame_a, frame_b, q, t, v, ids)
            agree.append((i, c, v.sum()))
            shifted.append(_agreement(frame_a, frame_b, q, t, v, ids, shift=4.0)[1])
        total += v.sum()
    assert total >= 20
    weights = np.array([n for _, _, n in agree], float)
    assert np.average([i for i, _, _ in agree], weights=weights) == 1.0
    assert np.average([c for _, c, _ in agree], weights=weights) > 0.99
    assert np.average(shifted, weights=weights) < 0.9


def test_a_target_is_visible_only_inside_the_pixel_range_the_rest_of_the_project_accepts():
    """A target at x = -0.3 lies on pixel 0's footprint but outside 0 <= x <= W - 1, which
    calibration and the keypoint database refuse: the pair generator must not call it visible."""
    from dense_descriptor_ros.geometry.camera import Intrinsics
    from dense_descriptor_ros.simulation.experiments.correspondence import correspondences
    from dense_descriptor_ros.simulation.world.render import RenderedFrame

    height, width = 16, 20
    intrinsics = Intrinsics(100.0, 100.0, 9.5, 7.5, width, height)

    def plane_seen_from(x: float) -> RenderedFrame:  # a flat object (id 1) one metre below the camera
        pose = np.eye(4)
        pose[0, 3] = x
        return RenderedFrame(np.zeros((height, width, 3), np.uint8), np.ones((height, width), np.float32),
                             np.ones((height, width), np.uint16), intrinsics, pose)

    # B's camera 2.3 cm to the right: every point appears 2.3 px further left
    targets, visible = correspondences(plane_seen_from(0.0), plane_seen_from(0.023),
                                       np.array([[2.0, 8.0], [5.0, 8.0]]), follow_objects=False)
    np.testing.assert_allclose(targets, [[-0.3, 8.0], [2.7, 8.0]], atol=1e-6)
    assert visible.tolist() == [False, True]


def test_rgbd_sequence_format_round_trips(tmp_path):
    rng = np.random.default_rng(7)
    with datasets._open_cell(rng, SIZE, "train", objects=(3, 4)) as cell:
        frames = datasets.render_sequence(cell, rng, 3)
    path = datasets.write_rgbd_sequence(tmp_path / "seq", frames)
    meta = json.loads(path.read_text())
    assert meta["format"] == "ddr-rgbd-sequence" and meta["version"] == 1 and meta["depth_scale"] == 0.001
    assert meta["intrinsics"] == frames[0].intrinsics.to_dict()
    for entry, frame in zip(meta["frames"], frames):
        rgb = np.asarray(Image.open(tmp_path / "seq" / entry["rgb"]))
        depth = np.asarray(Image.open(tmp_path / "seq" / entry["depth"]))
        mask = np.asarray(Image.open(tmp_path / "seq" / entry["mask"]))
        assert np.array_equal(rgb, frame.rgb) and np.array_equal(mask, frame.segmentation)
        assert np.abs(depth * 0.001 - frame.depth).max() <= 0.0005 + 1e-6
        assert np.allclose(entry["T_world_camera"], frame.T_world_camera)


def test_rearranged_sequences_carry_correspondences_across_scenes(tmp_path):
    # Two scenes sharing objects, written as one sequence with object poses and read back:
    # the on-disk correspondences land on the same object and the same colour.
    agree, total = [], 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        frame_a, frame_b, shared = datasets.cross_scene_pair(rng, datasets.Size(240, 320), "all",
                                                             flat_lighting=True)
        sequence = load_sequence(datasets.write_rgbd_sequence(tmp_path / str(seed), [frame_a, frame_b],
                                                              shared).parent)
        assert sequence.rearranged and sequence.frames[1].intrinsics == frame_b.intrinsics
        q, _, _, ids = datasets.keypoint_pairs(frame_a, frame_b, shared, rng, 10, True)
        targets, visible = reproject_correspondences(sequence.posed_depth(0), sequence.posed_depth(1), q)
        assert set(ids[visible].tolist()) <= set(shared)
        if visible.sum():
            agree.append((*_agreement(frame_a, frame_b, q, targets, visible, ids), visible.sum()))
        total += visible.sum()
    assert total >= 20
    weights = np.array([n for _, _, n in agree], float)
    assert np.average([i for i, _, _ in agree], weights=weights) == 1.0
    assert np.average([c for _, c, _ in agree], weights=weights) > 0.99


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sim_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("kind,extra", [("unordered", ["--hands"]), ("rgbd-sequences", ["--frames", "2"]),
                                        ("rearranged-sequences", ["--scenes", "2", "--views", "2"]),
                                        ("cross-scene-pairs", []), ("invariance", [])])
def test_ddr_sim_dataset_writes_each_kind(tmp_path, kind, extra):
    out = tmp_path / kind
    assert _run_cli(["sim", "dataset", "--kind", kind, "--out", str(out), "--count", "1",
                     "--size", "64x80", "--seed", "2", *extra]) == 0
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["seed"] == 2 and metadata["texture_licences"]
    if kind == "unordered":
        image = Image.open(out / metadata["frames"][0]["image"])
        assert image.size == (80, 64) and image.mode == "RGB"
    elif kind == "rgbd-sequences":
        sequence = json.loads((out / "sequence_0000" / "sequence.json").read_text())
        assert len(sequence["frames"]) == 2
        assert Image.open(out / "sequence_0000" / sequence["frames"][1]["depth"]).mode in ("I;16", "I")
    elif kind == "rearranged-sequences":
        sequence = load_sequence(out / "sequence_0000")
        assert len(sequence.frames) == 4 and sequence.rearranged
        tracked = [set(frame.object_poses) for frame in sequence.frames]
        assert tracked[0] == tracked[3] and 5 <= len(tracked[0]) <= 9  # the same objects in both bins
        masks = [sequence.load_mask(k, "test") for k in (0, 2)]
        assert not np.array_equal(*masks)  # the second bin is another drop
    else:
        pairs = json.loads((out / "pairs.json").read_text())["pairs"]
        assert pairs
        for pair in pairs:
            assert (out / pair["image_a"]).exists() and (out / pair["image_b"]).exists()
            assert len(pair["queries"]) == len(pair["targets"]) == len(pair["visible"])
        if kind == "invariance":
            assert {p["meta"]["kind"] for p in pairs} == {"rotation", "zoom", "viewpoint"}
            zero = next(p for p in pairs if p["meta"]["kind"] == "rotation" and p["meta"]["magnitude"] == 0)
            visible = np.array(zero["visible"])
            assert visible.mean() > 0.9  # the identical view: every query maps onto itself
            assert np.allclose(np.array(zero["targets"])[visible], np.array(zero["queries"])[visible], atol=0.01)


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError, match="HEIGHTxWIDTH"):
        sim_cli.sim_size("640")
    with pytest.raises(argparse.ArgumentTypeError, match="between 16 and 2048"):
        sim_cli.sim_size("8x4000")
    with pytest.raises(ValueError, match="--count"):
        _run_cli(["sim", "dataset", "--kind", "unordered", "--out", str(tmp_path), "--count", "0"])
    with pytest.raises(ValueError, match="two or more frames"):
        _run_cli(["sim", "dataset", "--kind", "rearranged-sequences", "--out", str(tmp_path), "--scenes", "1",
                  "--views", "1"])
    with pytest.raises(ValueError, match="cannot draw"):
        sample_instances(np.random.default_rng(0), 100, "test")
