"""Simulating the gr1_description model: mimic couplings, actuator tracking, physics parameters,
and the geometry options (primitive collisions, optional visual meshes)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from gr1_description import joints as jt
from gr1_description import mjcf
from gr1_description.physics import PhysicsParams

MIMIC_TOL_RAD = 0.02
# Measured steady-state errors after 1.5 s with the default physics (MuJoCo 4.0):
# elbow at -1.0 rad sags ~0.025 rad under gravity (kp 100); fingers 0.0005-0.012 rad.
# Tolerances leave about 2x margin.
ELBOW_TOL_RAD = 0.05
FINGER_TOL_RAD = 0.03

MESH, BOX, CAPSULE, SPHERE = (
    int(t) for t in (mujoco.mjtGeom.mjGEOM_MESH, mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_SPHERE)
)


@pytest.fixture(scope="module")
def model():
    return mjcf.build_robot_model()


def _qpos(model, data, name):
    return float(data.qpos[model.joint(name).qposadr[0]])


def _simulate(model, targets: dict[str, float], seconds: float) -> mujoco.MjData:
    data = mujoco.MjData(model)
    for name, value in targets.items():
        data.ctrl[model.actuator(name).id] = value
    for _ in range(int(round(seconds / model.opt.timestep))):
        mujoco.mj_step(model, data)
    assert np.all(np.isfinite(data.qpos))
    return data


def _hand_mid_targets() -> dict[str, float]:
    return {j.name: 0.5 * (j.lower_rad + j.upper_rad) for j in jt.select(group="hand")}


def test_mimic_couplings_hold_after_stepping(model):
    targets = _hand_mid_targets()
    data = _simulate(model, targets, 1.0)
    for m in jt.MIMIC_JOINTS:
        qa, qu = _qpos(model, data, m.driver), _qpos(model, data, m.name)
        # the driver really moved to its mid-range target (else q=0 satisfies the coupling trivially)
        assert abs(qa - targets[m.driver]) < FINGER_TOL_RAD, (m.driver, qa, targets[m.driver])
        assert abs(qu - (m.k * qa + m.b)) < MIMIC_TOL_RAD, (m.name, qu, qa)


def test_mimic_coupling_follows_physics_params():
    params = PhysicsParams.default()
    new = {}
    for m in jt.MIMIC_JOINTS:
        b = -0.05 if "thumb" in m.name else 0.05  # keeps q_u inside the limits, adds to the k change
        params.mimic[m.name].k = 0.8
        params.mimic[m.name].b = b
        new[m.name] = (0.8, b)
    model = mjcf.build_robot_model(physics=params)
    targets = _hand_mid_targets()
    data = _simulate(model, targets, 1.0)
    for m in jt.MIMIC_JOINTS:
        k, b = new[m.name]
        qa, qu = _qpos(model, data, m.driver), _qpos(model, data, m.name)
        assert abs(qa - targets[m.driver]) < FINGER_TOL_RAD, (m.driver, qa)
        assert abs(qu - (k * qa + b)) < MIMIC_TOL_RAD, (m.name, qu, k * qa + b)
        # and not the URDF default coupling
        assert abs(qu - (m.k * qa + m.b)) > 0.1, m.name


def test_position_actuators_track_a_step(model):
    targets = {
        "left_elbow_pitch_joint": -1.0,
        "right_elbow_pitch_joint": 1.0,
        "L_index_proximal_joint": -0.8,
        "R_thumb_proximal_pitch_joint": 0.6,
    }
    tol = {n: ELBOW_TOL_RAD if "elbow" in n else FINGER_TOL_RAD for n in targets}
    data0 = mujoco.MjData(model)
    start = {n: _qpos(model, data0, n) for n in targets}
    data = _simulate(model, targets, 1.5)
    for name, target in targets.items():
        q = _qpos(model, data, name)
        assert abs(q - target) < tol[name], (name, q, target)
        assert abs(q - start[name]) > 0.5 * abs(target - start[name]), (name, q, start[name])


def test_changed_gains_and_passive_params_land_in_the_model(model):
    params = PhysicsParams.default()
    arm = "left_elbow_pitch_joint"
    params.joints[arm].kp *= 0.5
    params.joints[arm].kd = 2.5
    params.joints[arm].effort = 12.0
    wrist = "right_wrist_yaw_joint"
    params.joints[wrist].armature = 0.0123
    params.joints[wrist].damping = 0.456
    params.joints[wrist].frictionloss = 0.0789
    changed = mjcf.build_robot_model(physics=params)
    default = PhysicsParams.default()

    a = changed.actuator(arm).id
    assert changed.actuator_gainprm[a, 0] == pytest.approx(0.5 * default.joints[arm].kp)
    assert changed.actuator_biasprm[a, 1] == pytest.approx(-0.5 * default.joints[arm].kp)
    assert changed.actuator_biasprm[a, 2] == pytest.approx(-2.5)
    np.testing.assert_allclose(changed.actuator_forcerange[a], [-12.0, 12.0])
    assert model.actuator_gainprm[a, 0] == pytest.approx(default.joints[arm].kp)
    others = [i for i in range(changed.nu) if i != a]
    np.testing.assert_array_equal(changed.actuator_gainprm[others], model.actuator_gainprm[others])
    np.testing.assert_array_equal(changed.actuator_biasprm[others], model.actuator_biasprm[others])

    d = changed.joint(wrist).dofadr[0]
    assert changed.dof_armature[d] == pytest.approx(0.0123)
    assert changed.dof_damping[d] == pytest.approx(0.456)
    assert changed.dof_frictionloss[d] == pytest.approx(0.0789)
    other_dofs = [i for i in range(changed.nv) if i != d]
    np.testing.assert_array_equal(changed.dof_armature[other_dofs], model.dof_armature[other_dofs])
    np.testing.assert_array_equal(changed.dof_damping[other_dofs], model.dof_damping[other_dofs])


def test_default_physics_land_in_the_model(model):
    params = PhysicsParams.default()
    for j in jt.CONTROLLED_JOINTS:
        p = params.joints[j.name]
        a = model.actuator(j.name).id
        d = model.joint(j.name).dofadr[0]
        assert model.actuator_gainprm[a, 0] == pytest.approx(p.kp), j.name
        assert model.actuator_biasprm[a, 2] == pytest.approx(-p.kd), j.name
        np.testing.assert_allclose(model.actuator_forcerange[a], [-p.effort, p.effort], err_msg=j.name)
        assert model.dof_armature[d] == pytest.approx(p.armature), j.name
        assert model.dof_damping[d] == pytest.approx(p.damping), j.name
        assert model.dof_frictionloss[d] == pytest.approx(p.frictionloss), j.name
    for m in jt.MIMIC_JOINTS:
        e = model.equality(f"mimic_{m.name}")
        assert int(e.type[0]) == int(mujoco.mjtEq.mjEQ_JOINT)
        assert model.joint(int(e.obj1id[0])).name == m.name
        assert model.joint(int(e.obj2id[0])).name == m.driver
        np.testing.assert_allclose(e.data[:2], [m.b, m.k])


def test_halving_kp_increases_gravity_sag():
    """A behavioural check that kp is the actuator's stiffness: half kp, about twice the sag."""
    target = {"left_elbow_pitch_joint": -1.0}
    params = PhysicsParams.default()
    params.joints["left_elbow_pitch_joint"].kp *= 0.5
    errs = []
    for p in (None, params):
        m = mjcf.build_robot_model(physics=p)
        data = _simulate(m, target, 1.5)
        errs.append(abs(_qpos(m, data, "left_elbow_pitch_joint") + 1.0))
    assert errs[1] > 1.5 * errs[0], errs


