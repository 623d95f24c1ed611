"""gr1_description on bad inputs: a URDF that disagrees with the joint table, a missing robot
description package, bad model configs and physics files, bad joint names."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from gr1_description import joints as jt
from gr1_description import mjcf, urdf
from gr1_description.physics import PARAMETER_NAMES, PhysicsParams


@pytest.fixture(scope="module")
def real_assets() -> Path:
    old = os.environ.pop("DEXMANI_ROBOT_ASSETS", None)
    try:
        return urdf.assets_dir()
    finally:
        if old is not None:
            os.environ["DEXMANI_ROBOT_ASSETS"] = old


@pytest.fixture
def fake_assets(tmp_path, real_assets, monkeypatch):
    """An assets folder with the real meshes (symlinked) and a writable urdf/ folder."""
    root = tmp_path / "assets"
    (root / "urdf").mkdir(parents=True)
    (root / "meshes").symlink_to(real_assets / "meshes", target_is_directory=True)
    monkeypatch.setenv("DEXMANI_ROBOT_ASSETS", str(root))
    return root


def _urdf_text(real_assets: Path) -> str:
    return (real_assets / "urdf" / f"{urdf.DEFAULT_VARIANT}.urdf").read_text()


# --- the joint table against the URDF -------------------------------------------------------


def test_real_urdf_matches_the_joint_table():
    urdf.check_joint_table(urdf.load_urdf())  # must not raise


def test_renamed_joint_in_urdf_text_is_named(fake_assets, real_assets):
    text = _urdf_text(real_assets)
    assert text.count('name="left_elbow_pitch_joint"') == 1
    (fake_assets / "urdf" / "renamed.urdf").write_text(
        text.replace('name="left_elbow_pitch_joint"', 'name="left_elbow_joint_renamed"')
    )
    model = urdf.load_urdf("renamed")
    with pytest.raises(urdf.JointTableMismatch, match="left_elbow_pitch_joint"):
        urdf.check_joint_table(model)
    # building a model from that URDF fails the same way, before anything is compiled
    with pytest.raises(urdf.JointTableMismatch, match="left_elbow_pitch_joint"):
        mjcf.build_robot_model(mjcf.ModelConfig(variant="renamed"))


def test_copied_urdf_with_resolvable_meshes_builds(fake_assets, real_assets):
    """Control for the test above: an unmodified copy under DEXMANI_ROBOT_ASSETS builds."""
    (fake_assets / "urdf" / "copy.urdf").write_text(_urdf_text(real_assets))
    model = mjcf.build_robot_model(mjcf.ModelConfig(variant="copy"))
    assert model.nu == 26


def test_renamed_joint_in_parsed_model_is_named():
    model = urdf.load_urdf()
    model.joints["R_index_proximal_renamed"] = model.joints.pop("R_index_proximal_joint")
    with pytest.raises(urdf.JointTableMismatch) as err:
        urdf.check_joint_table(model)
    assert "R_index_proximal_joint" in str(err.value)
    assert "L_index_proximal_joint" not in str(err.value)


def test_changed_limit_and_mimic_driver_are_named():
    model = urdf.load_urdf()
    model.joints["right_wrist_pitch_joint"].upper = 0.7
    model.joints["L_ring_intermediate_joint"].mimic = ("L_pinky_proximal_joint", 0.975, 0.0)
    with pytest.raises(urdf.JointTableMismatch) as err:
        urdf.check_joint_table(model)
    assert "right_wrist_pitch_joint" in str(err.value)
    assert "L_ring_intermediate_joint" in str(err.value)


def test_missing_fingertip_link_is_named():
    model = urdf.load_urdf()
    del model.links["R_thumb_tip_link"]
    with pytest.raises(urdf.JointTableMismatch, match="R_thumb_tip_link"):
        urdf.check_joint_table(model)


# --- a missing robot description --------------------------------------------------------------


def test_empty_assets_override_raises_with_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXMANI_ROBOT_ASSETS", str(tmp_path))
    with pytest.raises(urdf.RobotDescriptionNotFound) as err:
        urdf.load_urdf()
    assert "DEXMANI_ROBOT_ASSETS" in str(err.value)
    assert "pip install" in str(err.value)
    with pytest.raises(urdf.RobotDescriptionNotFound):
        mjcf.build_robot_model()


def test_uninstalled_package_raises_with_install_hint(monkeypatch):
    monkeypatch.delenv("DEXMANI_ROBOT_ASSETS", raising=False)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "fourier_robot_descriptions":
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(urdf.RobotDescriptionNotFound, match="pip install"):
        urdf.assets_dir()


def test_unknown_variant_lists_installed_variants():
    with pytest.raises(urdf.RobotDescriptionNotFound) as err:
        urdf.urdf_path("gr1t2_no_such_hand")
    msg = str(err.value)
    assert "gr1t2_no_such_hand" in msg
    assert "installed variants" in msg
    assert "gr1t2_fourier_hand_6dof" in msg and "gr1t2_inspire_hand" in msg
    with pytest.raises(urdf.RobotDescriptionNotFound, match="gr1t2_fourier_hand_6dof"):
        mjcf.build_robot_model(mjcf.ModelConfig(variant="gr1t2_no_such_hand"))


# --- ModelConfig ------------------------------------------------------------------------------


def test_model_config_rejects_non_waist_head_fixed_joint():
    cfg = mjcf.ModelConfig(fixed_joint_positions_rad={"head_pitch_joint": 0.3, "left_elbow_pitch_joint": 0.5})
    with pytest.raises(ValueError) as err:
        cfg.validate()
    assert "left_elbow_pitch_joint" in str(err.value)
    assert "'head_pitch_joint'" not in str(err.value).split(";")[0]  # only the bad one is reported
    with pytest.raises(ValueError, match="left_elbow_pitch_joint"):
        mjcf.build_robot_spec(cfg)


def test_model_config_rejects_non_waist_head_movable_joint():
    with pytest.raises(ValueError, match="left_hip_pitch_joint"):
        mjcf.ModelConfig(movable_joints=("left_hip_pitch_joint",)).validate()
    mjcf.ModelConfig(movable_joints=("waist_yaw_joint",), fixed_joint_positions_rad={"head_roll_joint": 0.1}).validate()


# --- PhysicsParams ------------------------------------------------------------------------------


def test_physics_default_covers_the_table():
    p = PhysicsParams.default()
    assert list(p.joints) == list(jt.joint_names())
    assert list(p.mimic) == list(jt.mimic_names())
    for m in jt.MIMIC_JOINTS:
        assert (p.mimic[m.name].k, p.mimic[m.name].b) == (m.k, m.b)


def test_physics_dict_round_trip():
    p = PhysicsParams.default()
    p.joints["left_elbow_pitch_joint"].kp = 77.0
    p.mimic["R_thumb_distal_joint"].k = 0.9
    p.latency_s = 0.02
    p.fit = {"bag": "x.mcap", "loss": 0.1}
    q = PhysicsParams.from_dict(p.to_dict())
    assert q == p


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"joints": {"left_elbow_joint": {"kp": 1.0}}}, "left_elbow_joint"),
        ({"joints": {"left_elbow_pitch_joint": {"kpp": 1.0}}}, "kpp"),
        ({"joints": {"left_elbow_pitch_joint": {"kp": -1.0}}}, "kp"),
        ({"joints": {"R_pinky_proximal_joint": {"damping": -0.1}}}, "R_pinky_proximal_joint"),
        ({"mimic": {"L_thumb_tip_joint": {"k": 1.0}}}, "L_thumb_tip_joint"),
        ({"mimic": {"L_thumb_distal_joint": {"kk": 1.0}}}, "kk"),
        ({"latency_s": -0.01}, "latency_s"),
        ({"joint": {}}, "joint"),
        ([1, 2], "mapping"),
    ],
)
def test_physics_from_dict_rejects_bad_input(data, needle):
    with pytest.raises(ValueError) as err:
        PhysicsParams.from_dict(data, source="bad.yaml")
    assert needle in str(err.value)
    assert "bad.yaml" in str(err.value)


def test_physics_negative_kp_names_joint_and_parameter():
    with pytest.raises(ValueError) as err:
        PhysicsParams.from_dict({"joints": {"right_wrist_roll_joint": {"kp": -5}}})
    assert "right_wrist_roll_joint" in str(err.value) and "kp" in str(err.value)


def test_physics_save_refuses_overwrite_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "physics.yaml"
    p = PhysicsParams.default()
    p.joints["right_shoulder_yaw_joint"].kd = 6.5
    p.mimic["L_index_intermediate_joint"].b = -0.01
    p.latency_s = 0.015
    p.save(path)
    assert PhysicsParams.load(path) == p
    assert set(yaml.safe_load(path.read_text())) == {"joints", "mimic", "latency_s"}

    before = path.read_bytes()
    q = PhysicsParams.default()
    with pytest.raises(FileExistsError, match="force"):
        q.save(path)
    assert path.read_bytes() == before
    assert sorted(x.name for x in path.parent.iterdir()) == ["physics.yaml"]  # no temp file left

    q.save(path, force=True)
    assert PhysicsParams.load(path) == q
    assert sorted(x.name for x in path.parent.iterdir()) == ["physics.yaml"]


def test_physics_load_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("joints:\n  left_wrist_yaw_joint:\n    kp: 42\n")
    p = PhysicsParams.load(path)
    assert p.joints["left_wrist_yaw_joint"].kp == 42.0
    d = PhysicsParams.default()
    assert p.joints["left_wrist_yaw_joint"].kd == d.joints["left_wrist_yaw_joint"].kd
    assert p.joints["right_wrist_yaw_joint"] == d.joints["right_wrist_yaw_joint"]
    assert set(PARAMETER_NAMES) == {"kp", "kd", "armature", "damping", "frictionloss", "effort"}


def test_physics_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        PhysicsParams.load(tmp_path / "nope.yaml")


# --- the joint table helpers ----------------------------------------------------------------------


def test_joint_table_order():
    names = jt.joint_names()
    assert len(names) == 26 and len(set(names)) == 26
    assert [j.name for j in jt.select("left", "arm")] == list(names[0:7])
    assert [j.name for j in jt.select("left", "hand")] == list(names[7:13])
    assert [j.name for j in jt.select("right", "arm")] == list(names[13:20])
    assert [j.name for j in jt.select("right", "hand")] == list(names[20:26])
    assert all(j.lower_rad < j.upper_rad for j in jt.CONTROLLED_JOINTS)
    assert len(jt.MIMIC_JOINTS) == 10
    assert {m.driver for m in jt.MIMIC_JOINTS} <= set(names)
    with pytest.raises(ValueError, match="middle"):
        jt.select(side="middle")
    with pytest.raises(ValueError, match="leg"):
        jt.select(group="leg")


def test_indices_and_reorder():
    names = jt.joint_names()
    np.testing.assert_array_equal(jt.indices([names[5], names[0], names[25]]), [5, 0, 25])
    shuffled = list(reversed(names)) + ["head_pitch_joint"]
    values = np.arange(len(shuffled), dtype=float)
    out = jt.reorder(values, shuffled)
    assert out.shape == (26,)
    for i, n in enumerate(names):
        assert out[i] == values[shuffled.index(n)]


def test_indices_names_unknown_joints():
    with pytest.raises(KeyError) as err:
        jt.indices(["left_elbow_pitch_joint", "left_knee_joint", "bogus_joint"])
    assert "left_knee_joint" in str(err.value) and "bogus_joint" in str(err.value)


def test_reorder_names_missing_joints():
    names = [n for n in jt.joint_names() if n not in ("R_ring_proximal_joint", "left_wrist_roll_joint")]
    with pytest.raises(KeyError) as err:
        jt.reorder(np.zeros(len(names)), names)
    assert "R_ring_proximal_joint" in str(err.value) and "left_wrist_roll_joint" in str(err.value)
    with pytest.raises(ValueError, match="25 values for 26 names"):
        jt.reorder(np.zeros(25), jt.joint_names())
