"""Domain randomization: every term changes what it claims, within its range, and nothing when
it is off. Each env here has 4 environments and only the term under test enabled."""

import mujoco
import numpy as np
import pytest
import torch
from dexmani_training.tasks.randomization import (
    TERMS,
    RandomizationConfig,
    force_update,
    random_rotation_quat,
)

N = 4
SEED = 7
DEG = np.pi / 180


def _pristine(env, i=0):
    """The scene's own model (never randomized) for environment i."""
    return env.sim.scenes[env.sim.env_scene[i]].model


def quantities(env):
    """Per environment: everything a reset-time term may change, as drawn."""
    out = {k: [] for k in ("mass", "object_friction", "object_size", "hand_friction", "kp", "kd", "cam_pos", "cam_quat",
                           "cam_intrinsic")}
    for i, m in enumerate(env.sim.models):
        r = env.randomizers[i]
        out["mass"].append(m.body_mass[r.object_body])
        out["object_friction"].append(m.geom_friction[r.object_geoms, 0].copy())
        out["object_size"].append(m.geom_size[r.object_geoms].copy())
        out["hand_friction"].append(m.geom_friction[r.hand_geoms, 0].copy())
        out["kp"].append(m.actuator_gainprm[r.actuators, 0].copy())
        out["kd"].append(-m.actuator_biasprm[r.actuators, 2].copy())
        out["cam_pos"].append(m.cam_pos[r.cameras].copy())
        out["cam_quat"].append(m.cam_quat[r.cameras].copy())
        out["cam_intrinsic"].append(m.cam_intrinsic[r.cameras].copy())
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def nominal_env(small_env):
    """Shared, never stepped: the nominal model and initial state to compare with."""
    return small_env("grasp_and_reach", num_envs=N, enabled=(), seed=SEED)


@pytest.fixture(scope="module")
def nominal(nominal_env):
    return quantities(nominal_env)


def _env(small_env, *terms, **randomization):
    # Mirror symmetry off: these tests compare observations and applied actions with the
    # simulator's own (unmirrored) joint order; test_symmetry.py covers the mirrored view.
    return small_env("grasp_and_reach", num_envs=N, enabled=terms, seed=SEED, randomization=randomization,
                     mirror_symmetry=False)


def _assert_only_changed(env, nominal, changed):
    q = quantities(env)
    for k, v in q.items():
        if k not in changed:
            np.testing.assert_array_equal(v, nominal[k], err_msg=f"{k} changed although its term is off")
    return q


def _varies(x):
    """Drawn per environment: not all the same."""
    x = np.asarray(x)
    return not np.allclose(x, x[0])


# --- off: everything nominal -------------------------------------------------------------------
def test_all_terms_off_leave_the_model_nominal(nominal_env, nominal):
    env = nominal_env
    obj = env.env_object[0]
    ref = _pristine(env)
    r = env.randomizers[0]
    np.testing.assert_allclose(nominal["mass"], obj.nominal_mass_kg)
    np.testing.assert_allclose(nominal["object_friction"], obj.nominal_friction)
    np.testing.assert_allclose(nominal["object_size"], np.tile(ref.geom_size[r.object_geoms], (N, 1, 1)))
    np.testing.assert_allclose(nominal["hand_friction"], env.scene.config.model.hand_friction)
    np.testing.assert_allclose(nominal["hand_friction"], np.tile(ref.geom_friction[r.hand_geoms, 0], (N, 1)))
    np.testing.assert_allclose(nominal["kp"], np.tile(ref.actuator_gainprm[r.actuators, 0], (N, 1)))
    np.testing.assert_allclose(nominal["kd"], np.tile(-ref.actuator_biasprm[r.actuators, 2], (N, 1)))
    np.testing.assert_allclose(nominal["cam_pos"], np.tile(ref.cam_pos[r.cameras], (N, 1, 1)))
    np.testing.assert_allclose(nominal["cam_quat"], np.tile(ref.cam_quat[r.cameras], (N, 1, 1)))
    np.testing.assert_allclose(nominal["cam_intrinsic"], np.tile(ref.cam_intrinsic[r.cameras], (N, 1, 1)))
    np.testing.assert_allclose(env.sim.object_pose()[:, 3:], np.tile([1.0, 0, 0, 0], (N, 1)))
    # The critic sees nominal scales.
    feats = env.get_observations()["critic"].numpy()[:, 118:124]
    np.testing.assert_allclose(feats, [[1.0, obj.nominal_friction, 1.0, 1.0, 1.0, 1.0]] * N, atol=1e-6)


