"""The task environment's contract: observations, actions, the active hand, termination and
episode records, configuration errors."""

import mujoco
import numpy as np
import pytest
import torch
from dexmani_training.tasks import TASKS, task_config, task_names
from dexmani_training.symmetry import mirror_joints
from dexmani_training.tasks.base import LEFT, RIGHT, ready_pose

from gr1_description import joints as jt


@pytest.mark.parametrize("task", ["grasp_and_reach", "box_lift", "handover"])
@pytest.mark.parametrize("goal_offset", [False, True])
def test_observations_hold_what_the_design_says(small_env, task, goal_offset):
    env = small_env(task, num_envs=2, actor_goal_offset=goal_offset)
    obs = env.get_observations()
    assert set(obs.keys()) == {"policy", "critic"}
    policy = obs["policy"].numpy()
    extra_actor = 3 if goal_offset else 0
    tips = 24 if env.cfg.actor_fingertips else 0  # the actor's fingertips (the critic has its own, absolute)
    assert env.cfg.actor_fingertips == (task != "box_lift")  # the defaults
    n_actor = 26 + 3 + 3 + extra_actor + tips + 26
    assert policy.shape == (2, n_actor)
    critic = obs["critic"].numpy()
    extra = env.num_task_critic_features
    assert critic.shape == (2, n_actor - tips + 26 + 24 + 4 + 6 + 6 + 1 + extra)
    base = env.base_pos
    q, obj, goal = env.sim.joint_pos() - env.default_pose, env.sim.object_pose()[:, :3] - base, env.goal - base
    m = env._mirror_mask()  # left-handed episodes are shown mirrored (test_symmetry.py)
    q[m], obj[m, 1], goal[m, 1] = mirror_joints(q[m]), -obj[m, 1], -goal[m, 1]
    np.testing.assert_allclose(policy[:, :26], q, atol=1e-6)
    np.testing.assert_allclose(policy[:, 26:29], obj, atol=1e-6)
    np.testing.assert_allclose(policy[:, 29:32], goal, atol=1e-6)
    if goal_offset:  # goal − object, in the same (possibly mirrored) frame
        np.testing.assert_allclose(policy[:, 32:35], goal - obj, atol=1e-6)
    last = 32 + extra_actor + tips
    np.testing.assert_allclose(policy[:, last:], 0.0)
    np.testing.assert_allclose(critic[:, : 32 + extra_actor], policy[:, : 32 + extra_actor], atol=1e-6)
    np.testing.assert_allclose(critic[:, 32 + extra_actor : 58 + extra_actor], policy[:, last:], atol=1e-6)
    # After a step the last 26 entries are the policy's own (clipped) action.
    a = np.clip(np.random.default_rng(0).normal(size=(2, 26)), -1.5, 1.5)
    obs, reward, done, extras = env.step(torch.as_tensor(a, dtype=torch.float32))
    np.testing.assert_allclose(obs["policy"].numpy()[:, last:], np.clip(a, -1, 1), atol=1e-6)
    assert reward.shape == (2,) and done.shape == (2,) and "time_outs" in extras
    assert torch.isfinite(reward).all()


def test_default_pose_is_within_limits_and_the_reset_pose(small_env):
    q = ready_pose()
    assert q.shape == (jt.NUM_CONTROLLED,)
    assert np.all((q >= jt.lower_limits()) & (q <= jt.upper_limits()))
    names = jt.joint_names()
    assert q[names.index("left_elbow_pitch_joint")] < -1.0  # forearms forward, not the zero pose
    env = small_env("handover", num_envs=2)
    np.testing.assert_allclose(env.sim.joint_pos(), np.tile(q, (2, 1)), atol=1e-12)
    np.testing.assert_allclose(env.default_pose, q)
    # The hands start above the table, the object rests on it.
    assert np.all(env.sim.fingertip_pos()[..., 2] > env.table_top_z + 0.03)
    assert np.all(np.abs(env.sim.object_pose()[:, 2] - env.object_rest_z) < 0.003)


