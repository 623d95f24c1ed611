"""The search: its building blocks on synthetic problems, and recovery of known parameters from a
proxy bag (short bag, small K, in test time)."""

import numpy as np
import pytest
from autotune_helpers import HIDDEN_LATENCY_S
from dexmani_training.autotune.config import (
    AutotuneConfig,
    ParameterRange,
    SearchConfig,
)
from dexmani_training.autotune.params import ParamSpace
from dexmani_training.autotune.search import BlockCMA, random_search
from dexmani_training.autotune.tune import autotune
from gr1_description.physics import PhysicsParams

from gr1_description import joints as jt


def test_block_cma_finds_the_minimum_of_a_bounded_quadratic():
    rng = np.random.default_rng(0)
    target = np.array([0.2, 0.7, 0.95])
    es = BlockCMA(np.full(3, 0.5), 0.2, 12, rng)
    for _ in range(60):
        x = es.ask()
        assert np.all((x >= 0) & (x <= 1))
        es.tell(x, np.sum((x - target) ** 2 * np.array([1.0, 10.0, 100.0]), axis=1))
    np.testing.assert_allclose(es.mean, target, atol=0.02)


def test_param_space_maps_the_initial_physics_to_u0_and_back():
    init = PhysicsParams.default()
    space = ParamSpace(init, SearchConfig(), mimic_measured=True)
    # 26 joints × (kp, kd, armature, frictionloss) + 10 × (k, b) + latency
    assert space.dim == 26 * 4 + 20 + 1
    back = space.decode(space.u0)
    assert back.to_dict() == init.to_dict()
    rng = np.random.default_rng(1)
    u = rng.uniform(size=space.dim)
    zero = np.array([c.param == "frictionloss" and init.joints[c.joints[0]].frictionloss == 0 for c in space.coords])
    assert zero.sum() == 12  # the hands' frictionloss
    np.testing.assert_allclose(space.encode(space.decode(u))[~zero], u[~zero], atol=1e-9)
    p = space.decode(np.ones(space.dim))
    assert p.joints["left_elbow_pitch_joint"].kp == pytest.approx(2.0 * init.joints["left_elbow_pitch_joint"].kp)
    assert p.latency_s == pytest.approx(0.1)
    # Hand frictionloss is 0 initially: a scale range keeps it at 0, and the space says so.
    assert p.joints["L_index_proximal_joint"].frictionloss == 0.0
    assert any("frictionloss of L_thumb_proximal_yaw_joint" in n for n in space.notes)


def test_scopes_share_values():
    cfg = SearchConfig(parameters={
        "kp": ParameterRange("pair", (0.5, 2.0)),
        "kd": ParameterRange("group", (0.5, 2.0)),
        "latency_s": ParameterRange("fixed", (0.0, 0.1)),
    })
    space = ParamSpace(PhysicsParams.default(), cfg, mimic_measured=False)
    assert space.dim == 13 + 4
    assert space.latency_index is None
    p = space.decode(np.linspace(0, 1, space.dim))
    d = PhysicsParams.default()
    ratio = {n: p.joints[n].kp / d.joints[n].kp for n in jt.joint_names()}
    assert ratio["left_elbow_pitch_joint"] == pytest.approx(ratio["right_elbow_pitch_joint"])
    assert ratio["L_index_proximal_joint"] == pytest.approx(ratio["R_index_proximal_joint"])
    assert ratio["left_elbow_pitch_joint"] != pytest.approx(ratio["left_shoulder_pitch_joint"])
    kd = {n: p.joints[n].kd / d.joints[n].kd for n in jt.joint_names()}
    left_arm = [kd[j.name] for j in jt.select("left", "arm")]
    assert np.allclose(left_arm, left_arm[0]) and kd["right_elbow_pitch_joint"] != pytest.approx(left_arm[0])
    # The mimic couplings are not searched when the bag does not measure the finger joints.
    assert not any(c.param.startswith("mimic") for c in space.coords)