def _geoms(model):
    return [model.geom(i) for i in range(model.ngeom)]


def _hand_body(model, geom) -> str | None:
    name = model.body(int(geom.bodyid[0])).name
    return name if name.startswith(("L_", "R_")) else None


def test_default_model_has_no_meshes_and_primitive_hand_collisions(model):
    assert model.nmesh == 0
    assert not any(int(g.type[0]) == MESH for g in _geoms(model))
    for side in ("L", "R"):
        boxes = [g for g in _geoms(model) if (_hand_body(model, g) or "").startswith(side + "_")
                 and int(g.type[0]) == BOX]
        assert [model.body(int(g.bodyid[0])).name for g in boxes] == [f"{side}_hand_base_link"]
    for g in _geoms(model):
        body = _hand_body(model, g)
        if body is None or body.endswith("hand_base_link"):
            continue
        assert int(g.type[0]) in (CAPSULE, SPHERE), (body, g.type)
        assert g.contype[0] != 0 and g.conaffinity[0] != 0, body  # collisions really collide
    capsules = [g for g in _geoms(model) if _hand_body(model, g) and int(g.type[0]) == CAPSULE]
    assert len(capsules) >= 2 * 10  # every finger link of both hands


def test_hands_do_not_self_collide_but_touch_each_other(model):
    def can_touch(g1, g2):
        return bool((g1.contype[0] & g2.conaffinity[0]) or (g2.contype[0] & g1.conaffinity[0]))

    left = [g for g in _geoms(model) if (_hand_body(model, g) or "").startswith("L_")]
    right = [g for g in _geoms(model) if (_hand_body(model, g) or "").startswith("R_")]
    arm = [g for g in _geoms(model) if _hand_body(model, g) is None]
    assert left and right and arm
    assert not any(can_touch(a, b) for a in left for b in left)
    assert not any(can_touch(a, b) for a in left + right for b in arm)
    assert all(can_touch(a, b) for a in left for b in right)


def test_visual_meshes_are_visual_only(model):
    vis = mjcf.build_robot_model(mjcf.ModelConfig(visual_meshes=True))
    meshes = [g for g in _geoms(vis) if int(g.type[0]) == MESH]
    assert vis.nmesh > 0 and len(meshes) > 0
    for g in meshes:
        assert g.contype[0] == 0 and g.conaffinity[0] == 0, g.name
    # the collision primitives are still there, and the meshes add no mass
    assert sum(int(g.type[0]) != MESH for g in _geoms(vis)) == model.ngeom
    np.testing.assert_allclose(vis.body_mass, model.body_mass)
    assert {vis.body(int(g.bodyid[0])).name for g in meshes} >= {"L_hand_base_link", "R_index_proximal_link"}
