"""Camera model, segmented depth and centroid on analytically rendered scenes."""

import numpy as np
import pytest
from dexmani_perception.camera import CameraModel, CameraModelError, RigidTransform
from dexmani_perception.geometry import (
    CentroidConfig,
    PerceptionInputError,
    SegmentedDepthConfig,
    depth_to_metres,
    estimate_centroid,
    segment_depth,
    sphere_surface_offset,
)
from perception_scenes import d435, look_at, render


# --- camera model ---------------------------------------------------------------------------
def test_back_projection_round_trips_with_a_known_intrinsic_matrix():
    cam = CameraModel(640, 480, 600.0, 610.0, 318.2, 242.7)
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-0.4, 0.4, 200), rng.uniform(-0.3, 0.3, 200), rng.uniform(0.3, 2.0, 200)]
    uv = cam.project(pts)
    # Against K directly: u = fx x/z + cx.
    assert np.allclose(uv[:, 0], 600.0 * pts[:, 0] / pts[:, 2] + 318.2)
    assert np.allclose(uv[:, 1], 610.0 * pts[:, 1] / pts[:, 2] + 242.7)
    assert np.allclose(cam.back_project(uv[:, 0], uv[:, 1], pts[:, 2]), pts, atol=1e-9)


def test_back_projection_round_trips_with_distortion():
    cam = CameraModel(640, 480, 600.0, 600.0, 320.0, 240.0, "plumb_bob", (0.08, -0.15, 0.001, -0.0008, 0.03))
    rng = np.random.default_rng(1)
    pts = np.c_[rng.uniform(-0.3, 0.3, 300), rng.uniform(-0.25, 0.25, 300), rng.uniform(0.5, 1.5, 300)]
    uv = cam.project(pts)
    undistorted = CameraModel(640, 480, 600.0, 600.0, 320.0, 240.0).project(pts)
    assert np.abs(uv - undistorted).max() > 1.0  # the distortion does something
    assert np.allclose(cam.back_project(uv[:, 0], uv[:, 1], pts[:, 2]), pts, atol=1e-6)


def test_ray_grid_matches_pixel_rays_and_scaling_keeps_the_field_of_view():
    cam = d435()
    grid = cam.ray_grid()
    assert grid.shape == (480, 640, 3)
    assert np.allclose(grid[100, 200], cam.pixel_rays(200, 100), atol=1e-6)
    small = cam.scaled(64, 48)
    assert small.fx == pytest.approx(61.5)
    # The image corners see the same directions at both resolutions (pixel corners: -0.5 and w - 0.5).
    assert np.allclose(small.pixel_rays(-0.5, -0.5), cam.pixel_rays(-0.5, -0.5), atol=1e-9)


def test_camera_model_refuses_bad_values():
    with pytest.raises(CameraModelError, match="focal"):
        CameraModel(640, 480, 0.0, 600.0, 320, 240)
    with pytest.raises(CameraModelError, match="principal point"):
        CameraModel(640, 480, 600.0, 600.0, 700, 240)
    with pytest.raises(CameraModelError, match="equidistant"):
        CameraModel(640, 480, 600.0, 600.0, 320, 240, "equidistant", (0.1, 0, 0, 0))
    with pytest.raises(CameraModelError, match="5 distortion"):
        CameraModel(640, 480, 600.0, 600.0, 320, 240, "plumb_bob", (0.1, 0.0))


def test_rigid_transform_quaternion_and_inverse():
    q = np.array([0.1, -0.3, 0.2, 0.9])
    q /= np.linalg.norm(q)
    t = RigidTransform.from_translation_quat_xyzw([0.1, 0.2, 0.3], q)
    assert np.allclose(t.quat_xyzw(), q)
    p = np.array([[0.3, -0.2, 1.0]])
    assert np.allclose(t.inverse().apply(t.apply(p)), p)
    with pytest.raises(ValueError, match="rotation"):
        RigidTransform(np.diag([1.0, 1.0, -1.0]))


# --- depth input ------------------------------------------------------------------------------
def test_depth_in_millimetres_and_invalid_values():
    mm = np.array([[0, 1000], [523, 65535]], dtype=np.uint16)
    assert np.allclose(depth_to_metres(mm), [[0, 1.0], [0.523, 65.535]])
    m = np.array([[np.nan, -1.0], [np.inf, 0.7]], dtype=np.float32)
    assert depth_to_metres(m).tolist() == [[0.0, 0.0], [0.0, pytest.approx(0.7)]]