def test_random_search_assembles_the_best_block_of_each_joint():
    space = ParamSpace(PhysicsParams.default(), SearchConfig(), mimic_measured=False)
    target = np.random.default_rng(2).uniform(size=space.dim)

    def evaluate(u):  # each channel depends only on its own block's coordinates
        out = np.zeros((u.shape[0], space.num_channels))
        for idx, ch in space.blocks:
            out[:, ch] += np.sum((u[:, idx] - target[idx]) ** 2, axis=1)[:, None]
        return out

    _u, mse = random_search(space, evaluate, space.u0, 64, np.random.default_rng(3))
    best_single = evaluate(np.random.default_rng(3).uniform(size=(64, space.dim))).mean(axis=1).min()
    assert mse.mean() < 0.3 * best_single


def test_search_recovers_the_hidden_parameters_of_a_proxy_bag(proxy_bag, hidden):
    cfg = AutotuneConfig.from_dict({"search": {
        "population": 16, "cma_generations": 6, "cma_population": 12,
        "parameters": {"frictionloss": {"scope": "fixed"}, "mimic_k": {"scope": "fixed"}, "mimic_b": {"scope": "fixed"}},
    }})
    res = autotune(proxy_bag, cfg, progress=False)
    fit = res.tuned.fit
    assert fit["mse_after"] <= fit["mse_before"] / 5
    assert fit["mse_validation_after"] <= fit["mse_validation_before"] / 3
    assert res.tuned.latency_s == pytest.approx(HIDDEN_LATENCY_S, abs=0.005)
    arm = [j.name for j in jt.CONTROLLED_JOINTS if j.group == "arm"]
    kp_err = np.array([res.tuned.joints[n].kp / hidden.joints[n].kp - 1 for n in arm])
    kd_err = np.array([res.tuned.joints[n].kd / hidden.joints[n].kd - 1 for n in arm])
    initial_kp_err = np.array([PhysicsParams.default().joints[n].kp / hidden.joints[n].kp - 1 for n in arm])
    assert np.median(np.abs(initial_kp_err)) > 0.25  # the start was far off
    assert np.sum(np.abs(kp_err) <= 0.2) >= 12 and np.median(np.abs(kp_err)) < 0.1
    assert np.median(np.abs(kd_err)) < 0.2
    assert fit["search"]["evaluations"] == res.info["evaluations"]


def test_latency_offset_space_adds_one_offset_per_joint():
    init = PhysicsParams.default()
    base = ParamSpace(init, SearchConfig(), mimic_measured=True)
    space = ParamSpace(init, SearchConfig(), mimic_measured=True, latency_offsets_s=0.02)
    assert space.dim == base.dim + 26 and space.offset_indices.size == 26
    np.testing.assert_allclose(space.latency_offsets(space.u0), 0.0, atol=1e-12)
    u = space.u0.copy()
    u[space.offset_indices[3]] = 1.0
    assert space.latency_offsets(u)[3] == pytest.approx(0.02)
    assert space.decode(u).to_dict() == base.decode(base.u0).to_dict()  # offsets are not physics
    # Each offset sits in its joint's block, with that joint's other parameters.
    elbow = jt.joint_names().index("left_elbow_pitch_joint")
    block = next(idx for idx, ch in space.blocks if space.offset_indices[elbow] in idx)
    assert {space.coords[i].param for i in block} == {"kp", "kd", "armature", "frictionloss", "latency_offset_s"}
    assert base.latency_offsets(base.u0) is None


def test_uniform_latency_offsets_equal_a_latency_shift(proxy_bag, hidden):
    import copy

    from dexmani_training.autotune.bag import read_bag
    from dexmani_training.autotune.replay import Replay

    rec = read_bag(proxy_bag).segment(0, 300)
    later = copy.deepcopy(hidden)
    later.latency_s += 0.013
    with Replay(rec, hidden) as rp:
        shifted = rp.simulate([later])
        offset = rp.simulate([hidden], np.full((1, 26), 0.013))
    np.testing.assert_allclose(offset, shifted, atol=1e-10)
