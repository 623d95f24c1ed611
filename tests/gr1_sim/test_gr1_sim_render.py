"""Rendering: metric planar depth against analytic planes, pinhole projection against the
intrinsics, the training resolution, segmentation of the object, table and robot."""

from __future__ import annotations

from dataclasses import replace

import mujoco
import numpy as np
import pytest

from gr1_sim.cameras import CameraConfig, Intrinsics, default_cameras, optical_from_mujoco
from gr1_sim.render import SceneRenderer
from gr1_sim.scene import (
    CATEGORY_FLOOR,
    CATEGORY_LEFT_HAND,
    CATEGORY_NONE,
    CATEGORY_OBJECT,
    CATEGORY_RIGHT_HAND,
    CATEGORY_ROBOT,
    CATEGORY_TABLE,
    build_scene,
    scene_config,
)

FLOOR_CAM_H = 1.7  # height of the camera looking straight down at bare floor
TABLE_CAM_H = 2.0



def _test_cameras() -> dict[str, CameraConfig]:
    cams = default_cameras()
    down = dict(up=(1.0, 0.0, 0.0))  # straight down is parallel to the default up
    cams["floor_down"] = CameraConfig("floor_down", "world", (1.5, 1.5, FLOOR_CAM_H), (1.5, 1.5, 0.0), **down)
    cams["table_down"] = CameraConfig("table_down", "world", (0.45, 0.0, TABLE_CAM_H), (0.45, 0.0, 0.0), **down)
    # principal point off the image centre and fx != fy
    cams["table_down_offc"] = CameraConfig(
        "table_down_offc", "world", (0.45, 0.0, TABLE_CAM_H), (0.45, 0.0, 0.0), fx=600.0, fy=630.0, cx=250.0, cy=180.0, **down
    )
    # horizontal, facing the table's -y side face (y = -0.5) from 1 m away at half its height
    cams["table_side"] = CameraConfig("table_side", "world", (0.45, -1.0, 0.4), (0.45, 0.0, 0.4))
    return cams


@pytest.fixture(scope="module")
def scene():
    cfg = replace(scene_config("tabletop"), cameras=_test_cameras())
    return build_scene(cfg)


@pytest.fixture(scope="module")
def renderer(scene):
    r = SceneRenderer(scene)
    yield r
    r.close()


@pytest.fixture(scope="module")
def data(scene):
    d = mujoco.MjData(scene.model)
    mujoco.mj_forward(scene.model, d)
    return d


@pytest.fixture(scope="module")
def data_without_object(scene):
    """The same scene with the object hidden below the floor plane."""
    d = mujoco.MjData(scene.model)
    a = scene.object_qpos_adr
    d.qpos[a : a + 3] = [0.33, -0.12, -1.0]
    mujoco.mj_forward(scene.model, d)
    return d


@pytest.fixture(scope="module")
def frames(renderer, data, data_without_object):
    """Renders on demand, each (camera, size, object shown) once per module."""
    cache = {}

    def get(camera, width=None, height=None, with_object=True):
        key = (camera, width, height, with_object)
        if key not in cache:
            d = data if with_object else data_without_object
            cache[key] = renderer.render(d, camera, width, height, rgb=(camera in ("third_view", "head") and width is None and with_object))
        return cache[key]

    return get


def _rays(intr: Intrinsics) -> np.ndarray:
    """Optical-frame rays with z = 1 through every pixel centre (H×W×3)."""
    u, v = np.meshgrid(np.arange(intr.width) + 0.5, np.arange(intr.height) + 0.5)
    return np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], axis=-1)


def _optical_pose(scene, data, camera):
    cid = scene.camera_ids[camera]
    return data.cam_xpos[cid].copy(), optical_from_mujoco(data.cam_xmat[cid].reshape(3, 3))


def _backproject(scene, data, camera, frame) -> np.ndarray:
    """World points (H×W×3) of every pixel from its planar depth."""
    p, r = _optical_pose(scene, data, camera)
    return (_rays(frame.intrinsics) * frame.depth_m[..., None]) @ r.T + p


def _erode(mask: np.ndarray, k: int = 1) -> np.ndarray:
    out = mask.copy()
    for _ in range(k):
        m = out.copy()
        m[1:] &= out[:-1]
        m[:-1] &= out[1:]
        m[:, 1:] &= out[:, :-1]
        m[:, :-1] &= out[:, 1:]
        out = m
    return out


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    return ~_erode(~mask, k)


