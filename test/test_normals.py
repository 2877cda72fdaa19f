"""Surface normals from depth: the sparse query used for training pairs agrees with the
whole-image pass, and the same-surface test keeps only well-seen, agreeing points."""
import numpy as np

from dense_descriptor_ros.geometry.camera import Intrinsics, depth_image_to_points
from dense_descriptor_ros.geometry.normals import normals_at, seen_on_same_surface, surface_normals

INTR = Intrinsics(fx=60.0, fy=61.0, cx=24.5, cy=19.5, width=50, height=40)


def plane_depth(normal: np.ndarray, offset: float) -> np.ndarray:
    """Depth of the plane ``normal . p = offset`` along every pixel's ray."""
    rays = depth_image_to_points(INTR, np.ones((INTR.height, INTR.width)))
    return offset / (rays @ normal)


def test_tilted_plane_normal_everywhere_including_the_border():
    normal = np.array([0.3, -0.2, -1.0]) / np.linalg.norm([0.3, -0.2, -1.0])
    depth = plane_depth(normal, -1.0)
    rows = np.array([0, 0, 39, 39, 20, 7])
    cols = np.array([0, 49, 0, 49, 25, 33])
    assert np.allclose(normals_at(INTR, depth, rows, cols), normal, atol=1e-9)


def test_sparse_normals_equal_the_whole_image_pass_at_holes_and_steps():
    rng = np.random.default_rng(3)
    depth = 1.0 + 0.05 * rng.random((40, 50))
    depth[20:30, 10:25] += 0.2  # a box on the floor: one-sided steps at its edges
    depth[5, 7], depth[12, :], depth[33, 40] = np.nan, 0.0, np.inf
    rows, cols = np.mgrid[0:40, 0:50]
    full = surface_normals(INTR, depth)
    pick = rng.choice(rows.size, 300, replace=False)
    sparse = normals_at(INTR, depth, rows.ravel()[pick], cols.ravel()[pick])
    expected = full.reshape(-1, 3)[pick]
    assert np.array_equal(np.isnan(sparse), np.isnan(expected))
    assert np.allclose(np.nan_to_num(sparse), np.nan_to_num(expected))
    assert np.isnan(normals_at(INTR, depth, np.array([12, 5]), np.array([3, 7]))).all()
    box = np.ones((40, 50))
    box[20:30, 10:25] = 0.8
    box_edge = normals_at(INTR, box, np.array([20, 29]), np.array([15, 24]))
    assert np.allclose(box_edge, [0.0, 0.0, -1.0])  # the box top, not the step down to the floor


def test_same_surface_needs_agreement_and_a_square_view():
    facing = plane_depth(np.array([0.0, 0.0, -1.0]), -1.0)
    rows, cols = np.array([10, 20, 30]), np.array([10, 25, 40])
    toward_camera = np.tile([0.0, 0.0, -1.0], (3, 1))
    assert seen_on_same_surface(toward_camera, INTR, facing, rows, cols).all()
    sideways = np.tile([1.0, 0.0, 0.0], (3, 1))
    assert not seen_on_same_surface(sideways, INTR, facing, rows, cols).any()
    grazing_normal = np.array([0.0, -0.95, -0.312]) / np.linalg.norm([0.0, -0.95, -0.312])
    grazing = plane_depth(grazing_normal, -0.3)  # seen about 73 degrees off square mid-image
    rows = np.array([18, 19, 20])
    expected = np.tile(grazing_normal, (3, 1))
    assert np.allclose(normals_at(INTR, grazing, rows, cols), expected)
    assert not seen_on_same_surface(expected, INTR, grazing, rows, cols).any()
