"""Mirror symmetry: the maps are involutions that agree with the robot's joint table, and a
left-handed grasp episode looks to the policy exactly like its right-handed mirror image."""

import numpy as np
import pytest
import torch

from dexmani_training.symmetry import (
    joint_mirror_map,
    mirror_angular,
    mirror_fingertips,
    mirror_joints,
    mirror_points,
    mirror_quat,
)
from dexmani_training.tasks.base import LEFT, RIGHT, ready_pose
from gr1_description import joints as jt


def test_maps_are_involutions():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, jt.NUM_CONTROLLED))
    np.testing.assert_allclose(mirror_joints(mirror_joints(q)), q)
    p = rng.normal(size=(5, 3))
    np.testing.assert_allclose(mirror_points(mirror_points(p)), p)
    quat = rng.normal(size=(5, 4))
    np.testing.assert_allclose(mirror_quat(mirror_quat(quat)), quat)
    w = rng.normal(size=(5, 3))
    np.testing.assert_allclose(mirror_angular(mirror_angular(w)), w)
    tips = rng.normal(size=(5, 2, 4, 3))
    np.testing.assert_allclose(mirror_fingertips(mirror_fingertips(tips)), tips)


def test_joint_map_swaps_sides_and_flips_roll_yaw_only():
    names = jt.joint_names()
    src, sign = joint_mirror_map()
    for j, n in enumerate(names):
        other = names[src[j]]
        assert other != n and other.split("_", 1)[1] == n.split("_", 1)[1]
        flips = ("_roll_" in n or "_yaw_" in n) and not n.startswith(("L_", "R_"))
        assert sign[j] == (-1.0 if flips else 1.0), n
    # The default pose is its own mirror image.
    np.testing.assert_allclose(mirror_joints(ready_pose()), ready_pose())


def test_quat_reflection_is_a_rotation_conjugated_by_the_mirror():
    import mujoco

    rng = np.random.default_rng(1)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, q)
    Rm = np.zeros(9)
    mujoco.mju_quat2Mat(Rm, mirror_quat(q))
    M = np.diag([1.0, -1.0, 1.0])
    np.testing.assert_allclose(Rm.reshape(3, 3), M @ R.reshape(3, 3) @ M, atol=1e-12)


def _mirrored_pair(small_env, **overrides):
    """Env 0: the right-handed episode; env 1: its exact mirror image (left-handed)."""
    env = small_env("grasp_and_reach", num_envs=2, **overrides)
    ids = np.arange(2)
    z = env.object_rest_z[0] + 0.002
    yaw = 0.3
    pose0 = np.array([0.33, -0.15, z, np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
    pose1 = np.concatenate([mirror_points(pose0[:3]), mirror_quat(pose0[3:])])
    joint_pos = np.stack([ready_pose(), ready_pose()])
    env.sim.reset(ids, joint_pos=joint_pos, object_pose=np.stack([pose0, pose1]))
    env.targets[:] = joint_pos
    env.on_reset(ids)
    env.goal[0] = [0.35, -0.12, z + 0.15]
    env.goal[1] = mirror_points(env.goal[0])
    env.goal_distance0[:] = np.linalg.norm(env.sim.object_pose()[:, :3] - env.goal, axis=1)
    env._policy_obs_prev = None
    return env


@pytest.mark.parametrize("fingertips", [False, True])
def test_left_episode_looks_like_its_right_mirror(small_env, fingertips):
    env = _mirrored_pair(small_env, actor_fingertips=fingertips)
    assert list(env.active_side) == [RIGHT, LEFT]
    assert list(env.mirrored_envs()) == [False, True]
    obs = env.get_observations()
    pol = obs["policy"].numpy()
    # Exact, except the fingertip sites, which the model places mirror-symmetric to < 1 mm.
    np.testing.assert_allclose(pol[0], pol[1], atol=1e-3 if fingertips else 1e-6)
    crit = obs["critic"].numpy()
    n_task = env.num_task_critic_features
    # Equal up to the hands' fingertip sites, which the model places mirror-symmetric to < 1 mm.
    np.testing.assert_allclose(crit[0, :-n_task], crit[1, :-n_task], atol=1e-3)

    # The same policy action drives both arms to mirror-image states (the right arm in env 0,
    # the left arm in env 1), so the observations stay equal.
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = torch.as_tensor(np.tile(rng.uniform(-0.5, 0.5, jt.NUM_CONTROLLED), (2, 1)), dtype=torch.float32)
        obs, *_ = env.step(a)
    pol = obs["policy"].numpy()
    np.testing.assert_allclose(pol[0], pol[1], atol=2e-3)
    q = env.sim.joint_pos()
    np.testing.assert_allclose(mirror_joints(q[1]), q[0], atol=2e-3)
    # Env 1 really moved its left arm (the right one is held).
    left = np.array([n.startswith("left_") for n in jt.joint_names()])
    assert np.abs(q[1, left] - ready_pose()[left]).max() > 0.02


def test_without_mirror_symmetry_the_left_episode_is_not_mirrored(small_env):
    env = small_env("grasp_and_reach", num_envs=2, mirror_symmetry=False)
    env.active_side[:] = LEFT
    assert not env._mirror_mask().any()