def test_all_step_terms_off_no_force_noise_or_lag(small_env):
    env = _env(small_env)
    for a, policy, _ in _steps(env, 3):
        np.testing.assert_array_equal(env.applied_action, a)
        assert not np.any([d.xfrc_applied.any() for d in env.sim.datas])
        np.testing.assert_allclose(policy[:, :26], env.sim.joint_pos() - env.default_pose, atol=1e-6)
        np.testing.assert_allclose(policy[:, 26:29], env.sim.object_pose()[:, :3] - env.base_pos, atol=1e-6)
        np.testing.assert_allclose(policy[:, -26:], a, atol=1e-6)


def test_every_term_has_a_test():
    tested = {"object_mass", "object_friction", "object_scale", "object_position", "object_yaw", "hand_friction", "p_gain",
              "d_gain", "random_force", "object_position_noise", "joint_position_noise", "action_noise", "frame_lag",
              "action_lag", "camera_position", "camera_rotation", "camera_fov"}
    assert set(TERMS) == tested
    assert set(RandomizationConfig().enabled) == tested  # all on by default


# --- reset-time model terms --------------------------------------------------------------------
def test_object_mass(small_env, nominal):
    env = _env(small_env, "object_mass")
    q = _assert_only_changed(env, nominal, {"mass"})
    lo, hi = env.env_object[0].mass_range_kg
    assert (lo, hi) == (0.03, 0.1)
    assert np.all((q["mass"] >= lo) & (q["mass"] <= hi)) and _varies(q["mass"])
    np.testing.assert_allclose(env.dr.mass_kg, q["mass"])
    # Mass and inertia scale together (same shape).
    r, ref = env.randomizers[0], _pristine(env)
    for i, m in enumerate(env.sim.models):
        np.testing.assert_allclose(m.body_inertia[r.object_body] / q["mass"][i], ref.body_inertia[r.object_body] / ref.body_mass[r.object_body])
    # The privileged critic sees mass / nominal mass.
    feats = env.get_observations()["critic"].numpy()[:, 118]
    np.testing.assert_allclose(feats, q["mass"] / env.env_object[0].nominal_mass_kg, rtol=1e-6)
    # The scene's own model is never written.
    assert _pristine(env).body_mass[r.object_body] == pytest.approx(env.env_object[0].nominal_mass_kg)


def test_object_mass_range_override(small_env, nominal):
    env = _env(small_env, "object_mass", object_mass_kg=(0.2, 0.25))
    q = quantities(env)
    assert np.all((q["mass"] >= 0.2) & (q["mass"] <= 0.25))


def test_object_friction(small_env, nominal):
    env = _env(small_env, "object_friction")
    q = _assert_only_changed(env, nominal, {"object_friction"})
    f = q["object_friction"][:, 0]
    assert np.all((f >= 0.5) & (f <= 1.5)) and _varies(f)
    np.testing.assert_allclose(env.dr.object_friction, f)


def test_object_scale(small_env, nominal):
    env = _env(small_env, "object_scale")
    q = _assert_only_changed(env, nominal, {"object_size"})
    ratio = q["object_size"] / nominal["object_size"]
    s = ratio[:, 0, 0]
    np.testing.assert_allclose(ratio, np.broadcast_to(s[:, None, None], ratio.shape))
    assert np.all((s >= 0.95) & (s <= 1.05)) and _varies(s)
    np.testing.assert_allclose(env.dr.object_scale, s)
    # The object rests on the table at its scaled half height; stickers scale with it.
    half = 0.025 * s
    np.testing.assert_allclose(env.sim.object_pose()[:, 2], env.table_top_z + half + 0.002)
    st = env.stickers_world(0) - env.sim.object_pose()[:, None, :3]
    np.testing.assert_allclose(np.abs(st).max(axis=(1, 2)), half)


