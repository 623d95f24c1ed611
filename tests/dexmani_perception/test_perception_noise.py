"""The depth noise terms change the image as claimed, reproducibly; mask noise and camera jitter."""

from dataclasses import replace

import numpy as np
import pytest
from dexmani_perception.camera import RigidTransform
from dexmani_perception.noise import (
    CameraJitterConfig,
    DepthNoiseConfig,
    DepthNoiseModel,
    depth_discontinuities,
    jitter_camera,
    sample_camera_jitter,
    stereo_occlusion,
)
from dexmani_perception.segmenters.ground_truth import MaskNoiseConfig, apply_mask_noise
from perception_scenes import d435

OFF = DepthNoiseConfig(axial_noise=False, quantization=False, occlusion_shadow=False, edge_holes=False, flying_pixels=False,
                       grazing_holes=False, random_holes=False, range_limits=False)


def only(**on) -> DepthNoiseModel:
    return DepthNoiseModel(replace(OFF, **on))


def box_scene(z_fg=0.6, z_bg=0.9):
    """A frontal plane at z_bg with a frontal square at z_fg (columns 250..389, rows 180..299)."""
    depth = np.full((480, 640), z_bg, np.float32)
    depth[180:300, 250:390] = z_fg
    return depth


def test_all_terms_off_is_identity_and_disabled_is_identity():
    cam = d435()
    depth = box_scene()
    rng = np.random.default_rng(0)
    assert np.array_equal(DepthNoiseModel(OFF).apply(depth, cam, rng), depth)
    assert np.array_equal(DepthNoiseModel(DepthNoiseConfig(enabled=False)).apply(depth, cam, rng), depth)


def test_axial_noise_grows_with_distance_squared():
    cam = d435()
    model = only(axial_noise=True)
    stds = []
    for z in (0.5, 1.0):
        out = model.apply(np.full((480, 640), z, np.float32), cam, np.random.default_rng(1))
        stds.append(float(np.std(out - z)))
    cfg = model.cfg
    expected_1m = 1.0**2 * cfg.disparity_noise_px / (cam.fx * cfg.baseline_m)
    assert stds[1] == pytest.approx(expected_1m, rel=0.05)
    assert stds[1] / stds[0] == pytest.approx(4.0, rel=0.08)


def test_quantization_to_millimetres_and_disparity_steps():
    cam = d435()
    out = only(quantization=True).apply(np.full((48 * 4, 64 * 4), 0.8123, np.float32), cam.scaled(256, 192), np.random.default_rng(0))
    mm = out / 0.001
    assert np.allclose(mm, np.round(mm), atol=1e-3)
    # Far away the disparity step (1/32 px) is coarser than a millimetre: depths take few values.
    far = only(quantization=True).apply(np.linspace(2.0, 2.2, 640 * 480, dtype=np.float32).reshape(480, 640), cam, np.random.default_rng(0))
    assert len(np.unique(far)) < 120


def test_occlusion_shadow_is_a_band_left_of_the_near_object_as_wide_as_the_disparity_jump():
    cam = d435()
    depth = box_scene(0.6, 0.9)
    out = only(occlusion_shadow=True).apply(depth, cam, np.random.default_rng(0))
    holes = out == 0
    width = cam.fx * 0.05 * (1 / 0.6 - 1 / 0.9)  # 17.1 px
    row = holes[240]
    left_band = np.flatnonzero(row[:250])
    assert len(left_band) == pytest.approx(width, abs=1.5)
    assert left_band.max() == 249  # right against the object's left edge
    assert not row[250:].any()  # nothing on the object or to its right
    assert not holes[:180].any() and not holes[300:].any()
    assert np.array_equal(holes, stereo_occlusion(depth, cam.fx, 0.05))


def test_edge_holes_and_flying_pixels_stay_at_discontinuities():
    cam = d435()
    depth = box_scene(0.6, 0.9)
    edges = depth_discontinuities(depth, 0.03)
    near_edges = np.zeros_like(edges)
    for dy in range(-2, 3):
        near_edges |= np.roll(np.roll(edges, dy, 0), dy, 1) | np.roll(edges, dy, 1) | np.roll(edges, dy, 0)
    out = only(edge_holes=True).apply(depth, cam, np.random.default_rng(0))
    holes = out == 0
    assert holes.sum() > 100 and not (holes & ~near_edges).any()
    out = only(flying_pixels=True).apply(depth, cam, np.random.default_rng(0))
    changed = out != depth
    assert changed.sum() > 100 and not (changed & ~near_edges).any()
    assert np.all((out[changed] > 0.6 - 1e-6) & (out[changed] < 0.9 + 1e-6))  # between fore- and background


