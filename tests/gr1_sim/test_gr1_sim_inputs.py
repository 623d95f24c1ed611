"""gr1_sim on bad inputs (unknown names, bad camera intrinsics, unknown config keys) and the
scene-config plumbing (presets, overrides, YAML round trip)."""

from __future__ import annotations

import gc
import sys
from dataclasses import replace

import pytest
import yaml

from gr1_sim.batch import BatchedSim
from gr1_sim.cameras import CameraConfig, default_cameras
from gr1_sim.objects import OBJECT_GROUPS, OBJECTS, get_object, object_group
from gr1_sim.scene import SCENES, SceneConfig, build_scene, scene_config



# --- unknown names ----------------------------------------------------------------------------


def test_unknown_scene_names_the_valid_scenes():
    with pytest.raises(KeyError) as e:
        scene_config("kitchen")
    msg = str(e.value)
    assert "kitchen" in msg
    for name in ("tabletop", "box_lift", "handover"):
        assert name in msg
    with pytest.raises(KeyError, match="box_lift"):
        build_scene("kitchen")


def test_unknown_object_names_the_objects():
    with pytest.raises(KeyError) as e:
        get_object("teapot")
    msg = str(e.value)
    assert "teapot" in msg
    for name in OBJECTS:
        assert name in msg
    cfg = scene_config("tabletop", object="teapot")
    with pytest.raises(KeyError, match="cube_5cm"):
        cfg.validate()
    with pytest.raises(KeyError, match="sphere_r3cm"):
        build_scene(cfg)


def test_object_groups():
    with pytest.raises(KeyError) as e:
        object_group("toys")
    msg = str(e.value)
    assert "toys" in msg
    for g in ("train", "novel", "box_lift", "cubes", "cylinders", "spheres"):
        assert g in msg
    assert [o.name for o in object_group("spheres")] == ["sphere_r2.5cm", "sphere_r3cm", "sphere_r3.5cm"]
    assert all(o.shape == "cylinder" for o in object_group("cylinders")) and len(object_group("cylinders")) == 3
    assert all(o.shape == "box" for o in object_group("cubes"))
    assert [o.name for o in object_group("cube_4cm")] == ["cube_4cm"]  # one object by name
    assert set(OBJECT_GROUPS["novel"]).isdisjoint(OBJECT_GROUPS["train"])
    box = get_object("box_30x18x14cm")
    assert box.mass_range_kg == (0.3, 0.8) and box.nominal_mass_kg == pytest.approx(0.55)
    assert get_object("cube_5cm").half_height_m(1.04) == pytest.approx(0.026)
    assert get_object("sphere_r3cm").half_height_m() == pytest.approx(0.03)
    assert get_object("cylinder_r3_h10cm").half_height_m() == pytest.approx(0.05)


def test_unknown_camera_parent_body_is_named():
    cfg = scene_config("tabletop")
    cams = dict(cfg.cameras)
    cams["wrist"] = CameraConfig("wrist", "left_wrist_link", (0, 0, 0.05), (0.1, 0, 0))
    with pytest.raises(KeyError) as e:
        build_scene(replace(cfg, cameras=cams))
    assert "left_wrist_link" in str(e.value) and "head_yaw_link" in str(e.value)


# --- camera intrinsics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(cx=640.0), "principal point"),
        (dict(cx=-1.0), "principal point"),
        (dict(cy=480.0), "principal point"),
        (dict(cy=0.0), "principal point"),
        (dict(fx=0.0), "focal"),
        (dict(fy=-615.0), "focal"),
        (dict(width=0), "resolution"),
        (dict(train_height=0), "resolution"),
        (dict(near_m=2.0, far_m=1.0), "near_m"),
        (dict(near_m=0.0), "near_m"),
    ],
)
def test_invalid_camera_intrinsics_are_refused(bad, words):
    cam = replace(default_cameras()["third_view"], **bad)
    with pytest.raises(ValueError, match=words) as e:
        cam.validate()
    assert "third_view" in str(e.value)
    cfg = scene_config("tabletop")
    cfg = replace(cfg, cameras={**cfg.cameras, "third_view": cam})
    with pytest.raises(ValueError, match=words):
        build_scene(cfg)


def test_valid_camera_intrinsics_pass():
    for cam in default_cameras().values():
        cam.validate()
    replace(default_cameras()["head"], cx=1.0, cy=479.0, fx=300.0, fy=320.0).validate()


# --- config dictionaries -----------------------------------------------------------------------


def test_from_dict_refuses_an_unknown_top_level_key():
    with pytest.raises(ValueError) as e:
        SceneConfig.from_dict({"object": "cube_4cm", "objekt_xy_m": [0.3, 0.0]})
    msg = str(e.value)
    assert "objekt_xy_m" in msg and "object_xy_m" in msg  # names the bad key and the known ones