def test_object_scale_reported_matches_the_simulated_mesh_object(small_env):
    env = small_env("grasp_and_reach", num_envs=3, enabled=("object_scale",), objects="hex_prism_r3_h7cm")
    r, ref = env.randomizers[0], _pristine(env)
    for i, m in enumerate(env.sim.models):
        physical = m.geom_rbound[r.object_geoms] / ref.geom_rbound[r.object_geoms]
        np.testing.assert_allclose(env.dr.object_scale[i], physical, rtol=1e-9)


def test_reset_time_draws_do_not_compound(small_env):
    env = _env(small_env, "object_scale", "p_gain")
    r, ref = env.randomizers[0], _pristine(env)
    size0, kp0 = ref.geom_size[r.object_geoms], ref.actuator_gainprm[r.actuators, 0]
    seen = []
    for _ in range(8):
        env.reset()
        q = quantities(env)
        s = q["object_size"][:, 0, 0] / size0[0, 0]
        p = q["kp"] / kp0
        assert np.all((s >= 0.95) & (s <= 1.05)), s
        assert np.all((p >= 0.8) & (p <= 1.1)), p
        seen.append(s)
    assert np.ptp(np.concatenate(seen)) > 0.03  # redrawn each reset, over most of the range


def test_partial_reset_redraws_only_those_envs(small_env):
    env = _env(small_env, "object_mass", "camera_position")
    before = quantities(env)
    env.reset(np.array([1, 2]))
    after = quantities(env)
    for k in ("mass", "cam_pos"):
        np.testing.assert_array_equal(after[k][[0, 3]], before[k][[0, 3]])
        assert not np.allclose(after[k][[1, 2]], before[k][[1, 2]])


def _yaw(quat):
    w, x, y, z = quat.T
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def test_object_position(small_env, nominal_env, nominal):
    env = _env(small_env, "object_position")
    _assert_only_changed(env, nominal, set())
    p, p0 = env.sim.object_pose(), nominal_env.sim.object_pose()
    d = p[:, :2] - p0[:, :2]
    assert np.all(np.abs(d) <= 0.02 + 1e-12) and np.all(np.abs(d) > 0)
    np.testing.assert_allclose(p[:, 2:], p0[:, 2:])  # height and orientation as nominal


def test_object_yaw(small_env, nominal_env, nominal):
    env = _env(small_env, "object_yaw")
    _assert_only_changed(env, nominal, set())
    p, p0 = env.sim.object_pose(), nominal_env.sim.object_pose()
    np.testing.assert_allclose(p[:, :3], p0[:, :3])
    np.testing.assert_allclose(_yaw(p0[:, 3:]), 0.0, atol=1e-12)
    yaw = _yaw(p[:, 3:])
    assert np.all(np.abs(yaw) <= 0.75 + 1e-9) and np.all(np.abs(yaw) > 1e-6) and _varies(yaw)
    np.testing.assert_allclose(p[:, 4:6], 0.0, atol=1e-12)  # a rotation about z only
    # The stickers turn with the object.
    st = env.stickers_world(0)[:, 0] - p[:, :3]
    local = env.stickers_local[0][:, 0]
    np.testing.assert_allclose(np.arctan2(st[:, 1], st[:, 0]) - np.arctan2(local[:, 1], local[:, 0]),
                               yaw, atol=1e-9)


def test_box_lift_yaw_range_is_narrower(small_env):
    env = small_env("box_lift", num_envs=N, enabled=("object_yaw",), seed=SEED)
    assert env.cfg.randomization.object_yaw_rad == (-0.3, 0.3)
    assert np.all(np.abs(_yaw(env.sim.object_pose()[:, 3:])) <= 0.3 + 1e-9)


def test_hand_friction(small_env, nominal):
    env = _env(small_env, "hand_friction")
    q = _assert_only_changed(env, nominal, {"hand_friction"})
    f = q["hand_friction"]
    assert f.shape[1] > 0
    np.testing.assert_allclose(f, np.broadcast_to(f[:, :1], f.shape))  # one draw for every hand geom
    assert np.all((f >= 0.5) & (f <= 1.5)) and _varies(f[:, 0])
    np.testing.assert_allclose(env.dr.hand_friction, f[:, 0])
    # Hand geoms are the hands' own: the object's friction and the rest of the robot stay nominal.
    r = env.randomizers[0]
    others = np.setdiff1d(np.arange(env.sim.models[0].ngeom), np.concatenate([r.hand_geoms, r.object_geoms]))
    np.testing.assert_array_equal(env.sim.models[0].geom_friction[others], _pristine(env).geom_friction[others])