# --- camera placement ---------------------------------------------------------------------


def test_look_at_camera_pose_in_the_model(scene, data):
    p, r = _optical_pose(scene, data, "table_down")
    np.testing.assert_allclose(p, [0.45, 0.0, TABLE_CAM_H], atol=1e-12)
    np.testing.assert_allclose(r[:, 2], [0, 0, -1], atol=1e-9)  # optical axis straight down
    np.testing.assert_allclose(r[:, 1], [-1, 0, 0], atol=1e-9)  # image down = world -x (up is +x)
    p, r = _optical_pose(scene, data, "third_view")
    cfg = scene.config.cameras["third_view"]
    fwd = np.subtract(cfg.look_at_m, cfg.pos_m)
    np.testing.assert_allclose(p, cfg.pos_m, atol=1e-12)
    np.testing.assert_allclose(r[:, 2], fwd / np.linalg.norm(fwd), atol=1e-9)
    assert r[2, 1] < 0  # image down points down in the world
    # a camera on the head moves with the head link: its world pose is the link pose composed
    hp, hr = _optical_pose(scene, data, "head")
    link = scene.model.body("head_yaw_link").id
    cfg = scene.config.cameras["head"]
    np.testing.assert_allclose(hp, data.xpos[link] + data.xmat[link].reshape(3, 3) @ cfg.pos_m, atol=1e-9)
    assert hr[2, 2] < -0.5  # looks down at the table


def test_intrinsics_scaled_to_the_training_resolution():
    cam = default_cameras()["third_view"]
    low = cam.intrinsics_at(cam.train_width, cam.train_height)
    assert (low.width, low.height) == (64, 48)
    assert (low.fx, low.fy, low.cx, low.cy) == pytest.approx((61.5, 61.5, 32.0, 24.0))
    assert low.fovy_deg == pytest.approx(cam.intrinsics.fovy_deg)
    assert cam.intrinsics.fovy_deg == pytest.approx(np.degrees(2 * np.arctan(240 / 615)))
    np.testing.assert_allclose(low.matrix(), [[61.5, 0, 32], [0, 61.5, 24], [0, 0, 1]])


# --- 2. depth of known planes -------------------------------------------------------------


def test_depth_of_bare_floor_seen_from_above_is_the_camera_height(scene, frames):
    full = frames("floor_down")
    assert full.depth_m.shape == (480, 640) and full.depth_m.dtype == np.float32
    assert full.geom_ids.shape == (480, 640) and full.geom_ids.dtype == np.int32
    floor_geom = scene.model.geom("floor").id
    assert np.all(full.geom_ids == floor_geom)
    np.testing.assert_allclose(full.depth_m, FLOOR_CAM_H, atol=2e-3)

    cfg = scene.config.cameras["floor_down"]
    low = frames("floor_down", cfg.train_width, cfg.train_height)
    assert low.depth_m.shape == (48, 64) and low.geom_ids.shape == (48, 64)
    assert low.intrinsics == cfg.intrinsics_at(64, 48)
    np.testing.assert_allclose(low.depth_m, FLOOR_CAM_H, atol=2e-3)


def test_depth_of_table_top_and_floor_from_above(scene, renderer, data, frames):
    f = frames("table_down")
    cat = renderer.categories(f.geom_ids)
    table, floor = cat == CATEGORY_TABLE, cat == CATEGORY_FLOOR
    assert table.sum() > 100_000 and floor.sum() > 100_000
    np.testing.assert_allclose(f.depth_m[table], TABLE_CAM_H - scene.config.table_height_m, atol=2e-3)
    np.testing.assert_allclose(f.depth_m[floor], TABLE_CAM_H, atol=2e-3)

    # back-projected through the intrinsics, table pixels land on the table top rectangle
    pts = _backproject(scene, data, "table_down", f)
    tx, ty = scene.config.table_center_xy_m
    sx, sy = scene.config.table_size_m
    px = 2.5 * (TABLE_CAM_H - scene.config.table_height_m) / 615.0  # 2.5 pixels on the table
    np.testing.assert_allclose(pts[table][:, 2], scene.config.table_height_m, atol=2e-3)
    tp = pts[table]
    assert np.all(np.abs(tp[:, 0] - tx) <= sx / 2 + px) and np.all(np.abs(tp[:, 1] - ty) <= sy / 2 + px)
    # ...and reach its edges: the whole top is in view
    assert tp[:, 0].min() == pytest.approx(tx - sx / 2, abs=px) and tp[:, 0].max() == pytest.approx(tx + sx / 2, abs=px)
    assert tp[:, 1].min() == pytest.approx(ty - sy / 2, abs=px) and tp[:, 1].max() == pytest.approx(ty + sy / 2, abs=px)
    fp = pts[floor]
    assert np.all((np.abs(fp[:, 0] - tx) > sx / 2 - px) | (np.abs(fp[:, 1] - ty) > sy / 2 - px))