# --- segmented depth ------------------------------------------------------------------------
def test_segmented_depth_keeps_exactly_the_mask_pixels():
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 1.0, (48, 64)).astype(np.float32)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:45] = True
    mask[12, 22] = False
    seg = segment_depth(depth, mask, SegmentedDepthConfig(out_width=64, out_height=48))
    assert np.array_equal(seg.mask, mask)
    assert np.array_equal(seg.depth_m[mask], depth[mask])
    assert np.all(seg.depth_m[~mask] == 0.0)


def test_segmented_depth_bins_area_background_and_hole_fill():
    depth = np.full((480, 640), 0.9, np.float32)
    mask = np.zeros((480, 640), bool)
    mask[100:200, 300:400] = True  # exactly cells rows 10..19, cols 30..39 at 64x48
    depth[mask] = 0.6
    depth[150:160, 350:360] = 0.0  # a hole inside the object: one whole cell
    depth[100:110, 300:305] = 0.7  # half of one cell nearer
    seg = segment_depth(depth, mask, SegmentedDepthConfig(background_m=-1.0))
    assert seg.depth_m.shape == (48, 64)
    assert seg.mask.sum() == 100 and seg.mask[10:20, 30:40].all()
    assert np.all(seg.depth_m[~seg.mask] == -1.0)
    assert seg.depth_m[15, 35] == pytest.approx(0.6)  # the hole takes the median object depth
    assert seg.depth_m[10, 30] == pytest.approx(0.65)  # mean of the valid depths in the cell
    # A cell that is less than half mask is background.
    mask2 = np.zeros_like(mask)
    mask2[0:4, 0:10] = True
    assert not segment_depth(depth, mask2).mask[0, 0]


def test_segmented_depth_fixed_crop_and_bad_crop():
    depth = np.full((480, 640), 0.8, np.float32)
    mask = np.zeros((480, 640), bool)
    mask[240:480, 320:640] = True
    cfg = SegmentedDepthConfig(out_width=32, out_height=24, crop_uv=(0.5, 0.5, 1.0, 1.0))
    seg = segment_depth(depth, mask, cfg)
    assert seg.mask.all() and np.allclose(seg.depth_m, 0.8)
    with pytest.raises(PerceptionInputError, match="stretch"):
        segment_depth(depth, mask, SegmentedDepthConfig(out_width=64, out_height=64))


# --- centroid -----------------------------------------------------------------------------------
@pytest.mark.parametrize("eye,center,radius", [
    ((0.6, 0.0, 0.4), (0.0, 0.05, 0.03), 0.03),
    ((0.8, 0.35, 0.55), (0.05, 0.0, 0.035), 0.035),
    ((0.4, -0.2, 0.3), (0.0, 0.0, 0.02), 0.02),
])
def test_sphere_centre_within_1mm_without_noise(eye, center, radius):
    cam = d435()
    pose = look_at(eye, (0, 0, 0))
    depth, ids = render(cam, pose, spheres=[(center, radius)], plane_z=center[2] - radius)
    res = estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(surface_offset_factor=1.0))
    assert res.valid, res.reason
    assert np.linalg.norm(res.position_m - center) < 1e-3
    assert res.confidence > 0.9
    # Without the push-back the visible surface is ~2/3 r nearer the camera: the correction matters.
    raw = estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(surface_offset="none"))
    assert np.linalg.norm(raw.position_m - center) > 0.5 * radius


def test_box_visible_face_centroid_within_1mm():
    """A box seen face-on: the visible-surface centroid is the front face's centre."""
    cam = d435()
    pose = look_at((0.7, 0.0, 0.0), (0.0, 0.0, 0.0), up=(0, 0, 1))
    half = np.array([0.03, 0.04, 0.025])
    depth, ids = render(cam, pose, boxes=[((0.0, 0.0, 0.0), half)])
    res = estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(surface_offset="none"))
    assert res.valid
    assert np.linalg.norm(res.position_m - [half[0], 0.0, 0.0]) < 1e-3
    assert res.pixel_uv[0] == pytest.approx(319.5, abs=0.6) and res.pixel_uv[1] == pytest.approx(239.5, abs=0.6)