def test_p_gain(small_env, nominal):
    env = _env(small_env, "p_gain")
    q = _assert_only_changed(env, nominal, {"kp"})
    ratio = q["kp"] / nominal["kp"]
    s = ratio[:, 0]
    np.testing.assert_allclose(ratio, np.broadcast_to(s[:, None], ratio.shape))
    assert np.all((s >= 0.8) & (s <= 1.1)) and _varies(s)
    np.testing.assert_allclose(env.dr.p_gain_scale, s)
    # A position actuator: bias −kp·q must follow the gain.
    r = env.randomizers[0]
    for m in env.sim.models:
        np.testing.assert_allclose(m.actuator_biasprm[r.actuators, 1], -m.actuator_gainprm[r.actuators, 0])


def test_d_gain(small_env, nominal):
    env = _env(small_env, "d_gain")
    q = _assert_only_changed(env, nominal, {"kd"})
    ratio = q["kd"] / nominal["kd"]
    s = ratio[:, 0]
    np.testing.assert_allclose(ratio, np.broadcast_to(s[:, None], ratio.shape))
    assert np.all((s >= 0.7) & (s <= 1.2)) and _varies(s)
    np.testing.assert_allclose(env.dr.d_gain_scale, s)


def test_camera_position(small_env, nominal):
    env = _env(small_env, "camera_position")
    q = _assert_only_changed(env, nominal, {"cam_pos"})
    d = q["cam_pos"] - nominal["cam_pos"]
    assert np.all(np.abs(d) <= 0.005 + 1e-12) and np.all(np.abs(d) > 0)
    assert _varies(d[:, 0, 0]) and not np.allclose(d[:, 0], d[:, 1])  # per env and per camera


def test_camera_rotation(small_env, nominal):
    env = _env(small_env, "camera_rotation")
    q = _assert_only_changed(env, nominal, {"cam_quat"})
    for qa, qb in zip(q["cam_quat"].reshape(-1, 4), nominal["cam_quat"].reshape(-1, 4)):
        assert np.linalg.norm(qa) == pytest.approx(1.0)
        angle = 2 * np.arccos(min(1.0, abs(float(np.dot(qa, qb)))))
        assert 0 < angle <= 5 * DEG + 1e-9


def test_camera_fov(small_env, nominal):
    env = _env(small_env, "camera_fov")
    q = _assert_only_changed(env, nominal, {"cam_intrinsic"})
    cams = env.randomizers[0].cameras
    sensor_h = env.sim.models[0].cam_sensorsize[cams, 1]

    def fov(intr):
        return 2 * np.arctan(sensor_h / (2 * intr[..., 1]))

    delta = fov(q["cam_intrinsic"]) - fov(nominal["cam_intrinsic"])
    assert np.all(np.abs(delta) <= 5 * DEG + 1e-9) and np.all(np.abs(delta) > 0) and _varies(delta[:, 0])
    # fx and fy scale together (the aspect ratio is kept).
    ratio = q["cam_intrinsic"][..., :2] / nominal["cam_intrinsic"][..., :2]
    np.testing.assert_allclose(ratio[..., 0], ratio[..., 1])


