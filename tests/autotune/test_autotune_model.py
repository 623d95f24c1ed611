"""Candidate physics written into a model in place equals a model compiled with it; a tuned file
goes back into the simulator with one option and changes its dynamics."""

import copy

import mujoco
import numpy as np
import pytest
from dexmani_training.autotune.model import (
    ModelTables,
    apply_physics,
    build_replay_model,
)
from gr1_description.physics import PhysicsParams

from gr1_description import joints as jt


def _numeric_arrays(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    out = {}
    for name in dir(model):
        if name.startswith("_"):
            continue
        value = getattr(model, name, None)
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
            out[name] = value.copy()
    return out


def test_apply_in_place_equals_building_from_params(hidden):
    p = copy.deepcopy(hidden)
    rng = np.random.default_rng(0)
    for j in p.joints.values():
        j.damping *= rng.uniform(0.5, 2)
        j.frictionloss *= rng.uniform(0.5, 2)
        j.effort *= rng.uniform(0.7, 1.3)
    for m in p.mimic.values():
        m.k *= 1.1
        m.b += 0.03
    built = build_replay_model(p)
    patched = copy.copy(build_replay_model())
    apply_physics(patched, p)
    a, b = _numeric_arrays(built), _numeric_arrays(patched)
    assert len(a) > 100
    differing = [k for k in a if a[k].shape != b[k].shape or not np.allclose(a[k], b[k], rtol=1e-10, atol=1e-12)]
    assert differing == []
    # And the arrays autotune sets did change from the defaults.
    default = _numeric_arrays(build_replay_model())
    for k in ("actuator_gainprm", "actuator_biasprm", "dof_armature", "dof_damping", "dof_frictionloss", "eq_data",
              "actuator_forcerange", "dof_invweight0"):
        assert not np.allclose(default[k], a[k]), k


def test_model_tables_follow_the_canonical_order():
    m = build_replay_model()
    t = ModelTables.of(m)
    assert [m.actuator(int(i)).name for i in t.actuator_ids] == list(jt.joint_names())
    assert [m.joint(int(m.dof_jntid[a])).name for a in t.dof_adr] == list(jt.joint_names())
    assert m.opt.timestep == 0.005


def test_tuned_file_round_trips_into_the_simulator(tmp_path, hidden):
    from gr1_sim.batch import BatchedSim
    from gr1_sim.scene import build_scene

    tuned = copy.deepcopy(hidden)
    tuned.fit = {"mse_before": 1e-4, "mse_after": 1e-6, "bag": "/x"}
    path = tmp_path / "tuned.yaml"
    tuned.save(path)
    loaded = PhysicsParams.load(path)
    assert loaded.to_dict() == tuned.to_dict()

    def step_response(physics):
        sim = BatchedSim(build_scene("tabletop", physics), num_envs=1)
        target = sim.default_qpos.copy()
        target[jt.joint_names().index("left_elbow_pitch_joint")] = -0.5
        out = []
        for _ in range(10):
            sim.step(target[None])
            out.append(sim.joint_pos()[0].copy())
        sim.close()
        return np.array(out)

    with_file = step_response(str(path))  # what `--physics tuned.yaml` does
    default = step_response(None)
    scene = build_scene("tabletop", str(path))
    elbow = scene.model.actuator("left_elbow_pitch_joint").id
    assert scene.model.actuator_gainprm[elbow, 0] == pytest.approx(hidden.joints["left_elbow_pitch_joint"].kp)
    i = jt.joint_names().index("left_elbow_pitch_joint")
    assert np.max(np.abs(with_file[:, i] - default[:, i])) > 0.01


def test_randomization_ranges_are_centred_on_the_tuned_values(hidden):
    from dexmani_training.autotune.randomization import randomization_ranges

    tuned = copy.deepcopy(hidden)
    tuned.fit = {"randomization": {"kp_scale": [0.8, 1.1], "kd_scale": [0.7, 1.2]}}
    ranges = randomization_ranges(tuned)
    default = randomization_ranges(PhysicsParams.default())
    for name in jt.joint_names():
        for p in ("kp", "kd"):
            lo, hi = ranges[name][p]
            assert lo < getattr(tuned.joints[name], p) < hi
    elbow = "left_elbow_pitch_joint"
    assert ranges[elbow]["kp"] == pytest.approx((0.8 * tuned.joints[elbow].kp, 1.1 * tuned.joints[elbow].kp))
    assert ranges[elbow]["kp"] != pytest.approx(default[elbow]["kp"])  # follows the tuned value, not the default
    tuned.fit = {"randomization": {"kp_scale": [1.2, 1.5]}}
    with pytest.raises(ValueError, match="0 < lo <= 1 <= hi"):
        randomization_ranges(tuned)
