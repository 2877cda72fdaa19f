"""heatmap_node on real DDS: annotation by both click paths, services, grasps, bad frames skipped."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dense_descriptor_ros.geometry.camera import backproject, transform_points
from dense_descriptor_ros.grasping.appearance import appearance_weights, colour_signature
from dense_descriptor_ros.grasping import EmptyDatabaseError, KeypointDatabase, WorkspaceBox, fused_heatmap, suction_grasp
from dense_descriptor_ros.model import DescriptorModel, load_checkpoint
from dense_descriptor_ros.model.checkpoint import file_hash
from grasp_scene import CAMERA, CAMERA_POSE, DEPTH, RGB, T_WORLD_CAMERA, CameraProbe, make_checkpoint

pytestmark = pytest.mark.ros

WORKSPACE = ([-1.0, -1.0, -0.5], [1.0, 1.0, 1.0])
# Cell centres of the stride-8 grid (pixel 8 c + 3.5), so a stored descriptor is a grid vector.
MOUSE_PIXEL = (35.5, 19.5)
RVIZ_PIXEL = (11.5, 27.5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("model"))


def start(ros, checkpoint: Path, database: Path, **parameters):
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.heatmap_node import HeatmapNode

    values = {"database": str(database), "model_path": str(checkpoint), "object": "box",
              "target_frame": "world", "camera_pose": CAMERA_POSE, "workspace_min": WORKSPACE[0],
              "workspace_max": WORKSPACE[1], **parameters}
    node = ros.add(HeatmapNode(context=ros.context,
                               parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]))
    probe = CameraProbe(ros, checkpoint)
    from geometry_msgs.msg import Point, PointStamped, PoseStamped
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32

    probe.grasps, probe.overlays, probe.confidences = [], [], []
    probe.grasp_sub = probe.node.create_subscription(PoseStamped, "grasp", probe.grasps.append, 10)
    probe.node.create_subscription(Image, "heatmap/overlay", probe.overlays.append, 10)
    probe.node.create_subscription(Float32, "grasp/confidence", probe.confidences.append, 10)
    probe.mouse_pub = probe.node.create_publisher(Point, "heatmap/overlay_mouse_left", 10)
    probe.rviz_pub = probe.node.create_publisher(PointStamped, "/clicked_point", 10)
    ros.wait_matched(probe.pubs["depth"], node.inputs.frames.subscriptions["depth"])
    ros.wait_matched(node.grasp_pub, probe.grasp_sub)
    ros.wait_matched(probe.mouse_pub, node.clicks.pixel_sub)
    ros.wait_matched(probe.rviz_pub, node.clicks.point_sub)
    return node, probe


def feed_until(ros, probe, node, messages, done, timeout_s: float = 5.0) -> bool:
    return ros.spin_until(done, timeout_s, every=lambda: probe.publish(messages))


def click(ros, publisher, msg, database: Path, count: int) -> None:
    """Publish one click (reliable, matched) and wait until the database holds ``count`` keypoints."""
    publisher.publish(msg)
    assert ros.spin_until(lambda: len(stored(database)) == count, 5.0), "the click was not stored"


def stored(database: Path) -> list:
    with KeypointDatabase(database) as db:
        return db.records()


def test_clicks_annotate_and_a_frame_gives_the_core_grasp(ros, checkpoint: Path, tmp_path: Path) -> None:
    from geometry_msgs.msg import Point, PointStamped

    database = tmp_path / "prefs.db"
    node, probe = start(ros, checkpoint, database)
    first = probe.frame()
    # Empty database: the plain image is published to click on, and no grasp.
    assert feed_until(ros, probe, node, first, lambda: node.inputs.frames.latest is not None and probe.overlays)
    np.testing.assert_array_equal(np.frombuffer(bytes(probe.overlays[-1].data), np.uint8).reshape(RGB.shape), RGB)
    assert probe.grasps == [] and node.processed == 0

    # rqt_image_view click on the overlay, in pixels.
    click(ros, probe.mouse_pub, Point(x=MOUSE_PIXEL[0], y=MOUSE_PIXEL[1]), database, 1)
    # RViz Publish Point in the target frame: the 3D point on the surface under RVIZ_PIXEL.
    surface = backproject(CAMERA, np.array([RVIZ_PIXEL]), np.array([DEPTH[27, 11]], dtype=float))
    world = transform_points(T_WORLD_CAMERA, surface)[0]
    point = PointStamped()
    point.header.frame_id = "world"
    point.point.x, point.point.y, point.point.z = (float(v) for v in world)
    click(ros, probe.rviz_pub, point, database, 2)

    model, _ = load_checkpoint(checkpoint)
    records = sorted(stored(database), key=lambda r: r.id)
    assert [r.object for r in records] == ["box", "box"]
    np.testing.assert_allclose([r.xy for r in records], [MOUSE_PIXEL, RVIZ_PIXEL], atol=1e-6)
    assert {r.model_hash for r in records} == {file_hash(checkpoint)}
    expected = DescriptorModel.of(model).describe_pixels(RGB, np.array([MOUSE_PIXEL, RVIZ_PIXEL]))
    np.testing.assert_allclose(np.stack([r.descriptor for r in records]), expected, atol=1e-5)
    with KeypointDatabase(database) as db:  # the source image is stored for re-embedding
        np.testing.assert_array_equal(db.image(records[0].image_id), RGB)

    # A new frame now yields the grasp the core computes for it, in the world frame.
    second = probe.frame()
    assert feed_until(ros, probe, node, second, lambda: any(
        g.header.stamp == second["image"].header.stamp for g in probe.grasps))
    grasp = next(g for g in probe.grasps if g.header.stamp == second["image"].header.stamp)
    ros.spin_until(lambda: False, 0.3)  # Float32 has no stamp: let this frame's confidence arrive
    keypoints = torch.from_numpy(expected)
    grid = torch.from_numpy(probe.grid).permute(2, 0, 1)[None]
    signature = colour_signature(RGB, np.array([MOUSE_PIXEL, RVIZ_PIXEL]))  # the node's colour check
    weights = appearance_weights(RGB, {"box": signature}, tuple(grid.shape[-2:]),
                                 depth=DEPTH.astype(float))["box"]
    heatmap = fused_heatmap(grid, keypoints, (RGB.shape[0], RGB.shape[1])).with_weights(weights)
    core = suction_grasp(heatmap, DEPTH.astype(float), CAMERA, T_target_camera=T_WORLD_CAMERA, target_frame="world",
                         workspace=WorkspaceBox(*map(tuple, WORKSPACE)))
    assert core.ok and grasp.header.frame_id == "world"
    p, o = grasp.pose.position, grasp.pose.orientation
    np.testing.assert_allclose([p.x, p.y, p.z], core.pose_target.position, atol=1e-6)
    np.testing.assert_allclose(np.abs(np.dot([o.x, o.y, o.z, o.w], core.pose_target.orientation)), 1.0, atol=1e-6)
    assert min(np.hypot(*(core.pixel - np.array(pixel))) for pixel in (MOUSE_PIXEL, RVIZ_PIXEL)) < 1.0
    assert probe.confidences[-1].data == pytest.approx(core.confidence, abs=1e-6)


def test_services_undo_clear_save_reload(ros, checkpoint: Path, tmp_path: Path) -> None:
    from geometry_msgs.msg import Point
    from std_srvs.srv import Trigger

    database = tmp_path / "prefs.db"
    node, probe = start(ros, checkpoint, database)
    clients = {name: probe.node.create_client(Trigger, f"/heatmap_node/{name}")
               for name in ("undo", "clear", "save", "reload")}
    assert feed_until(ros, probe, node, probe.frame(), lambda: node.inputs.frames.latest is not None)
    for count, pixel in enumerate(((3.5, 3.5), (19.5, 11.5), (43.5, 35.5)), start=1):
        click(ros, probe.mouse_pub, Point(x=pixel[0], y=pixel[1]), database, count)
    assert node.count() == 3

    answer = probe.call(clients["undo"])
    assert answer.success and node.count() == 2
    assert sorted(r.xy for r in stored(database)) == [(3.5, 3.5), (19.5, 11.5)]

    answer = probe.call(clients["save"])
    exported = database.with_suffix(".json")
    assert answer.success and str(exported) in answer.message
    document = json.loads(exported.read_text())
    assert document["format"] == "ddr-keypoint-db" and len(document["keypoints"]) == 2

    with KeypointDatabase(database) as other:  # another process annotates (ddr annotate)
        model, _ = load_checkpoint(checkpoint)
        other.add_preferences("box", RGB, np.array([[27.5, 19.5]]),
                              DescriptorModel.of(model).describe_pixels(RGB, np.array([[27.5, 19.5]])), file_hash(checkpoint), "cli")
    assert node.count() == 2
    answer = probe.call(clients["reload"])
    assert answer.success and node.count() == 3

    answer = probe.call(clients["clear"])
    assert answer.success and "removed 3" in answer.message and node.count() == 0
    with KeypointDatabase(database) as db, pytest.raises(EmptyDatabaseError):
        db.preference_descriptors(file_hash(checkpoint))
    assert not probe.call(clients["undo"]).success  # nothing left to undo


def test_malformed_frames_are_skipped_and_the_next_good_one_answered(ros, checkpoint: Path,
                                                                      tmp_path: Path) -> None:
    database = tmp_path / "prefs.db"
    model, _ = load_checkpoint(checkpoint)
    with KeypointDatabase(database) as db:
        db.add_preferences("box", RGB, np.array([MOUSE_PIXEL]), DescriptorModel.of(model).describe_pixels(RGB, np.array([MOUSE_PIXEL])),
                           file_hash(checkpoint), "test")
    node, probe = start(ros, checkpoint, database)

    def answered(messages) -> bool:
        return any(g.header.stamp == messages["image"].header.stamp for g in probe.grasps)

    bad_sets = [probe.frame(depth=RGB, depth_encoding="rgb8"),                 # wrong encoding
                probe.frame(depth=DEPTH[:32, :32].copy()),                       # size mismatch
                probe.frame(depth=np.full_like(DEPTH, np.nan))]                  # no valid depth
    for bad in bad_sets:
        before = node.inputs.frames.malformed
        feed_until(ros, probe, node, bad, lambda: node.inputs.frames.malformed > before, timeout_s=3.0)
        assert node.inputs.frames.malformed > before
        ros.spin_until(lambda: False, 0.2)
        assert not answered(bad)
    good = probe.frame()
    assert feed_until(ros, probe, node, good, lambda: answered(good))
    assert node.processed >= 1


def test_heatmaps_use_the_models_calibrated_eta_unless_one_is_set(ros, checkpoint: Path, tmp_path: Path) -> None:
    import shutil

    from dense_descriptor_ros.model.descriptor_model import DEFAULT_ETA
    from dense_descriptor_ros.model.checkpoint import update_metadata

    node, _ = start(ros, checkpoint, tmp_path / "a.db")
    assert node.inputs.settings.eta == DEFAULT_ETA  # an uncalibrated model
    calibrated = update_metadata(shutil.copy(checkpoint, tmp_path / "calibrated.pt"), heatmap_eta=0.7)
    node, _ = start(ros, calibrated, tmp_path / "b.db")
    assert node.inputs.settings.eta == 0.7
    node, _ = start(ros, calibrated, tmp_path / "c.db", eta=0.4)
    assert node.inputs.settings.eta == 0.4


def test_colour_check_parameters_reach_the_core(ros, checkpoint: Path, tmp_path: Path) -> None:
    from dense_descriptor_ros.grasping.appearance import AppearanceCheck

    node, _ = start(ros, checkpoint, tmp_path / "a.db")
    assert node.inputs.settings.appearance == AppearanceCheck.for_gripper("suction")
    assert node.inputs.settings.appearance.min_similarity == 0.85  # the jaw's gate is 0.7
    node, _ = start(ros, checkpoint, tmp_path / "b.db", appearance_radius=12.0, appearance_power=0.0,
                    appearance_min_similarity=0.0)
    assert node.inputs.settings.appearance == AppearanceCheck(radius=12.0, power=0.0, min_similarity=0.0)
    with KeypointDatabase(tmp_path / "b.db") as db:
        db.add_preferences("box", RGB, np.array([MOUSE_PIXEL]), np.ones((1, 16), np.float32), file_hash(checkpoint),
                           "test")
    node.load_planner()
    assert node.count() == 1 and node.planner.signatures == {}  # no ranking, no gate: descriptors alone
    with pytest.raises(ValueError, match="power must be >= 0"):
        start(ros, checkpoint, tmp_path / "c.db", appearance_power=-1.0)


def test_a_best_object_without_a_flat_footprint_is_grasped_on_the_next_one(ros, checkpoint: Path,
                                                                          tmp_path: Path) -> None:
    """The planner the simulated trials measure: the best-matching object straddles a depth step
    (no flat footprint for the cup), so the node grasps the next object, as `ddr sim pick` does."""
    from grasp_scene import H, W

    generator = torch.Generator().manual_seed(3)  # one random unit descriptor per cell: no look-alikes
    grid = torch.nn.functional.normalize(torch.randn(16, H // 8, W // 8, generator=generator), dim=0)
    edge, flat = (19.5, 19.5), (51.5, 27.5)  # cell centres: (row 2, column 2) and (row 3, column 6)

    def cell(pixel):
        return grid[:, int(pixel[1]) // 8, int(pixel[0]) // 8]

    depth = np.full((H, W), 0.5, np.float32)
    depth[:, :20] = 0.4  # a box top whose edge runs through the edge cell
    near_flat = torch.nn.functional.normalize(cell(flat) + 0.04 * cell(edge), dim=0)  # a little worse match
    database = tmp_path / "prefs.db"
    with KeypointDatabase(database) as db:
        for name, pixel, descriptor in (("a_edge", edge, cell(edge)), ("b_flat", flat, near_flat)):
            db.add_preferences(name, RGB, np.array([pixel]), descriptor.numpy()[None], file_hash(checkpoint), "test")
    node, probe = start(ros, checkpoint, database, cup_radius=0.01, min_confidence=0.1, appearance_power=0.0,
                        appearance_min_similarity=0.0)
    messages = probe.frame(depth=depth, grid=grid.permute(1, 2, 0).numpy())
    stamp = messages["image"].header.stamp
    assert feed_until(ros, probe, node, messages, lambda: any(g.header.stamp == stamp for g in probe.grasps)), \
        "no grasp: the node did not fall back to the next object"
    grasp = next(g for g in probe.grasps if g.header.stamp == stamp).pose.position
    expected = transform_points(T_WORLD_CAMERA, backproject(CAMERA, np.array([flat]), np.array([0.5])))[0]
    np.testing.assert_allclose([grasp.x, grasp.y, grasp.z], expected, atol=1e-4)


def test_seal_search_moves_the_grasp_into_the_face(ros, checkpoint: Path, tmp_path: Path) -> None:
    """``seal_search`` and ``flatness`` reach the planner: a peak 4 px from a box top's edge is
    grasped 3.5 px further in (23 mm; 30 mm at 0.4 m and fx 60 is a 5 px search)."""
    from grasp_scene import H, W

    grid = torch.nn.functional.normalize(torch.randn(16, H // 8, W // 8, generator=torch.Generator().manual_seed(3)),
                                         dim=0)
    peak = (11.5, 19.5)  # cell (row 2, column 1)
    depth = np.full((H, W), 0.5, np.float32)
    depth[:, :16] = 0.4  # the box top ends 4 px right of the peak
    database = tmp_path / "prefs.db"
    with KeypointDatabase(database) as db:
        db.add_preferences("box", RGB, np.array([peak]), grid[:, 2, 1].numpy()[None], file_hash(checkpoint), "test")
    node, probe = start(ros, checkpoint, database, seal_search=0.03, cup_radius=0.01, flatness=0.005,
                        min_confidence=0.1, appearance_power=0.0, appearance_min_similarity=0.0)
    assert (node.planner.config.seal_search, node.planner.config.flatness) == (0.03, 0.005)
    messages = probe.frame(depth=depth, grid=grid.permute(1, 2, 0).numpy())
    stamp = messages["image"].header.stamp
    assert feed_until(ros, probe, node, messages, lambda: any(g.header.stamp == stamp for g in probe.grasps))
    position = next(g for g in probe.grasps if g.header.stamp == stamp).pose.position
    at_peak, moved = (transform_points(T_WORLD_CAMERA, backproject(CAMERA, np.array([pixel]), np.array([0.4])))[0]
                      for pixel in (peak, (8.0, 19.0)))
    np.testing.assert_allclose([position.x, position.y, position.z], moved, atol=1e-4)
    assert np.linalg.norm(moved - at_peak) > 0.02


CAMERA_PERIOD_NS = 1_000_000_000 // 30


def annotated(checkpoint: Path, database: Path) -> None:
    """One grasp preference in ``database``, so every frame gives a heatmap."""
    model, _ = load_checkpoint(checkpoint)
    with KeypointDatabase(database) as db:
        db.add_preferences("box", RGB, np.array([MOUSE_PIXEL]),
                           DescriptorModel.of(model).describe_pixels(RGB, np.array([MOUSE_PIXEL])),
                           file_hash(checkpoint), "test")


def camera_frame(probe, k: int) -> dict:
    """Frame ``k`` of a 30 Hz camera: its messages stamped 100 s + k / 30 s."""
    messages = probe.frame()
    for msg in messages.values():
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(100_000_000_000 + k * CAMERA_PERIOD_NS, 1_000_000_000)
    return messages


def test_every_descriptor_of_a_30_hz_camera_gives_a_heatmap(ros, checkpoint: Path, tmp_path: Path) -> None:
    """The CPU fallback: colour and depth at 30 Hz, descriptors at 1.2 Hz, each 1 s after its
    frame (stamp time). /heatmap comes at the descriptor rate: one per descriptor, with its stamp
    (the last 8 colour frames alone had given none)."""
    from sensor_msgs.msg import Image

    annotated(checkpoint, tmp_path / "prefs.db")
    node, probe = start(ros, checkpoint, tmp_path / "prefs.db")
    heatmaps = []
    probe.node.create_subscription(Image, "heatmap", heatmaps.append, 10)
    received = []  # every message the node's synchronizer got, so none is published before the last arrived
    add = node.inputs.frames.sync.add
    node.inputs.frames.sync.add = lambda stream, stamp, item: (received.append(stream), add(stream, stamp, item))[1]
    late, described = 30, [0, 25, 50, 75]  # 1 s late, 1.2 Hz
    frames = [camera_frame(probe, k) for k in range(120)]
    for k, messages in enumerate(frames):
        probe.info_pub.publish(messages["camera_info"])
        sent = [("image", messages["image"]), ("depth", messages["depth"])]
        if k - late in described:
            sent.append(("descriptors", frames[k - late]["descriptors"]))
        for name, msg in sent:
            expected = len(received) + 1
            probe.pubs[name].publish(msg)
            assert ros.spin_until(lambda: len(received) == expected, 5.0), f"{name} of frame {k} did not arrive"
    assert ros.spin_until(lambda: len(heatmaps) == len(described), 5.0), f"{len(heatmaps)} heatmaps"
    assert [h.header.stamp for h in heatmaps] == [frames[k]["image"].header.stamp for k in described]


def test_frames_that_arrive_while_a_plan_runs_wait_for_their_descriptors(ros, checkpoint: Path,
                                                                        tmp_path: Path) -> None:
    """Launched at ~23 Hz, a plan took ~0.4 s: the 9 colour frames of that time came while the node
    was busy and a queue of 5 kept only the last, so a later descriptor of an earlier one found
    nothing. Here 30 frames (1 s at 30 Hz) arrive before the node spins."""
    from sensor_msgs.msg import Image

    annotated(checkpoint, tmp_path / "prefs.db")
    node, probe = start(ros, checkpoint, tmp_path / "prefs.db")
    heatmaps = []
    probe.node.create_subscription(Image, "heatmap", heatmaps.append, 10)
    frames = [camera_frame(probe, k) for k in range(30)]
    for messages in frames:
        for name in ("image", "depth"):
            probe.pubs[name].publish(messages[name])
    probe.info_pub.publish(frames[0]["camera_info"])
    ros.spin_until(lambda: False, 0.5)  # the node takes what waited
    probe.pubs["descriptors"].publish(frames[0]["descriptors"])  # the first frame's, 1 s late
    assert ros.spin_until(lambda: heatmaps, 5.0), "the first frame was dropped while the node was busy"
    assert heatmaps[0].header.stamp == frames[0]["image"].header.stamp