# --- per-step terms -------------------------------------------------------------------------------
def _steps(env, n, action=None, seed=0):
    """Step ``n`` times, yielding (action as float32, policy obs, critic obs) after each step."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        a = rng.uniform(-1, 1, (env.num_envs, 26)) if action is None else np.tile(action, (env.num_envs, 1))
        a = a.astype(np.float32)
        obs, *_ = env.step(torch.as_tensor(a))
        yield a.astype(float), obs["policy"].numpy().copy(), obs["critic"].numpy().copy()


def test_random_force(small_env, nominal):
    env = _env(small_env, "random_force")
    _assert_only_changed(env, nominal, set())
    body = env.randomizers[0].object_body
    forces = []
    for _ in range(10):
        env.step(torch.zeros(N, 26))
        f = np.array([d.xfrc_applied[body].copy() for d in env.sim.datas])
        np.testing.assert_array_equal(f[:, :3], env.dr.force_n)
        np.testing.assert_array_equal(f[:, 3:], 0.0)  # a force, no torque
        for d in env.sim.datas:  # only on the object
            others = np.delete(d.xfrc_applied, body, axis=0)
            assert not others.any()
        forces.append(f[:, :3])
    forces = np.array(forces)
    assert np.any(np.linalg.norm(forces, axis=2) > 0), "no random force within 10 steps"
    # N(0, 1)·2·mass newtons: a few tenths of a newton for a 65 g cube.
    assert np.abs(forces).max() < 6 * 2.0 * 0.065
    # After a reset the force is gone.
    env.reset()
    assert not np.any([d.xfrc_applied.any() for d in env.sim.datas])
    assert not env.dr.force_n.any()


def test_force_update_decays_and_redraws():
    cfg = RandomizationConfig(random_force_probability=0.0)
    rng = np.random.default_rng(0)
    f0 = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    f1 = force_update(f0.copy(), np.ones(2), rng, cfg, dt_s=0.05)
    np.testing.assert_allclose(f1, f0 * 0.99**0.5)  # decay 0.99 per 0.1 s
    f2 = force_update(f0.copy(), np.ones(2), rng, cfg, dt_s=0.1)
    np.testing.assert_allclose(f2, f0 * 0.99)
    cfg = RandomizationConfig(random_force_probability=1.0)
    mass = np.array([0.01] * 500 + [1.0] * 500)
    f = force_update(np.zeros((1000, 3)), mass, rng, cfg, dt_s=0.05)
    assert np.all(f != 0)
    assert np.std(f[500:]) == pytest.approx(2.0, rel=0.1)  # scale 2.0 × mass
    assert np.std(f[:500]) == pytest.approx(0.02, rel=0.1)
    # With the default probability (0.2 per 0.1 s) about 10.6 % of forces are redrawn per 0.05 s step.
    cfg = RandomizationConfig()
    f = force_update(np.zeros((20000, 3)), np.ones(20000), np.random.default_rng(1), cfg, dt_s=0.05)
    assert np.mean(np.any(f != 0, axis=1)) == pytest.approx(1 - 0.8**0.5, abs=0.01)


def test_object_position_noise(small_env, nominal):
    env = _env(small_env, "object_position_noise")
    _assert_only_changed(env, nominal, set())
    diffs = []
    for _, policy, critic in _steps(env, 5):
        truth = env.sim.object_pose()[:, :3] - env.base_pos
        np.testing.assert_allclose(critic[:, 26:29], truth, atol=1e-6)  # the critic sees the truth
        diffs.append(policy[:, 26:29] - truth)
        np.testing.assert_allclose(policy[:, :26], env.sim.joint_pos() - env.default_pose, atol=1e-6)
    diffs = np.array(diffs)
    assert np.all(np.abs(diffs) <= 0.02 + 1e-6)
    assert np.abs(diffs).max() > 0.01 and np.all(np.abs(diffs) > 0)


def test_joint_position_noise(small_env, nominal):
    env = _env(small_env, "joint_position_noise")
    _assert_only_changed(env, nominal, set())
    diffs = []
    for _, policy, critic in _steps(env, 5):
        truth = env.sim.joint_pos() - env.default_pose
        np.testing.assert_allclose(critic[:, :26], truth, atol=1e-6)
        np.testing.assert_allclose(policy[:, 26:29], env.sim.object_pose()[:, :3] - env.base_pos, atol=1e-6)
        diffs.append(policy[:, :26] - truth)
    diffs = np.array(diffs)
    assert np.all(diffs != 0)
    assert np.std(diffs) == pytest.approx(0.4 * DEG, rel=0.2)  # 0.4°
    assert np.abs(diffs).max() < 6 * 0.4 * DEG


def test_action_noise(small_env, nominal):
    env = _env(small_env, "action_noise")
    _assert_only_changed(env, nominal, set())
    noise = []
    for a, policy, _ in _steps(env, 5, action=np.zeros(26)):
        noise.append(env.applied_action - a)
        np.testing.assert_allclose(policy[:, -26:], a, atol=1e-6)  # the policy sees its own action
    noise = np.array(noise)
    assert np.std(noise) == pytest.approx(0.1, rel=0.2)
    assert np.all(noise != 0)
    # Noised actions are what moves the joints (the active arm; the other is held).
    side = env.side_masks[env.active_side]
    arm = env.arm_mask & side
    start = np.tile(env.default_pose, (N, 1))
    moved = env.targets - start
    np.testing.assert_allclose(moved[arm], 0.05 * noise.sum(axis=0)[arm], atol=1e-9)


def test_frame_lag_with_probability_one_shows_the_previous_observation(small_env, nominal):
    env = _env(small_env, "frame_lag", frame_lag_probability=1.0)
    _assert_only_changed(env, nominal, set())
    o0 = env.get_observations()["policy"].numpy()
    a1 = np.full((N, 26), 0.3)
    o1 = env.step(torch.as_tensor(a1, dtype=torch.float32))[0]
    np.testing.assert_array_equal(o1["policy"].numpy(), o0)
    np.testing.assert_allclose(o1["critic"].numpy()[:, 32:58], a1, atol=1e-6)  # the critic is never lagged
    o2 = env.step(torch.as_tensor(-a1, dtype=torch.float32))[0]
    np.testing.assert_allclose(o2["policy"].numpy()[:, -26:], a1, atol=1e-6)  # one step behind


def test_frame_and_action_lag_default_probability(small_env):
    env = _env(small_env, "frame_lag", "action_lag")
    lagged_obs = lagged_act = total = 0
    prev = env.targets.copy()
    for a, policy, _ in _steps(env, 40):
        lagged_obs += int(np.sum(~np.isclose(policy[:, -26:], a, atol=1e-6).all(axis=1)))
        lagged = np.all(env.commanded == prev, axis=1) & ~np.all(env.targets == prev, axis=1)
        np.testing.assert_array_equal(env.commanded[~lagged], env.targets[~lagged])
        lagged_act += int(np.sum(lagged))
        prev = env.targets.copy()
        total += N
    # p = 0.1 each; 160 draws: about 16 (binomial sd ≈ 3.8).
    assert 4 <= lagged_obs <= 34, lagged_obs
    assert 4 <= lagged_act <= 34, lagged_act


def test_action_lag_with_probability_one_delays_the_command_by_one_step(small_env, nominal):
    """With lag probability 1 the motors always get the previous step's targets: the runtime's
    targets already include each action, and it reaches the motors one step late, not never;
    the policy sees its own action."""
    env = _env(small_env, "action_lag", action_lag_probability=1.0)
    _assert_only_changed(env, nominal, set())
    start = env.targets.copy()
    a = np.full((N, 26), 0.8)
    obs = env.step(torch.as_tensor(a, dtype=torch.float32))[0]
    np.testing.assert_allclose(obs["policy"].numpy()[:, -26:], a, atol=1e-6)
    after_one = env.targets.copy()
    arm = env.arm_mask & env.side_masks[env.active_side]
    assert np.all(after_one[arm] != start[arm])  # the runtime integrated the action
    np.testing.assert_allclose(env.commanded, start)  # the motors still hold the old targets
    np.testing.assert_allclose(env.sim.targets, start)
    env.step(torch.as_tensor(np.zeros((N, 26)), dtype=torch.float32))
    np.testing.assert_allclose(env.commanded, after_one)  # one step late, not lost
    np.testing.assert_allclose(env.targets, after_one)  # a zero action keeps the targets
    # Without the term the same action reaches the motors at once.
    off = _env(small_env)
    off.step(torch.as_tensor(a, dtype=torch.float32))
    np.testing.assert_allclose(off.commanded, after_one)

def test_randomization_config_validation():
    RandomizationConfig().validate()
    with pytest.raises(ValueError, match="unknown terms.*wind.*valid terms"):
        RandomizationConfig(enabled=("object_mass", "wind")).validate()
    with pytest.raises(ValueError, match="object_friction"):
        RandomizationConfig(object_friction=(1.5, 0.5)).validate()
    with pytest.raises(ValueError, match="frame_lag_probability"):
        RandomizationConfig(frame_lag_probability=1.5).validate()


def test_random_rotation_quat_angle_is_bounded():
    rng = np.random.default_rng(0)
    angles = []
    for _ in range(200):
        q = random_rotation_quat(rng, 5 * DEG)
        assert np.linalg.norm(q) == pytest.approx(1.0)
        angles.append(2 * np.arccos(min(1.0, abs(q[0]))))
        out = np.zeros(3)
        mujoco.mju_rotVecQuat(out, np.array([0.0, 0.0, 1.0]), q)
        assert np.arccos(np.clip(out[2], -1, 1)) <= 5 * DEG + 1e-9
    assert max(angles) <= 5 * DEG + 1e-9 and max(angles) > 4 * DEG


def test_physics_file_reaches_the_task_and_gain_randomization_is_centred_on_it(small_env, tmp_path):
    """`dexmani train --physics tuned.yaml`: the task's simulator uses the file's gains and
    latency, and the p_gain term scales those gains (×0.8–1.1), not the defaults."""
    from dataclasses import replace

    from gr1_description import joints as jt
    from gr1_description.physics import PhysicsParams

    default = PhysicsParams.default()
    name = jt.joint_names()[3]  # left elbow
    tuned = replace(default, latency_s=0.01, joints={**default.joints, name: replace(default.joints[name], kp=3.0 * default.joints[name].kp)})
    path = tmp_path / "tuned.yaml"
    tuned.save(path)
    env = small_env("grasp_and_reach", num_envs=4, enabled=("p_gain",), physics=str(path))
    assert env.sim.delay_steps == 2
    act = env.scene.actuator_ids[3]
    kp = np.array([m.actuator_gainprm[act, 0] for m in env.sim.models])
    nominal = 3.0 * default.joints[name].kp
    assert np.all(kp >= 0.8 * nominal - 1e-9) and np.all(kp <= 1.1 * nominal + 1e-9)
    assert np.allclose(kp / env.dr.p_gain_scale, nominal)


# --- strength (the curriculum knob) ------------------------------------------------------------
def test_strength_zero_keeps_every_term_nominal(small_env, nominal):
    env = small_env("grasp_and_reach", num_envs=N, enabled=TERMS, seed=SEED, mirror_symmetry=False,
                    randomization={"strength": 0.0})
    q = _assert_only_changed(env, nominal, set())
    for a, policy, _ in _steps(env, 3):
        np.testing.assert_array_equal(env.applied_action, a)  # no action noise, no action lag
        assert not np.any(env.dr.force_n)
        np.testing.assert_allclose(policy[:, :26], env.sim.joint_pos() - env.default_pose, atol=1e-6)
        np.testing.assert_allclose(policy[:, 26:29], env.sim.object_pose()[:, :3] - env.base_pos, atol=1e-6)
    assert q["mass"].shape == (N,)


def test_strength_half_shrinks_ranges_toward_nominal(small_env):
    n = 64
    full = small_env("grasp_and_reach", num_envs=n, enabled=("hand_friction", "p_gain", "object_position"), seed=3)
    half = small_env("grasp_and_reach", num_envs=n, enabled=("hand_friction", "p_gain", "object_position"), seed=3,
                     randomization={"strength": 0.5})
    f0 = full.scene.config.model.hand_friction
    # The same draws, pulled halfway to nominal (the random stream does not depend on strength).
    np.testing.assert_allclose(half.dr.hand_friction - f0, 0.5 * (full.dr.hand_friction - f0))
    np.testing.assert_allclose(half.dr.p_gain_scale - 1.0, 0.5 * (full.dr.p_gain_scale - 1.0))
    assert np.all((half.dr.hand_friction >= f0 - 0.25) & (half.dr.hand_friction <= f0 + 0.25))
    assert np.ptp(half.dr.hand_friction) > 0.3  # still spans most of the halved range
    with pytest.raises(ValueError, match="strength"):
        RandomizationConfig(strength=1.5).validate()


def test_force_update_scales_with_strength():
    cfg = RandomizationConfig(random_force_probability=1.0)
    n = 20000
    mass = np.full(n, 0.1)
    f1 = force_update(np.zeros((n, 3)), mass, np.random.default_rng(0), cfg, 0.1, 1.0)
    f2 = force_update(np.zeros((n, 3)), mass, np.random.default_rng(0), cfg, 0.1, 0.25)
    new1, new2 = f1.any(axis=1), f2.any(axis=1)
    assert new1.all() and new2.mean() == pytest.approx(0.25, abs=0.02)  # the probability scales
    assert np.std(f2[new2]) == pytest.approx(0.25 * np.std(f1), rel=0.05)  # and so does the size
    f0 = force_update(np.zeros((n, 3)), mass, np.random.default_rng(0), cfg, 0.1, 0.0)
    assert not f0.any()
