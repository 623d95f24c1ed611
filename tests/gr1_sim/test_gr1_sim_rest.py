"""Objects on the table: dropped objects come to rest at the right height, every object of the
library builds into a scene and stays put, every scene preset builds."""

from __future__ import annotations

import numpy as np
import pytest

from gr1_sim.batch import BatchedSim
from gr1_sim.objects import OBJECT_GROUPS, OBJECTS
from gr1_sim.scene import SCENES, build_scene, scene_config

CONTACT_OBJECT_TABLE = 2



def _obj(name: str, *marks):
    return pytest.param(name, marks=list(marks), id=name)


def _scene_for(name: str):
    base = "box_lift" if name in OBJECT_GROUPS["box_lift"] else "tabletop"
    return build_scene(scene_config(base, object=name))


# --- 1. a dropped object comes to rest -------------------------------------------------------


@pytest.mark.parametrize("name", [_obj("cube_5cm"), _obj("sphere_r3cm"), _obj("cylinder_r3_h10cm")])
def test_dropped_object_comes_to_rest_on_the_table(name):
    scene = _scene_for(name)
    cfg = scene.config
    sim = BatchedSim(scene, num_envs=1, seed=0, num_threads=1)
    rest_z = cfg.table_height_m + scene.object_spec.half_height_m(cfg.object_scale)
    z0 = rest_z + 0.10
    x, y = cfg.object_xy_m
    sim.reset([0], object_pose=np.array([[x, y, z0, 1.0, 0.0, 0.0, 0.0]]))
    assert sim.object_pose()[0, 2] == z0
    assert not sim.contacts()[0, CONTACT_OBJECT_TABLE]

    for _ in range(2):
        sim.step()
    assert sim.object_pose()[0, 2] < z0 - 0.01  # falling
    assert not sim.contacts()[0, CONTACT_OBJECT_TABLE]  # not yet landed

    for _ in range(round(2.0 / sim.control_dt_s) - 2):
        sim.step()
    assert sim.time_s[0] == pytest.approx(2.0)
    pose, vel = sim.object_pose()[0], sim.object_vel()[0]
    assert np.all(np.isfinite(pose)) and np.all(np.isfinite(vel))
    assert np.linalg.norm(vel) < 1e-2, vel
    assert pose[2] == pytest.approx(rest_z, abs=3e-3)
    assert np.linalg.norm(pose[:2] - [x, y]) < 5e-3
    # still upright: the orientation is (nearly) the identity
    assert abs(pose[3]) > np.cos(np.radians(5) / 2)
    contacts = sim.contacts()[0]
    assert contacts[CONTACT_OBJECT_TABLE]
    assert not contacts[0] and not contacts[1]  # the hands are nowhere near




def test_released_object_falls_freely_at_g():
    scene = _scene_for("cube_5cm")
    sim = BatchedSim(scene, num_envs=1, seed=0, num_threads=1)
    z0 = scene.config.table_height_m + 0.15
    sim.reset([0], object_pose=np.array([[0.33, -0.12, z0, 1.0, 0.0, 0.0, 0.0]]))
    sim.step()
    sim.step()
    t = 2 * sim.control_dt_s
    g = -scene.model.opt.gravity[2]
    assert g == pytest.approx(9.81)
    assert sim.object_vel()[0, 2] == pytest.approx(-g * t, abs=1e-3)
    # semi-implicit Euler runs ~2.5 mm ahead of z0 - g t²/2 after 0.1 s at dt = 5 ms
    assert sim.object_pose()[0, 2] == pytest.approx(z0 - 0.5 * g * t * t, abs=4e-3)
    assert not sim.contacts()[0].any()


def test_object_mass_is_the_nominal_mass():
    scene = _scene_for("cube_5cm")
    spec = scene.object_spec
    assert scene.model.body_mass[scene.object_body_id] == pytest.approx(spec.nominal_mass_kg) == pytest.approx(0.065)
    # a uniform 5 cm cube of that mass: I = m a² / 6
    np.testing.assert_allclose(scene.model.body_inertia[scene.object_body_id], 0.065 * 0.05**2 / 6, rtol=1e-9)


# --- 6. every object of the library rests stably ---------------------------------------------

_ALL = [_obj(n) for n in OBJECTS]


def test_object_library_covers_the_groups():
    groups = ("train", "novel", "box_lift", "handover")
    names = [n for g in groups for n in OBJECT_GROUPS[g]]
    assert sorted(names) == sorted(OBJECTS)  # each object in exactly one of the four
    assert len(OBJECT_GROUPS["train"]) == 10 and len(OBJECT_GROUPS["novel"]) == 6 and len(OBJECT_GROUPS["box_lift"]) == 3
    assert OBJECT_GROUPS["handover"] == ("bar_5x18x5cm",)
    shapes = {OBJECTS[n].shape for n in OBJECTS}
    assert shapes == {"box", "cylinder", "sphere", "ellipsoid", "capsule", "prism", "dumbbell", "lblock"}


@pytest.mark.parametrize("name", _ALL)
def test_every_object_rests_stably_on_the_table(name):
    scene = _scene_for(name)
    cfg = scene.config
    assert scene.object_spec.name == name
    sim = BatchedSim(scene, num_envs=1, seed=0, num_threads=1)
    start = sim.object_pose()[0].copy()
    rest_z = cfg.table_height_m + scene.object_spec.half_height_m(cfg.object_scale)
    assert start[2] == pytest.approx(rest_z + 0.002)  # spawned 2 mm above the table
    for _ in range(round(1.0 / sim.control_dt_s)):
        sim.step()
    pose, vel = sim.object_pose()[0], sim.object_vel()[0]
    assert np.all(np.isfinite(pose)) and np.all(np.isfinite(vel)) and np.all(np.isfinite(sim.joint_pos()))
    assert np.linalg.norm(pose[:2] - start[:2]) < 0.05
    assert pose[2] == pytest.approx(rest_z, abs=3e-3)
    assert sim.contacts()[0, CONTACT_OBJECT_TABLE]
    assert np.linalg.norm(vel) < 1e-2, vel


@pytest.mark.parametrize("name", list(SCENES))
def test_every_scene_preset_builds(name):
    scene = build_scene(name)
    assert scene.config.name == name
    assert scene.object_spec.name == SCENES[name].object
    assert scene.model.body(scene.object_body_id).name == "object"
    assert scene.actuator_ids.shape == (26,) and len(set(scene.actuator_ids.tolist())) == 26
    assert scene.fingertip_site_ids.shape == (2, 4)
    assert set(scene.camera_ids) == {"head", "third_view"}