def test_grazing_surfaces_lose_depth_frontal_ones_do_not():
    cam = d435()
    v = np.arange(480, dtype=np.float64)[:, None]
    # A plane seen nearly edge-on: depth grows fast with the row (incidence ~ 86 deg).
    steep = np.repeat(0.5 / np.maximum(1 - (v - 239.5) / 615.0 * 14, 0.05), 640, axis=1).astype(np.float32)
    steep[steep > 3] = 0
    model = only(grazing_holes=True)
    assert (model.apply(steep, cam, np.random.default_rng(0)) == 0).mean() > 0.5
    assert (model.apply(np.full((480, 640), 0.7, np.float32), cam, np.random.default_rng(0)) == 0).sum() == 0


def test_random_holes_cover_the_configured_fraction_and_range_limits():
    cam = d435()
    out = only(random_holes=True).apply(np.full((480, 640), 0.7, np.float32), cam, np.random.default_rng(0))
    assert (out == 0).mean() == pytest.approx(0.01, abs=0.003)
    depth = np.full((480, 640), 0.7, np.float32)
    depth[:10] = 0.1
    depth[-10:] = 3.5
    out = only(range_limits=True).apply(depth, cam, np.random.default_rng(0))
    assert (out[:10] == 0).all() and (out[-10:] == 0).all() and (out[10:-10] == 0.7).all()


def test_noise_is_reproducible_by_seed():
    cam = d435()
    depth = box_scene()
    model = DepthNoiseModel()
    a = model.apply(depth, cam, np.random.default_rng(7))
    b = model.apply(depth, cam, np.random.default_rng(7))
    c = model.apply(depth, cam, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_at_training_resolution_uses_the_sensor_focal_length():
    cam = d435().scaled(64, 48)
    out = only(axial_noise=True).apply(np.full((48, 64), 1.0, np.float32), cam, np.random.default_rng(0))
    assert np.std(out - 1.0) == pytest.approx(0.08 / (615 * 0.05), rel=0.2)  # one sensor pixel's noise


def test_mask_noise_terms_and_reproducibility():
    mask = np.zeros((480, 640), bool)
    mask[200:260, 300:360] = True
    off = MaskNoiseConfig(morph_prob=0, boundary_jitter_prob=0, cutout_prob=0, dropout_prob=0, false_blob_prob=0)
    assert np.array_equal(apply_mask_noise(mask, off, np.random.default_rng(0)), mask)
    grown = [apply_mask_noise(mask, replace(off, morph_prob=1.0), np.random.default_rng(s)).sum() for s in range(8)]
    assert any(g > mask.sum() for g in grown) and any(g < mask.sum() for g in grown)
    jit = apply_mask_noise(mask, replace(off, boundary_jitter_prob=1.0), np.random.default_rng(0))
    changed = jit != mask
    assert changed.sum() > 20
    inner = mask.copy()
    inner[:, :] = False
    inner[210:250, 310:350] = True
    assert not (changed & inner).any()  # only the boundary moves
    assert not apply_mask_noise(mask, replace(off, dropout_prob=1.0), np.random.default_rng(0)).any()
    blob = apply_mask_noise(mask, replace(off, false_blob_prob=1.0), np.random.default_rng(1))
    assert (blob & ~mask).sum() > 20 and (blob & mask).sum() == mask.sum()
    cut = apply_mask_noise(mask, replace(off, cutout_prob=1.0), np.random.default_rng(2))
    assert cut.sum() < mask.sum() and not (cut & ~mask).any()
    full = MaskNoiseConfig()
    assert np.array_equal(apply_mask_noise(mask, full, np.random.default_rng(5)), apply_mask_noise(mask, full, np.random.default_rng(5)))


def test_camera_jitter_stays_within_bounds_and_changes_the_field_of_view():
    cfg = CameraJitterConfig()
    cam = d435()
    pose = RigidTransform()
    rng = np.random.default_rng(0)
    for _ in range(50):
        j = sample_camera_jitter(cfg, rng)
        assert np.all(np.abs(j.translation_m) <= cfg.position_noise_m)
        angle = np.degrees(np.arccos(np.clip((np.trace(j.rotation) - 1) / 2, -1, 1)))
        assert angle <= cfg.rotation_noise_deg + 1e-9
        assert abs(j.fov_delta_deg) <= cfg.fov_noise_deg
        cam2, pose2 = jitter_camera(cam, pose, j)
        fovy = lambda c: np.degrees(2 * np.arctan(c.height / (2 * c.fy)))
        assert fovy(cam2) - fovy(cam) == pytest.approx(j.fov_delta_deg, abs=1e-6)
        assert np.allclose(pose2.translation_m, j.translation_m)
    off = sample_camera_jitter(CameraJitterConfig(enabled=False), rng)
    assert np.array_equal(off.rotation, np.eye(3)) and off.fov_delta_deg == 0
