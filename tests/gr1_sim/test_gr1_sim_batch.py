"""BatchedSim: bitwise determinism (instances, thread counts), independence of environments,
per-environment reset, joint-target handling."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from gr1_description import joints as jt
from gr1_sim.batch import BatchedSim
from gr1_sim.scene import build_scene

N_ENVS = 4
N_STEPS = 30  # 1.5 s of control


@pytest.fixture(scope="module")
def scene():
    return build_scene("tabletop")


def _target_sequence(n_envs: int, n_steps: int, seed: int = 7) -> np.ndarray:
    """Smooth, different per environment, large enough to move the arms and close the hands."""
    rng = np.random.default_rng(seed)
    lo, hi = jt.lower_limits(), jt.upper_limits()
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    amp = rng.uniform(0.2, 0.5, size=(n_envs, jt.NUM_CONTROLLED)) * half
    phase = rng.uniform(0, 2 * np.pi, size=(n_envs, jt.NUM_CONTROLLED))
    t = np.arange(n_steps)[:, None, None] * 0.05
    return np.clip(0.5 * mid + amp * np.sin(2 * np.pi * 0.8 * t + phase), lo, hi)


def _state(sim: BatchedSim) -> dict[str, np.ndarray]:
    return {
        "joint_pos": sim.joint_pos().copy(),
        "joint_vel": sim.joint_vel().copy(),
        "mimic_pos": sim.mimic_pos().copy(),
        "fingertip_pos": sim.fingertip_pos().copy(),
        "object_pose": sim.object_pose().copy(),
        "object_vel": sim.object_vel().copy(),
        "contacts": sim.contacts().copy(),
        "time_s": sim.time_s.copy(),
    }


def _run(scene, targets: np.ndarray, seed: int = 0, num_threads: int = 1) -> list[dict[str, np.ndarray]]:
    sim = BatchedSim(scene, num_envs=targets.shape[1], seed=seed, num_threads=num_threads)
    try:
        out = []
        for tgt in targets:
            sim.step(tgt)
            out.append(_state(sim))
        return out
    finally:
        sim.close()


def _assert_bitwise_equal(a, b, env=slice(None)):
    assert len(a) == len(b)
    for k, (sa, sb) in enumerate(zip(a, b)):
        for key in sa:
            np.testing.assert_array_equal(sa[key][env], sb[key][env], err_msg=f"step {k}: {key}")


@pytest.fixture(scope="module")
def targets():
    return _target_sequence(N_ENVS, N_STEPS)


@pytest.fixture(scope="module")
def reference(scene, targets):
    return _run(scene, targets, seed=0, num_threads=1)


def test_shapes_and_the_trajectory_moves(scene, reference, targets):
    last = reference[-1]
    assert last["joint_pos"].shape == (N_ENVS, 26)
    assert last["joint_vel"].shape == (N_ENVS, 26)
    assert last["mimic_pos"].shape == (N_ENVS, 10)
    assert last["fingertip_pos"].shape == (N_ENVS, 2, 4, 3)
    assert last["object_pose"].shape == (N_ENVS, 7)
    assert last["object_vel"].shape == (N_ENVS, 6)
    assert last["contacts"].shape == (N_ENVS, 4) and last["contacts"].dtype == bool
    np.testing.assert_allclose(last["time_s"], N_STEPS * scene.config.control_dt_s)
    # the joints follow their targets: the test below compares real motion, not a resting robot
    moved = np.abs(last["joint_pos"] - reference[0]["joint_pos"]).max(axis=1)
    assert np.all(moved > 0.2)
    arm = np.array([j.group == "arm" for j in jt.CONTROLLED_JOINTS])
    err = np.abs(last["joint_pos"][:, arm] - targets[-1][:, arm])
    assert np.median(err) < 0.1
    # the environments got different targets and went different ways
    assert np.abs(last["joint_pos"][0] - last["joint_pos"][1]).max() > 0.1
    assert np.all(np.isfinite(last["fingertip_pos"]))


def test_same_seed_and_targets_give_bitwise_identical_runs(scene, targets, reference):
    _assert_bitwise_equal(reference, _run(scene, targets, seed=0, num_threads=1))


def test_thread_count_does_not_change_the_result(scene, targets, reference):
    _assert_bitwise_equal(reference, _run(scene, targets, seed=0, num_threads=2))


@pytest.mark.parametrize("num_threads", [1, 2])
def test_environments_are_independent(scene, targets, reference, num_threads):
    changed = targets.copy()
    sim = BatchedSim(scene, num_envs=1, seed=0)
    changed[:, 0] = sim.default_qpos  # env 0 now holds the default pose
    sim.close()
    run = _run(scene, changed, seed=0, num_threads=num_threads)
    # environments 1.. are bit-identical to the reference run
    _assert_bitwise_equal(reference, run, env=slice(1, None))
    # env 0 went elsewhere
    diff = np.abs(run[-1]["joint_pos"][0] - reference[-1]["joint_pos"][0]).max()
    assert diff > 0.2
    assert np.abs(run[-1]["joint_pos"][0] - changed[-1, 0]).max() < 0.05


def test_environment_models_are_separate_copies(scene):
    sim = BatchedSim(scene, num_envs=2, seed=0, num_threads=1)
    g = int(np.nonzero(scene.geom_category == 5)[0][0])
    before = scene.model.geom_friction[g].copy()
    sim.models[0].geom_friction[g, 0] = 0.123
    sim.models[0].body_mass[scene.object_body_id] = 7.0
    assert sim.models[1].geom_friction[g, 0] == before[0]
    assert scene.model.geom_friction[g, 0] == before[0]
    assert sim.models[1].body_mass[scene.object_body_id] == pytest.approx(0.065)
    assert scene.model.body_mass[scene.object_body_id] == pytest.approx(0.065)
    assert sim.datas[0] is not sim.datas[1]
    sim.close()


def test_reset_of_one_environment(scene, targets):
    sim = BatchedSim(scene, num_envs=3, seed=0, num_threads=1)
    for tgt in targets[:10, :3]:
        sim.step(tgt)
    before = _state(sim)
    rng = np.random.default_rng(3)
    lo, hi = jt.lower_limits(), jt.upper_limits()
    jp = rng.uniform(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo))
    quat = np.array([2.0, 0.0, 0.0, 2.0])  # not normalized: a 90° yaw
    pose = np.concatenate([[0.40, 0.05, 0.90], quat])

    sim.reset([1], joint_pos=jp[None], object_pose=pose[None])

    after = _state(sim)
    np.testing.assert_array_equal(after["joint_pos"][1], jp)
    np.testing.assert_array_equal(after["joint_vel"][1], 0.0)
    np.testing.assert_array_equal(after["object_vel"][1], 0.0)
    np.testing.assert_array_equal(after["object_pose"][1, :3], pose[:3])
    np.testing.assert_allclose(after["object_pose"][1, 3:], quat / np.linalg.norm(quat), atol=1e-15)
    assert after["time_s"][1] == 0.0
    np.testing.assert_array_equal(sim.targets[1], jp)
    # the underactuated joints follow their drivers: q = k·q_driver + b
    names = jt.joint_names()
    for k, m in enumerate(jt.MIMIC_JOINTS):
        c = scene.physics.mimic[m.name]
        assert after["mimic_pos"][1, k] == pytest.approx(c.k * jp[names.index(m.driver)] + c.b, abs=1e-12)
    # the gathered fingertips are the forward kinematics of the new pose
    d = mujoco.MjData(scene.model)
    d.qpos[:] = sim.datas[1].qpos
    mujoco.mj_kinematics(scene.model, d)
    np.testing.assert_allclose(after["fingertip_pos"][1], d.site_xpos[scene.fingertip_site_ids], atol=1e-12)
    # the others keep their state, bit for bit
    for key in before:
        np.testing.assert_array_equal(after[key][[0, 2]], before[key][[0, 2]], err_msg=key)
    np.testing.assert_array_equal(sim.targets[[0, 2]], np.clip(targets[9, [0, 2]], lo, hi))

    # and resetting everything restores the initial state
    sim.reset()
    np.testing.assert_array_equal(sim.joint_pos(), np.tile(sim.default_qpos, (3, 1)))
    init = scene.model.qpos0[scene.object_qpos_adr : scene.object_qpos_adr + 7]
    np.testing.assert_array_equal(sim.object_pose(), np.tile(init, (3, 1)))
    np.testing.assert_array_equal(sim.time_s, 0.0)
    sim.close()


def test_reset_env_then_step_matches_a_fresh_run(scene, targets):
    """After a reset, an environment behaves as if it had just been created."""
    sim = BatchedSim(scene, num_envs=2, seed=0, num_threads=1)
    for tgt in targets[:5, :2]:
        sim.step(tgt)
    sim.reset([0])
    fresh = BatchedSim(scene, num_envs=2, seed=0, num_threads=1)
    for tgt in targets[10:20, :2]:
        sim.step(tgt)
        fresh.step(tgt)
    a, b = _state(sim), _state(fresh)
    for key in a:
        np.testing.assert_array_equal(a[key][0], b[key][0], err_msg=key)
    assert np.abs(a["joint_pos"][1] - b["joint_pos"][1]).max() > 1e-3  # env 1 was not reset
    sim.close()
    fresh.close()


def test_targets_are_clipped_to_the_joint_limits(scene):
    sim = BatchedSim(scene, num_envs=2, seed=0, num_threads=1)
    lo, hi = jt.lower_limits(), jt.upper_limits()
    sim.set_joint_targets(np.stack([hi + 1.0, lo - 1.0]))
    np.testing.assert_array_equal(sim.targets, np.stack([hi, lo]))
    sim.close()


@pytest.mark.parametrize("shape", [(2, 25), (26,), (3, 26), (2, 26, 1), (1, 26)])
def test_targets_of_the_wrong_shape_are_refused(scene, shape):
    sim = BatchedSim(scene, num_envs=2, seed=0, num_threads=1)
    before = sim.targets.copy()
    with pytest.raises(ValueError, match=r"\(2, 26\)"):
        sim.step(np.zeros(shape))
    with pytest.raises(ValueError, match=r"\(2, 26\)"):
        sim.set_joint_targets(np.zeros(shape))
    np.testing.assert_array_equal(sim.targets, before)
    assert sim.time_s[0] == 0.0  # nothing was stepped
    sim.close()


# num_envs=0 also trips a separate bug (an AttributeError in BatchedSim.__del__), tested and
# reported in test_gr1_sim_inputs.py; keep its warning out of this test's report.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_bad_env_ids_and_sizes(scene):
    with pytest.raises(ValueError):
        BatchedSim(scene, num_envs=0)
    sim = BatchedSim(scene, num_envs=2, seed=0, num_threads=1)
    with pytest.raises(IndexError):
        sim.reset([2])
    with pytest.raises(IndexError):
        sim.reset([-1])
    sim.close()


def test_physics_latency_delays_a_new_target_by_whole_physics_steps():
    """latency_s in the physics file holds the previous target for that long into each control
    step: with 25 ms (5 steps) the joint has not started to move after the first 5 physics steps."""
    from dataclasses import replace

    from gr1_description.physics import PhysicsParams
    from gr1_sim.batch import BatchedSim
    from gr1_sim.scene import build_scene

    def elbow_after_first_step(latency_s):
        scene = build_scene("tabletop", replace(PhysicsParams.default(), latency_s=latency_s))
        sim = BatchedSim(scene, 1, num_threads=1)
        assert sim.delay_steps == round(latency_s / 0.005)
        q0 = sim.joint_pos().copy()
        target = q0.copy()
        target[0, 3] -= 0.3  # left elbow
        sim.step(target)
        return q0[0, 3] - sim.joint_pos()[0, 3]

    moved_now, moved_late = elbow_after_first_step(0.0), elbow_after_first_step(0.025)
    assert moved_now > 0.005
    assert moved_late < 0.6 * moved_now
    with pytest.raises(ValueError, match="latency_s"):
        BatchedSim(build_scene("tabletop", replace(PhysicsParams.default(), latency_s=0.2)), 1)