def test_from_dict_refuses_unknown_nested_keys():
    with pytest.raises(ValueError, match="scene.model.*base_height_m"):
        SceneConfig.from_dict({"model": {"base_height_m": 1.0}})
    with pytest.raises(ValueError, match="scene.cameras.third_view.*fov_deg"):
        SceneConfig.from_dict({"cameras": {"third_view": {"fov_deg": 60}}})
    with pytest.raises(ValueError, match="scene.cameras.wrist.*fovy"):
        SceneConfig.from_dict({"cameras": {"wrist": {"parent_body": "world", "pos_m": [0, 0, 1], "look_at_m": [1, 0, 1], "fovy": 1}}})


def test_from_dict_applies_overrides_on_the_named_scene():
    cfg = SceneConfig.from_dict(
        {
            "name": "box_lift",
            "table_height_m": 0.75,
            "object_xy_m": [0.4, 0.05],
            "model": {"base_pos_m": [0.0, 0.0, 0.9]},
            "cameras": {
                "third_view": {"cx": 300.0},
                "top": {"parent_body": "world", "pos_m": [0.45, 0, 2], "look_at_m": [0.45, 0, 0], "up": [1, 0, 0]},
            },
        }
    )
    assert cfg.name == "box_lift" and cfg.object == SCENES["box_lift"].object
    assert cfg.table_height_m == 0.75 and cfg.object_xy_m == (0.4, 0.05)
    assert cfg.model.base_pos_m == (0.0, 0.0, 0.9)
    assert cfg.model.fixed_joint_positions_rad == {"head_pitch_joint": 0.7}  # kept
    assert cfg.cameras["third_view"].cx == 300.0 and cfg.cameras["third_view"].fx == 615.0
    assert cfg.cameras["top"].name == "top" and cfg.cameras["top"].up == (1, 0, 0)
    assert set(cfg.cameras) == {"head", "third_view", "top"}
    cfg.validate()
    # the preset is untouched
    assert SCENES["box_lift"].table_height_m == 0.82
    assert SCENES["box_lift"].cameras["third_view"].cx == 320.0
    assert "top" not in SCENES["box_lift"].cameras


def test_yaml_round_trip(tmp_path):
    cfg = scene_config("handover", object_scale=1.03, object_yaw_rad=0.4)
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    back = SceneConfig.load(path)
    assert back == cfg
    (tmp_path / "bad.yaml").write_text("name: tabletop\ntable_hieght_m: 0.8\n")
    with pytest.raises(ValueError, match="table_hieght_m"):
        SceneConfig.load(tmp_path / "bad.yaml")


def test_scene_config_overrides():
    cfg = scene_config("handover", object="sphere_r3cm", table_height_m=0.8)
    assert cfg.name == "handover" and cfg.object == "sphere_r3cm" and cfg.table_height_m == 0.8
    assert cfg.table_size_m == (0.5, 1.2)
    assert SCENES["handover"].object == "cylinder_r3_h10cm" and SCENES["handover"].table_height_m == 0.82
    cfg.cameras.pop("head")
    assert "head" in SCENES["handover"].cameras
    with pytest.raises(TypeError):
        scene_config("tabletop", colour="red")


def test_scene_config_accepts_camera_and_model_overrides():
    top = CameraConfig("top", "world", (0.45, 0.0, 2.0), (0.45, 0.0, 0.0), up=(1.0, 0.0, 0.0))
    cfg = scene_config("tabletop", cameras={"top": top})
    assert set(cfg.cameras) == {"top"}
    base = SCENES["tabletop"].model
    cfg = scene_config("tabletop", model=replace(base, base_pos_m=(0.0, 0.0, 0.9)))
    assert cfg.model.base_pos_m == (0.0, 0.0, 0.9) and base.base_pos_m == (0.0, 0.0, 0.95)


def test_scene_config_does_not_share_nested_state_with_the_preset():
    cfg = scene_config("tabletop")
    cfg.model.fixed_joint_positions_rad["head_pitch_joint"] = 0.0
    try:
        assert SCENES["tabletop"].model.fixed_joint_positions_rad == {"head_pitch_joint": 0.7}
        assert scene_config("tabletop").model.fixed_joint_positions_rad == {"head_pitch_joint": 0.7}
    finally:
        SCENES["tabletop"].model.fixed_joint_positions_rad["head_pitch_joint"] = 0.7


def test_failed_batched_sim_construction_leaves_nothing_raising(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))
    try:
        BatchedSim("tabletop", num_envs=0)
    except ValueError:
        pass
    gc.collect()
    assert seen == []