def test_off_centre_principal_point_matches_the_intrinsics(scene, renderer, data, frames):
    f = frames("table_down_offc")
    assert (f.intrinsics.cx, f.intrinsics.cy, f.intrinsics.fx, f.intrinsics.fy) == (250.0, 180.0, 600.0, 630.0)
    cat = renderer.categories(f.geom_ids)
    table = cat == CATEGORY_TABLE
    assert table.sum() > 50_000
    d = TABLE_CAM_H - scene.config.table_height_m
    # the table's far edge (x = 0.7) is at row cy - 0.25 m · fy / d; its right edge (y = -0.5)
    # at column cx + 0.5 m · fx / d (image right is world -y, image down is world -x)
    rows = np.nonzero(table.any(axis=1))[0]
    cols = np.nonzero(table.any(axis=0))[0]
    assert rows.min() == pytest.approx(180.0 - 0.25 * 630.0 / d, abs=1.5)
    assert rows.max() + 1 == pytest.approx(180.0 + 0.25 * 630.0 / d, abs=1.5)
    assert cols.max() + 1 == pytest.approx(250.0 + 0.5 * 600.0 / d, abs=1.5)
    pts = _backproject(scene, data, "table_down_offc", f)[table]
    assert np.all(np.abs(pts[:, 0] - 0.45) <= 0.25 + 0.005) and np.all(np.abs(pts[:, 1]) <= 0.5 + 0.005)


def test_depth_of_the_table_side_seen_horizontally(scene, renderer, data, frames):
    f = frames("table_side")
    cat = renderer.categories(f.geom_ids)
    side = cat == CATEGORY_TABLE
    assert side.sum() > 200_000
    # the face y = -0.5 is 0.5 m in front of a camera at y = -1.0 looking along +y
    np.testing.assert_allclose(f.depth_m[side], 0.5, atol=2e-3)
    pts = _backproject(scene, data, "table_side", f)[side]
    np.testing.assert_allclose(pts[:, 1], -0.5, atol=2e-3)
    assert pts[:, 2].min() == pytest.approx(0.4 - 240 * 0.5 / 615, abs=3e-3)  # bottom of the view
    assert pts[:, 2].max() == pytest.approx(min(0.82, 0.4 + 240 * 0.5 / 615), abs=3e-3)


def _table_plane_depth(scene, data, camera, intr: Intrinsics, margin_m: float = 0.01):
    """Analytic planar depth of the plane z = table height at every pixel, and whether the ray
    meets that plane inside the table top (``margin_m`` in from its edges)."""
    p, r = _optical_pose(scene, data, camera)
    rays = _rays(intr) @ r.T
    depth = (scene.config.table_height_m - p[2]) / rays[..., 2]
    hit = p + depth[..., None] * rays
    tx, ty = scene.config.table_center_xy_m
    sx, sy = scene.config.table_size_m
    inside = (depth > 0) & (np.abs(hit[..., 0] - tx) < sx / 2 - margin_m) & (np.abs(hit[..., 1] - ty) < sy / 2 - margin_m)
    return depth, inside