def test_arm_actions_are_relative_and_absolute_hand_mode_maps_open_to_closed(small_env):
    env = small_env("box_lift", num_envs=1, action={"hand_mode": "absolute"})  # box lift: both arms, no action mask
    names = jt.joint_names()
    arm = env.arm_mask
    assert arm.sum() == 14 and all(("shoulder" in n or "elbow" in n or "wrist" in n) for n, m in zip(names, arm) if m)
    before = env.targets.copy()
    a = np.zeros((1, 26))
    a[0, arm] = 0.5
    a[0, ~arm] = 1.0
    env.step(torch.as_tensor(a, dtype=torch.float32))
    expected = np.clip(before[0, arm] + 0.5 * env.cfg.action.arm_action_scale_rad, env.lower[arm], env.upper[arm])
    np.testing.assert_allclose(env.targets[0, arm], expected)
    lo, hi = env.lower[~arm], env.upper[~arm]
    closed = np.where(np.abs(lo) < np.abs(hi), hi, lo)
    open_ = np.where(np.abs(lo) < np.abs(hi), lo, hi)
    np.testing.assert_allclose(env.targets[0, ~arm], closed)
    a[0, ~arm] = -1.0
    env.step(torch.as_tensor(a, dtype=torch.float32))
    np.testing.assert_allclose(env.targets[0, ~arm], open_)
    # The arm target kept moving: relative actions accumulate.
    np.testing.assert_allclose(env.targets[0, arm], np.clip(expected + 0.5 * 0.05, env.lower[arm], env.upper[arm]))


def test_default_hand_mode_is_relative_and_a_zero_action_holds_the_hand(small_env):
    env = small_env("box_lift", num_envs=1)
    assert env.cfg.action.hand_mode == "relative"
    hand = ~env.arm_mask
    step = env.cfg.action.hand_action_scale_rad
    before = env.targets[0, hand].copy()
    a = np.zeros((1, 26))
    a[0, hand] = 0.5
    env.step(torch.as_tensor(a, dtype=torch.float32))
    np.testing.assert_allclose(env.targets[0, hand], np.clip(before + 0.5 * step, env.lower[hand], env.upper[hand]))
    held = env.targets[0, hand].copy()
    env.step(torch.as_tensor(np.zeros((1, 26)), dtype=torch.float32))
    np.testing.assert_allclose(env.targets[0, hand], held)
    # Many steps of +1 saturate at the joint limits.
    for _ in range(40):
        env.step(torch.as_tensor(np.where(hand, 1.0, 0.0)[None], dtype=torch.float32))
    assert np.all((np.isclose(env.targets[0, hand], env.lower[hand])) | np.isclose(env.targets[0, hand], env.upper[hand]))


@pytest.mark.parametrize("side, hand", [("left", LEFT), ("right", RIGHT)])
def test_grasp_uses_the_nearer_hand_and_holds_the_other(small_env, side, hand):
    env = small_env("grasp_and_reach", num_envs=2, sides=[side])
    assert env.active_side.tolist() == [hand, hand]
    y = env.sim.object_pose()[:, 1]
    assert np.all(np.sign(y) == (1 if side == "left" else -1))
    rng = np.random.default_rng(0)
    for _ in range(3):
        env.step(torch.as_tensor(rng.uniform(-1, 1, (2, 26)), dtype=torch.float32))
    inactive = env.side_masks[1 - hand]
    np.testing.assert_allclose(env.targets[:, inactive], np.tile(env.default_pose[inactive], (2, 1)))
    assert not np.allclose(env.targets[:, env.side_masks[hand]], env.default_pose[env.side_masks[hand]])
    # Object and goal: on the table within the configured ranges, goal 10–20 cm above rest.
    assert np.all((env.sim.object_pose()[:, 0] >= 0.30 - 1e-9) & (env.sim.object_pose()[:, 0] <= 0.38 + 1e-9))
    lift = env.goal[:, 2] - env.object_rest_z
    assert np.all((lift >= 0.10) & (lift <= 0.20))


def test_object_dropped_below_the_table_terminates_the_episode(small_env):
    env = small_env("grasp_and_reach", num_envs=2)
    sc = env.scene
    d = env.sim.datas[0]
    d.qpos[sc.object_qpos_adr + 2] = env.table_top_z - 0.3
    d.qvel[:] = 0.0
    mujoco.mj_forward(env.sim.models[0], d)
    _obs, _reward, done, extras = env.step(torch.zeros(2, 26))
    assert done.tolist() == [True, False]
    assert extras["time_outs"].tolist() == [False, False]
    records = env.drain_completed()
    assert len(records) == 1 and records[0]["length"] == 1 and not records[0]["success"]
    assert records[0]["object"] == "cube_5cm" and records[0]["side"] in ("left", "right")
    # Env 0 was reset: the object rests on the table again, the episode counter restarted.
    assert env.sim.object_pose()[0, 2] > env.table_top_z
    assert env.episode_length_buf.tolist() == [0, 1]


