"""The compiled MuJoCo model of gr1_description against the URDF it is built from.

Kinematics (joint limits, fingertip / palm poses, welds) and inertials are compared with the
parsed URDF and ``urdf.forward_kinematics``, an FK routine that does not go through MuJoCo.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from gr1_description import joints as jt
from gr1_description import mjcf, urdf
from gr1_description.transforms import matrix_from_quat

POS_TOL_M = 1e-3  # the brief: fingertips / palms agree within 1 mm
ROT_TOL = 1e-6  # max abs difference of rotation-matrix entries

TIP_SITES = [f"{p}_{f}_tip" for p in ("L", "R") for f in ("thumb", "index", "middle", "ring", "pinky")]
PALM_BODIES = list(jt.PALM_LINKS.values())


@pytest.fixture(scope="module")
def urdf_model():
    return urdf.load_urdf()


@pytest.fixture(scope="module")
def model():
    return mjcf.build_robot_model()


def _config(seed: int | None) -> dict[str, float]:
    """Controlled joints (zero or uniform within the table limits) and mimic joints per coupling."""
    q: dict[str, float] = {}
    if seed is not None:
        rng = np.random.default_rng(seed)
        for j in jt.CONTROLLED_JOINTS:
            q[j.name] = float(rng.uniform(j.lower_rad, j.upper_rad))
    for m in jt.MIMIC_JOINTS:
        q[m.name] = m.k * q.get(m.driver, 0.0) + m.b
    return q


def _set_and_kinematics(model: mujoco.MjModel, q: dict[str, float]) -> mujoco.MjData:
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    for name, value in q.items():
        data.qpos[model.joint(name).qposadr[0]] = value
    mujoco.mj_kinematics(model, data)
    return data


def test_model_has_the_joint_table(model):
    names = {model.joint(i).name for i in range(model.njnt)}
    assert names == set(jt.joint_names()) | set(jt.mimic_names())
    assert model.nu == 26
    assert [model.actuator(i).name for i in range(model.nu)] == list(jt.joint_names())
    for i in range(model.nu):
        # every actuator drives the joint it is named after
        assert model.joint(int(model.actuator_trnid[i, 0])).name == model.actuator(i).name
    assert sorted(model.equality(i).name for i in range(model.neq)) == sorted(f"mimic_{n}" for n in jt.mimic_names())
    assert sorted(model.site(i).name for i in range(model.nsite)) == sorted(TIP_SITES)
    mjcf.check_model_joints(model)  # must not raise


def test_joint_limits_equal_urdf(model, urdf_model):
    """All 26 controlled and 10 mimic joints: hinge, limited, range = URDF limits in radians."""
    wrong = []
    for name in [j.name for j in jt.CONTROLLED_JOINTS] + [m.name for m in jt.MIMIC_JOINTS]:
        jid = model.joint(name).id
        u = urdf_model.joints[name]
        assert model.jnt_limited[jid], name
        assert int(model.jnt_type[jid]) == int(mujoco.mjtJoint.mjJNT_HINGE), name
        if not np.allclose(model.jnt_range[jid], [u.lower, u.upper], atol=1e-9):
            wrong.append(f"{name}: model {model.jnt_range[jid].tolist()} vs URDF {[u.lower, u.upper]}")
    assert not wrong, f"{len(wrong)} joint ranges differ from the URDF:\n" + "\n".join(wrong)


def test_actuator_ctrlrange_equals_joint_table(model):
    for j in jt.CONTROLLED_JOINTS:
        np.testing.assert_allclose(model.actuator(j.name).ctrlrange, [j.lower_rad, j.upper_rad], atol=1e-12)


@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3])
def test_fingertip_and_palm_fk_match_urdf(model, urdf_model, seed):
    q = _config(seed)
    data = _set_and_kinematics(model, q)
    poses = urdf.forward_kinematics(urdf_model, q)  # root-link frame
    base = np.asarray(mjcf.ModelConfig().base_pos_m)  # MuJoCo world = root frame + base_pos_m
    for site in TIP_SITES:
        want = poses[site + "_link"]
        got = data.site(site)
        np.testing.assert_allclose(got.xpos - base, want[:3, 3], atol=POS_TOL_M, err_msg=site)
        np.testing.assert_allclose(got.xmat.reshape(3, 3), want[:3, :3], atol=ROT_TOL, err_msg=site)
    for body in PALM_BODIES + ["left_end_effector_link", "right_end_effector_link"]:
        want = poses[body]
        got = data.body(body)
        np.testing.assert_allclose(got.xpos - base, want[:3, 3], atol=POS_TOL_M, err_msg=body)
        np.testing.assert_allclose(got.xmat.reshape(3, 3), want[:3, :3], atol=ROT_TOL, err_msg=body)
    if seed is not None:
        # the random configuration really moves the tips away from the zero pose
        zero = urdf.forward_kinematics(urdf_model, _config(None))
        assert np.linalg.norm(poses["L_index_tip_link"][:3, 3] - zero["L_index_tip_link"][:3, 3]) > 0.05


def test_base_and_head_welds_follow_model_config(urdf_model):
    """base_link welded at base_pos_m, head pitch welded at the configured angle."""
    cfg = mjcf.ModelConfig(base_pos_m=(0.3, -0.2, 0.8), fixed_joint_positions_rad={"head_pitch_joint": -0.3})
    model = mjcf.build_robot_model(cfg)
    assert "head_pitch_joint" not in {model.joint(i).name for i in range(model.njnt)}
    q = _config(7)
    data = _set_and_kinematics(model, q)
    base = np.array(cfg.base_pos_m)
    np.testing.assert_allclose(data.body("base_link").xpos, base, atol=1e-12)
    np.testing.assert_allclose(data.body("base_link").xmat.reshape(3, 3), np.eye(3), atol=1e-12)
    poses = urdf.forward_kinematics(urdf_model, {**q, "head_pitch_joint": -0.3})
    for body in ("head_yaw_link", "L_hand_base_link", "R_hand_base_link"):
        np.testing.assert_allclose(data.body(body).xpos - base, poses[body][:3, 3], atol=POS_TOL_M, err_msg=body)
        np.testing.assert_allclose(data.body(body).xmat.reshape(3, 3), poses[body][:3, :3], atol=ROT_TOL, err_msg=body)


def test_default_head_pitch_weld(model, urdf_model):
    # The value is a tuning choice (0.45 rad when these tests were written); test the weld, not it.
    fixed = mjcf.ModelConfig().fixed_joint_positions_rad
    assert set(fixed) == {"head_pitch_joint"}
    pitch = fixed["head_pitch_joint"]
    data = _set_and_kinematics(model, {})
    poses = urdf.forward_kinematics(urdf_model, {"head_pitch_joint": pitch})
    zero = urdf.forward_kinematics(urdf_model, {})
    got = data.body("head_yaw_link").xmat.reshape(3, 3)
    np.testing.assert_allclose(got, poses["head_yaw_link"][:3, :3], atol=ROT_TOL)
    assert np.abs(got - zero["head_yaw_link"][:3, :3]).max() > 0.1  # the weld is not at 0


def test_inertials_equal_urdf(model, urdf_model):
    checked = 0
    for b in range(1, model.nbody):
        link = urdf_model.links[model.body(b).name]
        if link.inertial is None or link.inertial.mass_kg <= 0:
            continue
        i = link.inertial.inertia
        want = np.array([[i[0], i[3], i[4]], [i[3], i[1], i[5]], [i[4], i[5], i[2]]])
        r = urdf.rpy_to_matrix(link.inertial.rpy)
        want = r @ want @ r.T
        rm = matrix_from_quat(model.body_iquat[b])
        got = rm @ np.diag(model.body_inertia[b]) @ rm.T
        assert model.body_mass[b] == pytest.approx(link.inertial.mass_kg, rel=1e-9), link.name
        np.testing.assert_allclose(got, want, atol=1e-9 + 1e-6 * np.abs(want).max(), err_msg=link.name)
        checked += 1
    assert checked > 40