def test_third_view_depth_of_the_tilted_table_top_at_both_resolutions(scene, renderer, data, frames):
    cfg = scene.config.cameras["third_view"]
    full = frames("third_view")
    low = frames("third_view", cfg.train_width, cfg.train_height)
    assert full.rgb.shape == (480, 640, 3) and full.rgb.dtype == np.uint8
    assert low.depth_m.shape == (48, 64) and low.geom_ids.shape == (48, 64)
    assert low.intrinsics == cfg.intrinsics_at(64, 48)

    for f in (full, low):
        truth, inside = _table_plane_depth(scene, data, "third_view", f.intrinsics)
        on_top = inside & (renderer.categories(f.geom_ids) == CATEGORY_TABLE)  # not hidden by the object or hands
        assert on_top.sum() > 0.9 * inside.sum() and on_top.sum() > 0.3 * on_top.size
        np.testing.assert_allclose(f.depth_m[on_top], truth[on_top], atol=2e-3)
        assert np.ptp(truth[on_top]) > 0.3  # a tilted plane: depth spans over 30 cm

    # low-res pixel (i, j) is centred on the corner shared by full-res pixels 10i+4..10i+5,
    # 10j+4..10j+5: on the plane its depth is within 2 mm of those four pixels' mean
    s = cfg.width // cfg.train_width
    assert s == cfg.height // cfg.train_height == 10
    block = full.depth_m.reshape(48, s, 64, s)[:, s // 2 - 1 : s // 2 + 1, :, s // 2 - 1 : s // 2 + 1]
    full_at = block.mean(axis=(1, 3))
    cat_full = renderer.categories(full.geom_ids).reshape(48, s, 64, s)[:, s // 2 - 1 : s // 2 + 1, :, s // 2 - 1 : s // 2 + 1]
    _, inside_low = _table_plane_depth(scene, data, "third_view", low.intrinsics, margin_m=0.02)
    same = inside_low & (renderer.categories(low.geom_ids) == CATEGORY_TABLE)
    same &= np.all(cat_full == CATEGORY_TABLE, axis=(1, 3))
    assert same.sum() > 1000
    np.testing.assert_allclose(low.depth_m[same], full_at[same], atol=2e-3)


def _project(scene, data, camera, intr: Intrinsics, world_pt) -> tuple[np.ndarray, float]:
    p, r = _optical_pose(scene, data, camera)
    pc = r.T @ (np.asarray(world_pt) - p)
    uv = intr.matrix() @ pc
    return uv[:2] / uv[2], pc[2]


@pytest.mark.parametrize("camera", ["third_view", "head"])
def test_object_centroid_projects_onto_the_object_mask(scene, renderer, data, frames, camera):
    f = frames(camera)
    assert (f.intrinsics.width, f.intrinsics.height) == (640, 480)
    mask = renderer.object_mask(f.geom_ids)
    assert mask.sum() > 500
    centre = data.qpos[scene.object_qpos_adr : scene.object_qpos_adr + 3]
    uv, z = _project(scene, data, camera, f.intrinsics, centre)
    assert 0.3 < z < 2.0
    ys, xs = np.nonzero(mask)
    np.testing.assert_allclose(uv, [xs.mean() + 0.5, ys.mean() + 0.5], atol=2.0)
    # the projected centre pixel shows the object
    assert mask[int(uv[1]), int(uv[0])]
    # and the object's planar depth there is within a half-cube of its centre's
    assert abs(f.depth_m[int(uv[1]), int(uv[0])] - z) < 0.05

    cfg = scene.config.cameras[camera]
    low = frames(camera, cfg.train_width, cfg.train_height)
    lmask = renderer.object_mask(low.geom_ids)
    assert lmask.sum() >= 5
    uv_low, _ = _project(scene, data, camera, low.intrinsics, centre)
    np.testing.assert_allclose(uv_low, uv / 10.0, atol=1e-9)
    ys, xs = np.nonzero(lmask)
    np.testing.assert_allclose(uv_low, [xs.mean() + 0.5, ys.mean() + 0.5], atol=1.0)


# --- 3. segmentation ------------------------------------------------------------------------


@pytest.mark.parametrize("camera", ["third_view", "head"])
def test_object_pixels_are_segmented_and_in_front_of_the_table(scene, renderer, frames, camera):
    f = frames(camera)
    mask = renderer.object_mask(f.geom_ids)
    assert mask.dtype == bool and mask.shape == (480, 640)
    assert mask.sum() > 500
    # every masked pixel sees a geom of the object body and nothing else is labelled object
    ids = f.geom_ids[mask]
    assert np.all(scene.model.geom_bodyid[ids] == scene.object_body_id)
    others = f.geom_ids[~mask]
    assert not np.any(scene.model.geom_bodyid[others[others >= 0]] == scene.object_body_id)
    # the object (red) is red in the RGB image; the table around it is not
    rgb = f.rgb.astype(float)
    obj = rgb[_erode(mask, 2)].mean(axis=0)
    assert obj[0] > 1.5 * obj[1] and obj[0] > 1.5 * obj[2]

    # without the object the same pixels show the table, farther away
    g = frames(camera, with_object=False)
    assert not renderer.object_mask(g.geom_ids).any()
    behind = renderer.categories(g.geom_ids)[mask]
    assert np.mean(behind == CATEGORY_TABLE) > 0.95
    diff = g.depth_m[mask] - f.depth_m[mask]
    assert np.all(diff > 1e-3)
    assert 0.02 < diff.max() < 0.12
    # elsewhere the two renders agree (the object's shadow does not touch depth)
    far = ~_dilate(mask, 3)
    np.testing.assert_array_equal(g.depth_m[far], f.depth_m[far])

    # depth of the object is smaller than the table's in a ring just around it
    cat = renderer.categories(f.geom_ids)
    ring = _dilate(mask, 6) & ~_dilate(mask, 2) & (cat == CATEGORY_TABLE)
    assert ring.sum() > 100
    if camera == "head":  # looking down: the whole ring is farther than the object
        assert np.median(f.depth_m[mask]) < np.median(f.depth_m[ring]) - 0.01
        assert f.depth_m[mask].max() < f.depth_m[ring].max()


def test_third_view_categories(scene, renderer, frames):
    f = frames("third_view")
    cat = renderer.categories(f.geom_ids)
    assert cat.dtype == np.int32 and cat.shape == (480, 640)
    found = set(np.unique(cat).tolist())
    assert {CATEGORY_TABLE, CATEGORY_ROBOT, CATEGORY_OBJECT, CATEGORY_FLOOR} <= found
    assert {CATEGORY_LEFT_HAND, CATEGORY_RIGHT_HAND} <= found
    # categories agree with the per-geom table, pixel for pixel; none where nothing is hit
    hit = f.geom_ids >= 0
    np.testing.assert_array_equal(cat[hit], scene.geom_category[f.geom_ids[hit]])
    assert np.all(cat[~hit] == CATEGORY_NONE)
    # nothing hit within the far plane ⇔ depth 0
    np.testing.assert_array_equal(f.depth_m == 0, ~hit | (f.depth_m == 0))
    assert np.all(f.depth_m[~hit] == 0)
    assert np.all(f.depth_m[hit & (f.depth_m > 0)] >= scene.config.cameras["third_view"].near_m)
    # the robot is seen in the upper part of the image, behind the table (farther away)
    robot = cat == CATEGORY_ROBOT
    assert np.mean(np.nonzero(robot)[0]) < 240
    # left hand appears on the image's right (the camera faces the robot)
    lh, rh = np.nonzero(cat == CATEGORY_LEFT_HAND)[1].mean(), np.nonzero(cat == CATEGORY_RIGHT_HAND)[1].mean()
    assert lh > 320 > rh


def test_head_camera_sees_the_table_and_object(renderer, frames):
    f = frames("head")
    cat = renderer.categories(f.geom_ids)
    assert np.mean(cat == CATEGORY_TABLE) > 0.5
    # the object is at y = -0.12 (the robot's right): right half of an egocentric image
    xs = np.nonzero(cat == CATEGORY_OBJECT)[1]
    assert xs.min() > 320


# --- bad inputs to the renderer ---------------------------------------------------------------


def test_unknown_camera_names_the_valid_ones(renderer, data):
    with pytest.raises(KeyError) as e:
        renderer.render(data, "wrist_cam")
    msg = str(e.value)
    assert "wrist_cam" in msg
    for name in ("head", "third_view", "floor_down", "table_down", "table_side"):
        assert name in msg


def test_render_size_checks(renderer, data):
    with pytest.raises(ValueError, match="aspect ratio"):
        renderer.render(data, "third_view", 64, 64)
    with pytest.raises(ValueError, match="exceeds"):
        renderer.render(data, "third_view", 1280, 960)
    # nothing was broken by the failed calls
    f = renderer.render(data, "floor_down", 64, 48, rgb=False, segmentation=False)
    assert f.rgb is None and f.geom_ids is None
    np.testing.assert_allclose(f.depth_m, FLOOR_CAM_H, atol=2e-3)