def test_time_out_sets_time_outs(small_env):
    env = small_env("grasp_and_reach", num_envs=2, episode_length_s=0.1)
    assert env.max_episode_length == 2
    _, _, done, extras = env.step(torch.zeros(2, 26))
    assert not done.any()
    _, _, done, extras = env.step(torch.zeros(2, 26))
    assert done.all() and extras["time_outs"].all()
    assert [r["length"] for r in env.drain_completed()] == [2, 2]


def test_same_seed_same_episode(small_env):
    a, b = small_env("handover", num_envs=2, seed=3), small_env("handover", num_envs=2, seed=3)
    acts = np.random.default_rng(1).uniform(-1, 1, (4, 2, 26))
    for act in acts:
        oa, ra, _, _ = a.step(torch.as_tensor(act, dtype=torch.float32))
        ob, rb, _, _ = b.step(torch.as_tensor(act, dtype=torch.float32))
    np.testing.assert_array_equal(oa["critic"].numpy(), ob["critic"].numpy())
    np.testing.assert_array_equal(ra.numpy(), rb.numpy())


def test_task_config_errors_name_the_valid_values():
    with pytest.raises(ValueError) as e:
        task_config("pour_tea")
    for t in TASKS:
        assert t in str(e.value)
    assert task_names() == ["box_lift", "grasp_and_reach", "handover"]
    with pytest.raises(ValueError, match="unknown keys.*num_env"):
        task_config("grasp_and_reach", {"num_env": 4})
    with pytest.raises(ValueError, match="valid groups"):
        task_config("grasp_and_reach", {"objects": "teapots"}).validate()
    with pytest.raises(ValueError, match="unknown terms.*gravity"):
        task_config("grasp_and_reach", {"randomization": {"enabled": ["gravity"]}}).validate()
    with pytest.raises(ValueError, match="sides"):
        task_config("grasp_and_reach", {"sides": ["middle"]}).validate()
    with pytest.raises(ValueError, match="directions"):
        task_config("handover", {"directions": ["up"]}).validate()


def test_config_from_dict_coerces_yaml_values_and_rejects_bad_sections():
    cfg = task_config("grasp_and_reach", {"episode_length_s": 5, "sides": ["left"], "reward": {"lift_weight": 40}})
    assert isinstance(cfg.episode_length_s, float) and cfg.episode_length_s == 5.0
    assert cfg.sides == ("left",) and cfg.reward.lift_weight == 40.0 and isinstance(cfg.reward.lift_weight, float)
    with pytest.raises(ValueError, match="grasp_and_reach.reward: expected a mapping"):
        task_config("grasp_and_reach", {"reward": [1, 2]})


def test_actor_fingertips_are_forward_kinematics_of_the_observed_joints(small_env):
    """``actor_fingertips``: 24 more actor inputs, the fingertips relative to the observed object,
    from the *observed* (noised) joint positions, not the simulator's true fingertips."""
    from gr1_description.kinematics import FingertipKinematics

    plain = small_env("grasp_and_reach", num_envs=2, sides=["right"], actor_fingertips=False)
    env = small_env("grasp_and_reach", num_envs=2, sides=["right"], actor_fingertips=True)
    pol = env.get_observations()["policy"].numpy()
    assert pol.shape[1] == plain.get_observations()["policy"].shape[1] + 24
    base = env.base_pos
    tips = pol[:, 32:56].reshape(2, 2, 4, 3)
    true_rel = env.sim.fingertip_pos() - env.sim.object_pose()[:, None, None, :3]
    np.testing.assert_allclose(tips, true_rel, atol=1e-3)  # noiseless: the simulator's tips within 1 mm
    # The active (right) hand is a few centimetres from the object, the other one far away.
    d = np.linalg.norm(tips, axis=-1).min(axis=-1)
    assert np.all(d[:, RIGHT] < 0.2) and np.all(d[:, LEFT] > 0.25)

    noisy = small_env("grasp_and_reach", num_envs=2, sides=["right"], actor_fingertips=True,
                      enabled=["joint_position_noise", "object_position_noise"])
    pol = noisy.get_observations()["policy"].numpy()
    q_obs, obj_obs = pol[:, :26] + noisy.default_pose, pol[:, 26:29]
    fk = FingertipKinematics(noisy.scene.model, noisy.scene.physics)
    want = fk(q_obs) - base - obj_obs[:, None, None, :]
    np.testing.assert_allclose(pol[:, 32:56].reshape(2, 2, 4, 3), want, atol=1e-5)
    true_rel = noisy.sim.fingertip_pos() - noisy.sim.object_pose()[:, None, None, :3]
    assert np.abs(pol[:, 32:56].reshape(2, 2, 4, 3) - true_rel).max() > 1e-3  # the noise reaches them