def test_centroid_rejects_depth_outliers_and_holes():
    cam = d435()
    pose = look_at((0.6, 0.0, 0.4), (0, 0, 0))
    c, r = np.array([0.0, 0.0, 0.03]), 0.03
    depth, ids = render(cam, pose, spheres=[(c, r)], plane_z=0.0)
    mask = ids == 0
    clean = estimate_centroid(depth, mask, cam, pose)
    noisy = depth.copy()
    rng = np.random.default_rng(3)
    vv, uu = np.nonzero(mask)
    pick = rng.choice(len(vv), size=len(vv) // 20, replace=False)
    noisy[vv[pick], uu[pick]] = rng.uniform(0.1, 2.5, len(pick))  # 5% flying pixels anywhere in range
    hole = rng.choice(len(vv), size=len(vv) // 5, replace=False)
    noisy[vv[hole], uu[hole]] = 0.0  # 20% holes
    res = estimate_centroid(noisy, mask, cam, pose)
    assert res.valid
    assert np.linalg.norm(res.position_m - clean.position_m) < 2e-3
    assert res.confidence < clean.confidence


# --- bad input --------------------------------------------------------------------------------
def test_bad_inputs_raise_or_give_an_invalid_result_with_a_reason():
    cam = d435()
    pose = RigidTransform()
    depth = np.full((480, 640), 0.8, np.float32)
    mask = np.zeros((480, 640), bool)
    mask[200:240, 300:340] = True
    with pytest.raises(PerceptionInputError, match="mask shape"):
        estimate_centroid(depth, mask[:, :320], cam, pose)
    with pytest.raises(PerceptionInputError, match="mask shape"):
        segment_depth(depth, mask[:100])
    with pytest.raises(CameraModelError, match="320x240"):
        estimate_centroid(depth[::2, ::2], mask[::2, ::2], cam, pose)  # intrinsics of another size
    empty = estimate_centroid(depth, np.zeros_like(mask), cam, pose)
    assert not empty.valid and "empty mask" in empty.reason and np.all(np.isnan(empty.position_m))
    no_depth = estimate_centroid(np.zeros_like(depth), mask, cam, pose)
    assert not no_depth.valid and "valid depth" in no_depth.reason and np.all(np.isnan(no_depth.position_m))
    nan_depth = estimate_centroid(np.full_like(depth, np.nan), mask, cam, pose)
    assert not nan_depth.valid
    no_tf = estimate_centroid(depth, mask, cam, None)
    assert not no_tf.valid and "transform" in no_tf.reason
    assert np.all(np.isnan(no_tf.position_m)) and np.all(np.isfinite(no_tf.position_camera_m))
    edge = mask.copy()
    edge[200:240, 0:5] = True
    cut = estimate_centroid(depth, edge, cam, pose)
    assert not cut.valid and "border" in cut.reason


def test_sphere_offset_model():
    assert sphere_surface_offset(20.0, 0.0) == pytest.approx(2 / 3)
    # Leaving out the rim (near the centre's depth) moves the mean visible depth forward.
    assert sphere_surface_offset(20.0, 2.0) > sphere_surface_offset(20.0, 0.0)


# --- support plane: the height of a resting object ----------------------------------------------
CYL_CENTRE, CYL_RADIUS, CYL_HALF_HEIGHT = np.array([0.0, 0.0, 0.06]), 0.02, 0.06  # upright 12 cm cylinder on z = 0


@pytest.mark.parametrize("eye", [
    (0.2, 0.05, 0.62),  # from above, ~70 deg down (the head camera's view): the top face dominates
    (0.7, 0.2, 0.45),  # oblique, ~28 deg down (the third-view tripod's)
    (0.7, 0.0, 0.25),  # from the side, ~15 deg down
])
def test_upright_cylinder_centre_within_3mm(eye):
    cam = d435()
    pose = look_at(eye, CYL_CENTRE)
    depth, ids = render(cam, pose, cylinders=[(CYL_CENTRE, CYL_RADIUS, CYL_HALF_HEIGHT)], plane_z=0.0)
    res = estimate_centroid(depth, ids == 0, cam, pose)
    assert res.valid, res.reason
    assert np.linalg.norm(res.position_m - CYL_CENTRE) < 3e-3
    s = res.support
    assert s is not None and s.weight == 1.0 and s.inlier_fraction > 0.9
    assert np.allclose(pose.rotation @ s.normal_camera, [0, 0, 1], atol=1e-3)  # the table's normal, in the base frame
    assert s.top_height_m == pytest.approx(2 * CYL_HALF_HEIGHT, abs=1e-3) and s.contact_height_m < 5e-3


def test_tall_object_seen_from_above_needs_the_support_plane():
    """The sphere model alone puts the centre of an upright cylinder seen from above just under
    its top face; with the support plane it is within 3 mm, also with the depth noise model."""
    from dexmani_perception.noise import DepthNoiseModel

    cam = d435()
    pose = look_at((0.2, 0.05, 0.62), CYL_CENTRE)
    depth, ids = render(cam, pose, cylinders=[(CYL_CENTRE, CYL_RADIUS, CYL_HALF_HEIGHT)], plane_z=0.0)
    noisy = DepthNoiseModel().apply(depth, cam, np.random.default_rng(0))
    sphere_only = estimate_centroid(noisy, ids == 0, cam, pose, CentroidConfig(support_plane=False))
    assert np.linalg.norm(sphere_only.position_m - CYL_CENTRE) > 0.03
    res = estimate_centroid(noisy, ids == 0, cam, pose)
    assert np.linalg.norm(res.position_m - CYL_CENTRE) < 3e-3
    assert res.to_dict()["support"]["weight"] == 1.0


def test_a_lifted_object_keeps_the_sphere_model():
    """Held 5 cm above the table (a grasped object): the visible surface does not reach the plane,
    so the support plane says nothing about its height and the result is the sphere model's."""
    cam = d435()
    c = CYL_CENTRE + [0.0, 0.0, 0.05]
    pose = look_at((0.7, 0.2, 0.45), c)
    depth, ids = render(cam, pose, cylinders=[(c, CYL_RADIUS, CYL_HALF_HEIGHT)], plane_z=0.0)
    res = estimate_centroid(depth, ids == 0, cam, pose)
    sphere_only = estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(support_plane=False))
    assert res.support is not None and res.support.weight == 0.0 and res.support.contact_height_m > 0.04
    assert np.allclose(res.position_m, sphere_only.position_m)
    assert np.linalg.norm(res.position_m - c) < 4e-3  # the oblique view: the sphere model holds


def test_support_weight_blends_between_the_contact_heights():
    """A resting sphere seen steeply from above shows nothing lower than ~r above the table (its
    lower limb, and the depth jump there): it
    keeps the sphere model (weight 0), which is exact for it; a lower contact threshold pair
    gives a partial weight, and full weight still puts the centre at half the top height."""
    cam = d435()
    c, r = np.array([0.0, 0.0, 0.03]), 0.03
    pose = look_at((0.2, 0.05, 0.62), c)
    depth, ids = render(cam, pose, spheres=[(c, r)], plane_z=0.0)
    res = estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(surface_offset_factor=1.0))
    assert res.support.weight == 0.0 and 0.02 < res.support.contact_height_m < 0.04
    assert np.linalg.norm(res.position_m - c) < 1e-3
    g = res.support.contact_height_m
    half = estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(surface_offset_factor=1.0, support_contact_m=(g - 0.005, g + 0.005)))
    assert half.support.weight == pytest.approx(0.5, abs=1e-6)
    full = estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(surface_offset_factor=1.0, support_contact_m=(0.04, 0.05)))
    assert full.support.weight == 1.0
    assert full.position_m[2] == pytest.approx(full.support.top_height_m / 2, abs=1e-6)  # the plane is z = 0
    assert np.linalg.norm(full.position_m - c) < 2e-3


def test_without_a_plane_around_the_object_the_sphere_model_is_used():
    cam = d435()
    c, r = np.array([0.0, 0.05, 0.03]), 0.03
    pose = look_at((0.6, 0.0, 0.4), (0, 0, 0))
    depth, ids = render(cam, pose, spheres=[(c, r)])  # nothing behind the sphere: no depth around it
    res = estimate_centroid(depth, ids == 0, cam, pose)
    assert res.valid and res.support is None
    assert np.allclose(res.position_m, estimate_centroid(depth, ids == 0, cam, pose, CentroidConfig(support_plane=False)).position_m)
    # A wall behind it (a plane far from horizontal) is not a support either.
    wall_depth, wall_ids = render(cam, pose, spheres=[(c, r)], boxes=[((-0.3, 0.0, 0.0), np.array([0.01, 1.0, 1.0]))])
    assert estimate_centroid(wall_depth, wall_ids == 0, cam, pose).support is None


def test_support_config_is_validated():
    with pytest.raises(ValueError, match="support_ring_px"):
        CentroidConfig(support_ring_px=(10, 5)).validate()
    with pytest.raises(ValueError, match="support_contact_m"):
        CentroidConfig(support_contact_m=(0.02, 0.01)).validate()
