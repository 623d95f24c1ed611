"""Reward terms on hand-built states: the contact-sticker term, the goal term, the handover
stage switch and stage bonus, and the action-rate penalty."""

import itertools

import mujoco
import numpy as np
import pytest
from dexmani_training.tasks import task_config
from dexmani_training.tasks.base import LEFT, RIGHT
from dexmani_training.tasks.rewards import (
    action_rate_penalty,
    contact_sticker_reward,
    nearest_sticker_distance,
    object_goal_reward,
    quat_rotate,
    stage_bonus,
    stickers_world,
)
from dexmani_training.tasks.stickers import make_stickers


def _random_quats(rng, n):
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quat_rotate_matches_mujoco():
    rng = np.random.default_rng(0)
    quats = _random_quats(rng, 5)
    vecs = rng.normal(size=(5, 3, 3))
    out = quat_rotate(quats, vecs)
    for n in range(5):
        for s in range(3):
            ref = np.zeros(3)
            mujoco.mju_rotVecQuat(ref, vecs[n, s], quats[n])
            np.testing.assert_allclose(out[n, s], ref, atol=1e-12)
    # 90° about z takes x to y.
    q = np.array([[np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]])
    np.testing.assert_allclose(quat_rotate(q, np.array([[[1.0, 0, 0]]])), [[[0, 1, 0]]], atol=1e-12)


def test_stickers_world_rotates_then_translates():
    local = np.array([[[0.1, 0.0, 0.0], [0.0, 0.0, 0.2]]])
    yaw90 = [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]
    pose = np.array([[1.0, 2.0, 3.0, *yaw90]])
    np.testing.assert_allclose(stickers_world(pose, local), [[[1.0, 2.1, 3.0], [1.0, 2.0, 3.2]]], atol=1e-12)


def test_nearest_sticker_distance_is_the_minimum_over_stickers():
    stickers = np.array([[[0, 0, 0], [1, 0, 0], [0, 2, 0]]], dtype=float)
    tips = np.array([[[0.9, 0, 0], [0, 0, 0], [0, 3, 0], [-1, 0, 0]]], dtype=float)
    np.testing.assert_allclose(nearest_sticker_distance(stickers, tips), [[0.1, 0.0, 1.0, 1.0]], atol=1e-12)


def _sticker_scene(n=3, seed=0):
    rng = np.random.default_rng(seed)
    left = rng.normal(size=(n, 6, 3))
    right = rng.normal(size=(n, 6, 3))
    return left, right


def test_contact_reward_is_four_per_hand_with_fingertips_on_stickers():
    left, right = _sticker_scene()
    tips_l, tips_r = left[:, :4].copy(), right[:, 2:6].copy()  # each fingertip exactly on a sticker
    r = contact_sticker_reward(left, tips_l, right, tips_r, alpha=40.0, beta=40.0)
    np.testing.assert_allclose(r, 8.0, atol=1e-12)
    # Each hand's weight switches its term: 4 from the hand that is on.
    np.testing.assert_allclose(contact_sticker_reward(left, tips_l, right, tips_r, 40.0, 40.0, 1.0, 0.0), 4.0)
    np.testing.assert_allclose(contact_sticker_reward(left, tips_l, right, tips_r, 40.0, 40.0, 0.0, 1.0), 4.0)
    np.testing.assert_allclose(contact_sticker_reward(left, tips_l, right, tips_r, 40.0, 40.0, 0.0, 0.0), 0.0)
    # Per-environment weights (the active hand differs by environment).
    w_left = np.array([1.0, 0.0, 0.5])
    np.testing.assert_allclose(contact_sticker_reward(left, tips_l, right, tips_r, 40.0, 40.0, w_left, 1.0 - w_left), 4.0)


def test_contact_reward_follows_the_paper_formula_and_is_small_far_away():
    stickers = np.zeros((1, 1, 3))
    near = np.zeros((1, 4, 3))
    near[0, :, 0] = 0.1  # every fingertip 10 cm from the only sticker
    far = near * 10  # 1 m
    r = contact_sticker_reward(stickers, near, stickers, far, alpha=40.0, beta=40.0)
    np.testing.assert_allclose(r, 4 / (1 + 40 * 0.1) + 4 / (1 + 40 * 1.0))
    # α belongs to the left hand, β to the right hand.
    r_alpha = contact_sticker_reward(stickers, near, stickers, far, alpha=10.0, beta=40.0)
    r_beta = contact_sticker_reward(stickers, near, stickers, far, alpha=40.0, beta=10.0)
    np.testing.assert_allclose(r_alpha, 4 / (1 + 1.0) + 4 / 41)
    np.testing.assert_allclose(r_beta, 4 / 5 + 4 / (1 + 10.0))
    assert contact_sticker_reward(stickers, far, stickers, far * 3, 40.0, 40.0)[0] < 0.15


def test_contact_reward_decreases_with_distance():
    stickers = np.zeros((1, 1, 3))
    values = []
    for d in (0.0, 0.01, 0.05, 0.2, 1.0):
        tips = np.zeros((1, 4, 3))
        tips[0, :, 2] = d
        values.append(contact_sticker_reward(stickers, tips, stickers, tips, 40.0, 40.0, 1.0, 0.0)[0])
    assert values[0] == pytest.approx(4.0)
    assert all(a > b for a, b in itertools.pairwise(values))


def test_object_goal_reward_is_minus_weighted_distance():
    obj = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    goal = np.array([[0.3, 0.4, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(object_goal_reward(obj, goal, 10.0), [-5.0, 0.0])


def test_stage_bonus_pays_the_sum_of_new_stages_once():
    old = np.array([0, 0, 1, 3, 3, 2])
    new = np.array([1, 3, 3, 3, 4, 2])
    # 0→1: 1; 0→3: 1+2+3; 1→3: 2+3; 3→3: nothing; 3→4: 4; 2→2: nothing.
    np.testing.assert_allclose(stage_bonus(new, old, 5.0), 5.0 * np.array([1, 6, 5, 0, 4, 0]))
    # Going back never pays (nor charges).
    assert stage_bonus(np.array([1]), np.array([2]), 5.0)[0] == 0.0


def test_action_rate_penalty():
    a = np.array([[1.0, 0.0], [0.5, 0.5]])
    last = np.array([[0.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(action_rate_penalty(a, last, 0.1), [-0.1, 0.0])


# --- task rewards on hand-built fingertip positions -------------------------------------------
def _far_tips(n):
    """Fingertips one metre above the table, far from every sticker."""
    tips = np.zeros((n, 4, 3))
    tips[..., 2] = 2.0
    return tips


def _tips_on(stickers, idx=(0, 3, 5, 7)):
    """Four fingertips on four distinct stickers of each environment."""
    return stickers[:, list(idx)].copy()


def _grasp_state(env, fingertips):
    n = env.num_envs
    pose = env.sim.object_pose()
    return {
        "fingertips": fingertips, "object_pos": pose[:, :3].copy(), "object_quat": pose[:, 3:].copy(),
        "object_height": np.zeros(n), "held": np.zeros(n, dtype=bool), "success_now": np.zeros(n, dtype=bool),
    }


def test_grasp_and_reach_contact_term_counts_only_the_active_hand(small_env):
    env = small_env("grasp_and_reach", num_envs=2)
    env.active_side[:] = [RIGHT, LEFT]
    n = env.num_envs
    on = {side: _tips_on(env.stickers_world(side)) for side in (LEFT, RIGHT)}
    # Active hand on its stickers, the other far: the maximum, 4 (× contact_weight).
    tips = np.zeros((n, 2, 4, 3))
    for i, side in enumerate(env.active_side):
        tips[i, side] = on[side][i]
        tips[i, 1 - side] = _far_tips(1)[0]
    r = env.compute_rewards(_grasp_state(env, tips))
    np.testing.assert_allclose(r["contact"], 4.0 * env.cfg.reward.contact_weight, atol=1e-9)
    # The inactive hand on the stickers and the active one far: small.
    tips_swapped = tips[:, ::-1].copy()
    for i, side in enumerate(env.active_side):
        tips_swapped[i, 1 - side] = on[1 - side][i]
        tips_swapped[i, side] = _far_tips(1)[0]
    r = env.compute_rewards(_grasp_state(env, tips_swapped))
    assert np.all(r["contact"] < 0.5)
    # The goal term is −w·(distance to the goal − the distance at reset): zero where the object
    # started, +w·0.02 two centimetres closer to the goal.
    dist = np.linalg.norm(env.sim.object_pose()[:, :3] - env.goal, axis=1)
    np.testing.assert_allclose(env.goal_distance0, dist)
    np.testing.assert_allclose(r["goal"], 0.0, atol=1e-12)
    state = _grasp_state(env, tips_swapped)
    state["object_pos"] = state["object_pos"] + 0.02 * (env.goal - state["object_pos"]) / dist[:, None]
    np.testing.assert_allclose(env.compute_rewards(state)["goal"], env.cfg.reward.goal_weight * 0.02, rtol=1e-9)


def test_box_lift_contact_term_uses_both_hands(small_env):
    env = small_env("box_lift", num_envs=2)
    tips = np.zeros((2, 2, 4, 3))
    tips[:, LEFT] = _tips_on(env.stickers_world(LEFT))
    tips[:, RIGHT] = _tips_on(env.stickers_world(RIGHT))
    np.testing.assert_allclose(env.compute_rewards(_grasp_state(env, tips))["contact"], 8.0, atol=1e-9)
    tips[:, LEFT] = _far_tips(2)
    r = env.compute_rewards(_grasp_state(env, tips))["contact"]
    assert np.all((r > 4.0) & (r < 4.5))
    # The left hand's stickers are on the box's +y face, the right hand's on its −y face.
    y_obj = env.sim.object_pose()[:, 1]
    assert np.all(env.stickers_world(LEFT)[..., 1] > y_obj[:, None])
    assert np.all(env.stickers_world(RIGHT)[..., 1] < y_obj[:, None])


def _handover_state(env, fingertips, *, touch_a=False, touch_b=False, table=False, object_pos=None):
    n = env.num_envs
    a = env.hand_a
    pose = env.sim.object_pose()
    touch = {LEFT: np.where(a == LEFT, touch_a, touch_b), RIGHT: np.where(a == RIGHT, touch_a, touch_b)}
    return {
        "fingertips": fingertips, "object_pos": pose[:, :3].copy() if object_pos is None else object_pos,
        "object_quat": pose[:, 3:].copy(), "object_height": np.zeros(n),
        "contact_left": np.broadcast_to(touch[LEFT], (n,)).astype(bool),
        "contact_right": np.broadcast_to(touch[RIGHT], (n,)).astype(bool),
        "contact_table": np.full(n, table), "success_now": np.zeros(n, dtype=bool),
    }


def _handover_rewards(env, fingertips, **kw):
    state = _handover_state(env, fingertips, **kw)
    success = env.update_stages(state)
    state["success_now"] = success
    return env.compute_rewards(state)


def _assert_same_points(a, b):
    """Two point sets (S×3) equal up to order."""
    key = lambda p: p[np.lexsort(np.round(p, 9).T[::-1])]
    np.testing.assert_allclose(key(a), key(b), atol=1e-9)


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_stage_switches_the_active_hand(small_env, direction):
    """The paper's hard switch (``stage_handoff: switch``)."""
    env = small_env("handover", num_envs=1, directions=[direction], stage_handoff="switch")
    a = RIGHT if direction == "right_to_left" else LEFT
    b = 1 - a
    assert env.hand_a[0] == a
    obj = env.env_object[0]
    # Index 0 holds hand A's stickers (object sides), index 1 hand B's (top and bottom).
    pose = env.sim.object_pose()
    # (As point sets: left-to-right episodes use the mirror image, the same set in another order.)
    _assert_same_points(env.stickers_world(0)[0], stickers_world(pose, make_stickers(obj, "all_side_centres")[None])[0])
    _assert_same_points(env.stickers_world(1)[0, :18], stickers_world(pose, make_stickers(obj, "top_bottom_centres")[None])[0])

    def tips(hand_on):
        t = np.zeros((1, 2, 4, 3))
        t[:, hand_on] = _tips_on(env.stickers_world(0 if hand_on == a else 1))
        t[:, 1 - hand_on] = _far_tips(1)
        return t

    # Stage 0 (a = 0): hand A's term is active.
    assert _handover_rewards(env, tips(a))["contact"][0] == pytest.approx(4.0)
    assert _handover_rewards(env, tips(b))["contact"][0] < 0.5
    assert env.stage[0] == 0
    # Hand A touches → stage 1, still hand A's term.
    _handover_rewards(env, tips(a), touch_a=True)
    assert env.stage[0] == 1
    assert _handover_rewards(env, tips(a))["contact"][0] == pytest.approx(4.0)
    # A brings the object to the intermediate goal off the table → stage 2 (a = 1): hand B's term.
    _handover_rewards(env, tips(a), touch_a=True, object_pos=env.intermediate_goal.copy())
    assert env.stage[0] == 2
    assert _handover_rewards(env, tips(b))["contact"][0] == pytest.approx(4.0)
    assert _handover_rewards(env, tips(a))["contact"][0] < 0.5
    # From stage 2 the goal term measures the distance to the final goal, relative to the
    # distance at the switch (the object at the intermediate goal): 0 there, positive closer.
    dist = np.linalg.norm(env.intermediate_goal - env.final_goal, axis=1)
    np.testing.assert_allclose(env.goal_distance0, dist)
    r = _handover_rewards(env, tips(b), touch_b=True, object_pos=env.intermediate_goal.copy())
    np.testing.assert_allclose(r["goal"], 0.0, atol=1e-12)
    closer = env.intermediate_goal + 0.03 * (env.final_goal - env.intermediate_goal) / dist[:, None]
    r = _handover_rewards(env, tips(b), touch_b=True, object_pos=closer)
    np.testing.assert_allclose(r["goal"], env.cfg.reward.goal_weight * 0.03, rtol=1e-9)


@pytest.mark.parametrize("needs_b", [True, False])
def test_handover_final_goal_progress_needs_hand_b(small_env, needs_b):
    """From stage 2 on, bringing the object closer to the final goal pays only while hand B
    touches it (``final_goal_needs_b``); hand A carrying it there alone earns nothing for it.
    Before stage 2 the intermediate goal's progress pays with A alone."""
    env = small_env("handover", num_envs=1, directions=["right_to_left"], final_goal_needs_b=needs_b)
    a, b = RIGHT, LEFT
    tips = _handover_tips(env, a, a)
    toward = 0.5 * (env.sim.object_pose()[:, :3] + env.intermediate_goal)
    assert _handover_rewards(env, tips, touch_a=True, object_pos=toward)["goal"][0] > 0.5  # stage 1, A alone
    _hover_then_finish_stage_2(env)
    dist = np.linalg.norm(env.intermediate_goal - env.final_goal, axis=1)
    closer = env.intermediate_goal + 0.1 * (env.final_goal - env.intermediate_goal) / dist[:, None]
    by_a = _handover_rewards(env, tips, touch_a=True, object_pos=closer)["goal"][0]
    with_b = _handover_rewards(env, tips, touch_a=True, touch_b=True, object_pos=closer)["goal"][0]
    assert with_b == pytest.approx(env.cfg.reward.goal_weight * 0.1)
    assert by_a == (0.0 if needs_b else pytest.approx(with_b))
    # Moving it away costs the same with or without B: B's touch never costs anything.
    away = env.intermediate_goal - 0.1 * (env.final_goal - env.intermediate_goal) / dist[:, None]
    by_a = _handover_rewards(env, tips, touch_a=True, object_pos=away)["goal"][0]
    with_b = _handover_rewards(env, tips, touch_a=True, touch_b=True, object_pos=away)["goal"][0]
    assert by_a == pytest.approx(with_b) and by_a < -0.5 * env.cfg.reward.goal_weight * 0.1


def test_handover_stage_bonus_is_paid_once_per_stage(small_env):
    env = small_env("handover", num_envs=1)
    scale = env.cfg.reward.stage_bonus_scale
    far = np.stack([_far_tips(1), _far_tips(1)], axis=1)

    def paid(**kw):
        # The env multiplies every term by dt; the bonus is meant to be paid as scale·k.
        return _handover_rewards(env, far, **kw)["stage_bonus"][0] * env.dt_s

    assert paid() == 0.0
    assert paid(touch_a=True) == pytest.approx(1 * scale)
    assert paid(touch_a=True) == 0.0  # stage 1 again: nothing
    assert paid(touch_a=True, object_pos=env.intermediate_goal.copy()) == pytest.approx(2 * scale)
    assert paid(touch_a=True, object_pos=env.intermediate_goal.copy()) == 0.0
    assert paid(touch_b=True) == pytest.approx(3 * scale)
    assert paid(touch_b=True) == 0.0
    # Success (set by the env after success_hold_steps) is stage 4.
    env.stage_reached["success"][:] = True
    assert paid(touch_b=True) == pytest.approx(4 * scale)
    assert paid(touch_b=True) == 0.0


def _per_step_income(r):
    return sum(v[0] for k, v in r.items() if k not in ("stage_bonus", "success", "action_rate", "termination"))


def _handover_tips(env, hand_on, a):
    t = np.zeros((1, 2, 4, 3))
    t[:, hand_on] = _tips_on(env.stickers_world(0 if hand_on == a else 1))
    t[:, 1 - hand_on] = _far_tips(1)
    return t


def _hover_then_finish_stage_2(env):
    """Per-step income while A holds the object 6 cm above the intermediate goal (stage 1), and
    the reward terms of the first step after A finished stage 2 (B not there yet)."""
    a = env.hand_a[0]
    tips = _handover_tips(env, a, a)
    _handover_rewards(env, tips, touch_a=True)
    near = env.intermediate_goal + np.array([[0.0, 0.0, 0.06]])
    state = _handover_state(env, tips, touch_a=True, object_pos=near)
    state["object_height"] = np.array([0.15])
    env.update_stages(state)
    hovering = env.compute_rewards(state)
    assert env.stage[0] == 1
    state = _handover_state(env, tips, touch_a=True, object_pos=env.intermediate_goal.copy())
    state["object_height"] = np.array([0.15])
    env.update_stages(state)
    env.compute_rewards(state)  # as every env step does after the stage update
    assert env.stage[0] == 2
    state = _handover_state(env, tips, touch_a=True, object_pos=env.intermediate_goal.copy())
    state["object_height"] = np.array([0.15])
    env.update_stages(state)
    return hovering, env.compute_rewards(state)


@pytest.mark.parametrize("handoff", ["switch", "floor", "continuous"])
def test_handover_handoff_modes_at_the_stage_2_boundary(small_env, handoff):
    """Hovering just outside the intermediate goal against having finished stage 2: the hard
    switch pays less after the boundary (the trap), the floor pays A's phase in full, the
    continuous handoff keeps contact, lift, hold and the goal progress A made, and loses only
    the intermediate goal's tracking term."""
    env = small_env("handover", num_envs=1, directions=["right_to_left"], stage_handoff=handoff)
    r = env.cfg.reward
    d0 = float(env.goal_distance0[0])
    hovering, done = _hover_then_finish_stage_2(env)
    assert hovering["stage_floor"][0] == 0.0 and hovering["stage_carry"][0] == 0.0
    if handoff == "switch":
        assert _per_step_income(done) < _per_step_income(hovering) - 10.0
        assert done["stage_floor"][0] == 0.0 and done["stage_carry"][0] == 0.0
    elif handoff == "floor":
        full = r.contact_weight * 4 + r.lift_weight * r.lift_cap_m + r.hold_weight + r.goal_track_weight + r.goal_weight * d0
        assert done["stage_floor"][0] == pytest.approx(full)
        assert _per_step_income(done) > _per_step_income(hovering)
    else:
        # Kept: lift and hold (the object is held up); A's contact term and the goal progress A
        # made (d0 − 0 at the goal itself) as constants; the contact term is B's from now on.
        for term in ("lift", "hold"):
            assert done[term][0] == pytest.approx(hovering[term][0]), term
        assert done["stage_carry"][0] == pytest.approx(r.goal_weight * d0 + r.contact_weight * 4.0)
        assert done["contact"][0] < 0.5  # B's fingertips are far away
        assert done["stage_floor"][0] == 0.0
        # Lost: only the intermediate goal's tracking term (bounded by its weight).
        assert done["goal_track"][0] == 0.0
        assert _per_step_income(done) >= _per_step_income(hovering) - r.goal_track_weight


def test_handover_continuous_handoff_costs_nothing_when_b_touches_or_a_lets_go(small_env):
    """With the continuous handoff hand B's first touch (stage 3) changes no term, and A letting
    go while B holds the object up costs nothing: there is no reason to keep B away."""
    env = small_env("handover", num_envs=1, directions=["left_to_right"], stage_handoff="continuous")
    a, b = LEFT, RIGHT
    _hover_then_finish_stage_2(env)
    both = _handover_tips(env, a, a)
    both[:, b] = _tips_on(env.stickers_world(1))
    up = np.array([0.15])

    def step(**touch):
        state = _handover_state(env, both, **touch)
        state["object_height"] = up
        env.update_stages(state)
        return env.compute_rewards(state)

    before = step(touch_a=True)
    assert env.stage[0] == 2
    touched = step(touch_a=True, touch_b=True)
    assert env.stage[0] == 3
    released = step(touch_b=True)
    for term in ("contact", "lift", "hold", "stage_carry", "goal"):
        assert touched[term][0] == pytest.approx(before[term][0]), term
        assert released[term][0] == pytest.approx(before[term][0]), term
    assert before["contact"][0] == pytest.approx(4.0)  # B's fingertips on B's stickers
    dropped = step(touch_b=True, table=True)  # on the table: held up by nobody
    assert dropped["lift"][0] == 0.0 and dropped["hold"][0] == 0.0


def test_handover_rejects_an_unknown_handoff():
    with pytest.raises(ValueError, match="stage_handoff must be one of"):
        task_config("handover", {"stage_handoff": "smooth"}).validate()
    with pytest.raises(ValueError, match="hold_b_weight must be >= 0"):
        task_config("handover", {"hold_b_weight": -1.0}).validate()


def test_termination_penalty_is_paid_once_when_the_object_falls(small_env):
    """Knocking the object off the table ends the episode with a one-off penalty, so ending
    early never pays more than holding on."""
    import torch

    env = small_env("grasp_and_reach", num_envs=2)
    pose = env.sim.object_pose().copy()
    pose[0, 2] = env.table_top_z - 0.3  # env 0: the object is below the table top
    env.sim.reset([0], joint_pos=env.sim.joint_pos()[[0]], object_pose=pose[[0]])
    _, reward, done, extras = env.step(torch.zeros(2, env.num_actions))
    assert done.tolist() == [True, False] and not bool(extras["time_outs"][0])
    rec = env.drain_completed()[0]
    assert rec["terms"]["termination"] == pytest.approx(-env.cfg.reward.termination_penalty)
    assert float(reward[0]) < float(reward[1]) - 0.9 * env.cfg.reward.termination_penalty


def test_goal_tracking_pays_only_while_held_and_peaks_at_the_goal():
    from dexmani_training.tasks.rewards import goal_tracking_reward

    goal = np.zeros((4, 3))
    pos = np.array([[0.0, 0, 0], [0.05, 0, 0], [0.5, 0, 0], [0.0, 0, 0]])
    held = np.array([True, True, True, False])
    r = goal_tracking_reward(pos, goal, held, 10.0, 0.05)
    assert r[0] == pytest.approx(10.0)
    assert r[1] == pytest.approx(10.0 * (1 - np.tanh(1.0)))
    assert r[2] < 0.01 and r[3] == 0.0


def test_handover_hold_b_pays_for_hand_b_holding_from_stage_2(small_env):
    env = small_env("handover", num_envs=1, directions=["right_to_left"], hold_b_weight=3.0)
    tips = _handover_tips(env, RIGHT, RIGHT)
    assert _handover_rewards(env, tips, touch_a=True, touch_b=True)["hold_b"][0] == 0.0  # stage 1: A's part
    _hover_then_finish_stage_2(env)
    assert _handover_rewards(env, tips, touch_a=True)["hold_b"][0] == 0.0
    assert _handover_rewards(env, tips, touch_a=True, touch_b=True)["hold_b"][0] == 3.0
    assert _handover_rewards(env, tips, touch_b=True, table=True)["hold_b"][0] == 0.0  # on the table
    off = small_env("handover", num_envs=1, directions=["right_to_left"])  # default 0: no such income
    assert _handover_rewards(off, tips, touch_a=True, touch_b=True)["hold_b"][0] == 0.0


def test_handover_release_a_pays_once_b_has_the_object_and_a_lets_go(small_env):
    env = small_env("handover", num_envs=1, directions=["right_to_left"], release_a_weight=4.0)
    tips = _handover_tips(env, RIGHT, RIGHT)
    assert _handover_rewards(env, tips, touch_b=True)["release_a"][0] == 0.0  # stage 0: B's touch is no handover
    _hover_then_finish_stage_2(env)
    assert _handover_rewards(env, tips, touch_a=True)["release_a"][0] == 0.0  # stage 2, A alone
    assert _handover_rewards(env, tips, touch_a=True, touch_b=True)["release_a"][0] == 0.0  # stage 3, both hold
    assert env.stage[0] == 3
    assert _handover_rewards(env, tips, touch_b=True)["release_a"][0] == 4.0  # B alone, off the table
    assert _handover_rewards(env, tips, touch_b=True, table=True)["release_a"][0] == 0.0  # put down
    assert _handover_rewards(env, tips)["release_a"][0] == 0.0  # dropped
    off = small_env("handover", num_envs=1, directions=["right_to_left"])  # default 0
    _hover_then_finish_stage_2(off)
    _handover_rewards(off, tips, touch_a=True, touch_b=True)
    assert _handover_rewards(off, tips, touch_b=True)["release_a"][0] == 0.0
    with pytest.raises(ValueError, match="release_a_weight"):
        task_config("handover", {"release_a_weight": -1.0}).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_intermediate_can_ask_for_hand_a_on_its_stickers(small_env, direction):
    """With intermediate_min_contact_a, the object at the intermediate goal held by A counts only
    while A's fingertips are on A's stickers (the bar's own end), not held anywhere else."""
    env = small_env("handover", num_envs=1, directions=[direction], objects="bar_5x18x5cm",
                    sticker_pattern_a="right_end", sticker_pattern_b="left_end", intermediate_min_contact_a=1.8)
    a = env.hand_a[0]
    on_end = _handover_tips(env, a, a)  # A's fingertips on A's end: contact term 4
    elsewhere = np.zeros_like(on_end)
    elsewhere[:, a] = _tips_on(env.stickers_world(1))  # on B's end of the bar: A's term small
    elsewhere[:, 1 - a] = _far_tips(1)
    at_mid = env.intermediate_goal.copy()

    def step(tips):
        state = _handover_state(env, tips, touch_a=True, object_pos=at_mid)
        state["object_height"] = np.array([0.15])
        env.update_stages(state)
        env.compute_rewards(state)
        return int(env.stage[0])

    assert env._contact_terms(elsewhere)[0][0] < 1.8 < env._contact_terms(on_end)[0][0]
    assert step(elsewhere) == 1  # touched (stage 1), at the goal, but held by B's end
    assert step(elsewhere) == 1
    assert step(on_end) == 2
    free = small_env("handover", num_envs=1, directions=[direction], objects="bar_5x18x5cm",
                     sticker_pattern_a="right_end", sticker_pattern_b="left_end")  # default 0: any hold
    env = free
    at_mid = env.intermediate_goal.copy()
    step(elsewhere)
    assert step(elsewhere) == 2
    with pytest.raises(ValueError, match="intermediate_min_contact_a"):
        task_config("handover", {"intermediate_min_contact_a": -1.0}).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_contact_b_can_ask_for_hand_b_on_its_stickers(small_env, direction):
    """With contact_b_min_contact_b, B's touch finishes stage 3 only with B's fingertips on B's
    stickers (its own end of the bar); a touch elsewhere leaves the episode at stage 2."""
    over = {"num_envs": 1, "directions": [direction], "objects": "bar_5x18x5cm", "sticker_pattern_a": "right_end",
            "sticker_pattern_b": "left_end"}
    env = small_env("handover", contact_b_min_contact_b=1.8, **over)
    a = env.hand_a[0]
    b_on_its_end = np.zeros((1, 2, 4, 3))
    b_on_its_end[:, a] = _tips_on(env.stickers_world(0))
    b_on_its_end[:, 1 - a] = _tips_on(env.stickers_world(1))
    b_elsewhere = b_on_its_end.copy()
    b_elsewhere[:, 1 - a] = _tips_on(env.stickers_world(0), idx=(1, 2, 4, 6))  # B's fingertips on A's end
    assert env._contact_terms(b_elsewhere)[1][0] < 1.8 < env._contact_terms(b_on_its_end)[1][0]
    _hover_then_finish_stage_2(env)
    assert env.stage[0] == 2
    _handover_rewards(env, b_elsewhere, touch_a=True, touch_b=True)
    assert env.stage[0] == 2 and not env.stage_reached["contact_b"][0]
    rewards = _handover_rewards(env, b_on_its_end, touch_a=True, touch_b=True)
    assert env.stage[0] == 3 and env.stage_reached["contact_b"][0]
    assert rewards["stage_bonus"][0] > 0  # the stage-3 bonus is paid at the grasp, not at the brush
    free = small_env("handover", **over)  # default 0: any touch
    _hover_then_finish_stage_2(free)
    _handover_rewards(free, b_elsewhere, touch_a=True, touch_b=True)
    assert free.stage[0] == 3
    with pytest.raises(ValueError, match="contact_b_min_contact_b"):
        task_config("handover", {"contact_b_min_contact_b": -1.0}).validate()


def _crossed_and_own_ends(env, a):
    """Fingertips (1×2×4×3) of a one-env handover with hand A ``a``: crossed (A's on B's
    stickers, B's on A's) and each hand on its own stickers."""
    crossed, ends = np.zeros((1, 2, 4, 3)), np.zeros((1, 2, 4, 3))
    for tips, a_set in ((crossed, 1), (ends, 0)):
        tips[:, a] = _tips_on(env.stickers_world(a_set))
        tips[:, 1 - a] = _tips_on(env.stickers_world(1 - a_set))
    return crossed, ends


def _hold_paid(e, tips, **touch):
    """One step of a one-env handover with the bar 8 cm up and fingertips ``tips``: what
    ``lift``, ``hold`` and ``level`` pay."""
    state = _handover_state(e, tips, **touch)
    state["object_height"] = np.array([0.08])
    state["success_now"] = e.update_stages(state)
    r = e.compute_rewards(state)
    return r["lift"][0], r["hold"][0], r["level"][0]


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_hold_can_ask_for_hand_a_on_its_own_end(small_env, direction):
    """With hold_min_contact_a, from stage 2 on lift, hold and level pay only while A keeps its
    fingertips on its own end of the bar or lets go; before stage 2 any hold by A pays."""
    over = {"num_envs": 1, "directions": [direction], "objects": "bar_5x18x5cm", "sticker_pattern_a": "right_end",
            "sticker_pattern_b": "left_end", "level_weight": 3.0}
    env = small_env("handover", hold_min_contact_a=1.8, **over)
    a = env.hand_a[0]
    a_on_b_end, ends = _crossed_and_own_ends(env, a)
    assert env._contact_terms(a_on_b_end)[0][0] < 1.8 < env._contact_terms(ends)[0][0]

    assert all(v > 0 for v in _hold_paid(env, a_on_b_end, touch_a=True))  # stage 1: any hold by A pays
    _hover_then_finish_stage_2(env)
    assert _hold_paid(env, a_on_b_end, touch_a=True, touch_b=True) == (0.0, 0.0, 0.0)
    assert env.stage[0] == 3
    lift, hold, level = _hold_paid(env, ends, touch_a=True, touch_b=True)
    assert lift == pytest.approx(env.cfg.reward.lift_weight * 0.08) and hold == env.cfg.reward.hold_weight
    assert level == pytest.approx(3.0)  # the bar lies level
    assert all(v > 0 for v in _hold_paid(env, a_on_b_end, touch_b=True))  # A let go, B holds: pays
    assert _hold_paid(env, ends, touch_a=True, touch_b=True, table=True) == (0.0, 0.0, 0.0)  # on the table
    free = small_env("handover", **over)  # default 0: any hold pays
    _hover_then_finish_stage_2(free)
    assert all(v > 0 for v in _hold_paid(free, a_on_b_end, touch_a=True, touch_b=True))
    # Graded: below the threshold the share A's contact term / threshold; at or above it all.
    graded = small_env("handover", hold_min_contact_a=1.8, hold_min_contact_a_graded=True, **over)
    _hover_then_finish_stage_2(graded)
    share = graded._contact_terms(a_on_b_end)[0][0] / 1.8
    assert 0.0 < share < 1.0
    assert _hold_paid(graded, a_on_b_end, touch_a=True, touch_b=True)[1] == pytest.approx(share * graded.cfg.reward.hold_weight)
    assert _hold_paid(graded, ends, touch_a=True, touch_b=True)[1] == graded.cfg.reward.hold_weight
    # From stage 0: A's own phase pays only for a hold by its own end, too.
    early = small_env("handover", hold_min_contact_a=1.8, hold_min_contact_a_from_stage=0, **over)
    assert _hold_paid(early, a_on_b_end, touch_a=True) == (0.0, 0.0, 0.0)
    assert _hold_paid(early, ends, touch_a=True)[1] == early.cfg.reward.hold_weight
    with pytest.raises(ValueError, match="hold_min_contact_a_from_stage"):
        task_config("handover", {"hold_min_contact_a_from_stage": 3}).validate()
    with pytest.raises(ValueError, match="hold_min_contact_a"):
        task_config("handover", {"hold_min_contact_a": -1.0}).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_hold_can_ask_for_hand_b_on_its_own_end(small_env, direction):
    """With hold_min_contact_b, from stage 2 on lift, hold and level pay only while B keeps its
    fingertips on its own end of the bar or stays off it; graded, the share of B's term; with
    both gates the shares multiply; before stage 2 B's touch changes nothing."""
    over = {"num_envs": 1, "directions": [direction], "objects": "bar_5x18x5cm", "sticker_pattern_a": "right_end",
            "sticker_pattern_b": "left_end", "level_weight": 3.0}
    env = small_env("handover", hold_min_contact_b=1.8, **over)
    a = env.hand_a[0]
    crossed, ends = _crossed_and_own_ends(env, a)
    b_on_a_end = ends.copy()  # A on its end, B's fingertips on A's end too
    b_on_a_end[:, 1 - a] = _tips_on(env.stickers_world(0), idx=(1, 2, 4, 6))
    term_b = env._contact_terms(b_on_a_end)[1][0]
    assert term_b < 1.8 < env._contact_terms(ends)[1][0]

    assert all(v > 0 for v in _hold_paid(env, b_on_a_end, touch_a=True, touch_b=True))  # stage 1: B not gated
    _hover_then_finish_stage_2(env)
    assert _hold_paid(env, b_on_a_end, touch_a=True, touch_b=True) == (0.0, 0.0, 0.0)
    lift, hold, level = _hold_paid(env, ends, touch_a=True, touch_b=True)
    assert lift == pytest.approx(env.cfg.reward.lift_weight * 0.08) and hold == env.cfg.reward.hold_weight
    assert level == pytest.approx(3.0)
    assert _hold_paid(env, b_on_a_end, touch_a=True)[1] == env.cfg.reward.hold_weight  # B off the bar: A's hold pays
    graded = small_env("handover", hold_min_contact_b=1.8, hold_min_contact_b_graded=True, **over)
    _hover_then_finish_stage_2(graded)
    w = graded.cfg.reward.hold_weight
    assert _hold_paid(graded, b_on_a_end, touch_a=True, touch_b=True)[1] == pytest.approx(term_b / 1.8 * w)
    assert _hold_paid(graded, ends, touch_a=True, touch_b=True)[1] == w
    both = small_env("handover", hold_min_contact_a=1.8, hold_min_contact_a_graded=True, hold_min_contact_b=1.8,
                     hold_min_contact_b_graded=True, **over)
    _hover_then_finish_stage_2(both)
    term_a, term_b = (t[0] for t in both._contact_terms(crossed))
    assert _hold_paid(both, crossed, touch_a=True, touch_b=True)[1] == pytest.approx(
        min(term_a / 1.8, 1.0) * min(term_b / 1.8, 1.0) * w)
    with pytest.raises(ValueError, match="hold_min_contact_b"):
        task_config("handover", {"hold_min_contact_b": -1.0}).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_hold_b_can_pay_by_hand_b_grip_on_its_own_end(small_env, direction):
    """With hold_b_min_contact_b, hold_b pays the share min(B's contact term / it, 1): in full
    with B's fingertips on its own end, a fraction with B on A's end, nothing before stage 2 or
    with B off the bar; without it, any touch by B pays in full."""
    over = {"num_envs": 1, "directions": [direction], "objects": "bar_5x18x5cm", "sticker_pattern_a": "right_end",
            "sticker_pattern_b": "left_end", "hold_b_weight": 4.0}
    env = small_env("handover", hold_b_min_contact_b=1.8, **over)
    a = env.hand_a[0]
    crossed, ends = _crossed_and_own_ends(env, a)
    term_crossed, term_ends = env._contact_terms(crossed)[1][0], env._contact_terms(ends)[1][0]
    assert term_crossed < 1.8 < term_ends

    def hold_b(e, tips, **touch):
        return _handover_rewards(e, tips, **touch)["hold_b"][0]

    assert hold_b(env, ends, touch_a=True, touch_b=True) == 0.0  # stage 1: A's part
    _hover_then_finish_stage_2(env)
    assert hold_b(env, ends, touch_a=True, touch_b=True) == 4.0
    assert hold_b(env, crossed, touch_a=True, touch_b=True) == pytest.approx(4.0 * term_crossed / 1.8)
    assert hold_b(env, ends, touch_a=True) == 0.0  # B not touching
    free = small_env("handover", **over)
    _hover_then_finish_stage_2(free)
    assert hold_b(free, crossed, touch_a=True, touch_b=True) == 4.0
    with pytest.raises(ValueError, match="hold_b_min_contact_b"):
        task_config("handover", {"hold_b_min_contact_b": -0.5}).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_squeeze_b_pays_for_hand_b_finger_targets_closed_past_its_fingers(small_env, direction):
    """squeeze_b pays, from stage 2 while B holds, the mean over B's finger joints of each one's
    target past the joint (along closing) over squeeze_b_rad, floored at 0 and capped at 1 joint
    by joint, times hold_b's share; A's squeeze counts for nothing."""
    from dexmani_training.tasks.base import hand_open_closed, side_joint_indices

    env = small_env("handover", num_envs=1, directions=[direction], objects="bar_5x18x5cm",
                    sticker_pattern_a="right_end", sticker_pattern_b="left_end", squeeze_b_weight=4.0,
                    squeeze_b_rad=0.3, hold_b_min_contact_b=1.8)
    a = env.hand_a[0]
    crossed, ends = _crossed_and_own_ends(env, a)
    open_q, closed_q = hand_open_closed()
    closing = np.sign(closed_q - open_q)
    b_fingers, a_fingers = side_joint_indices(1 - a)[1], side_joint_indices(a)[1]
    assert (closing[b_fingers] != 0).all()

    def squeeze_b(b_past, a_past=0.0, tips=ends, **touch):
        env.targets[:] = env.sim.joint_pos()
        env.targets[0, b_fingers] += b_past * closing[b_fingers]
        env.targets[0, a_fingers] += a_past * closing[a_fingers]
        return _handover_rewards(env, tips, **touch)["squeeze_b"][0]

    assert squeeze_b(0.3, touch_a=True, touch_b=True) == 0.0  # stage 1: A's part
    _hover_then_finish_stage_2(env)
    assert squeeze_b(0.15, touch_a=True, touch_b=True) == pytest.approx(2.0)
    assert squeeze_b(0.6, touch_a=True, touch_b=True) == pytest.approx(4.0)  # capped
    assert squeeze_b(-0.2, touch_a=True, touch_b=True) == 0.0  # targets more open than the fingers
    assert squeeze_b(0.0, a_past=0.6, touch_a=True, touch_b=True) == 0.0  # A's grip is not B's
    assert squeeze_b(0.6, touch_a=True) == 0.0  # B not touching
    env.targets[:] = env.sim.joint_pos()  # one joint pressing hard earns only its share
    env.targets[0, b_fingers[0]] += 0.6 * closing[b_fingers[0]]
    assert _handover_rewards(env, ends, touch_a=True, touch_b=True)["squeeze_b"][0] == pytest.approx(4.0 / len(b_fingers))
    np.testing.assert_allclose(env.finger_squeeze(np.array([1 - a]), per_joint=True)[0], np.eye(len(b_fingers))[0] * 0.6,
                               atol=1e-12)
    term_crossed = env._contact_terms(crossed)[1][0]
    assert squeeze_b(0.6, tips=crossed, touch_a=True, touch_b=True) == pytest.approx(4.0 * term_crossed / 1.8)
    np.testing.assert_allclose(env.finger_squeeze(np.array([1 - a])), 0.6)
    np.testing.assert_allclose(env.finger_squeeze(np.array([a])), 0.0, atol=1e-12)
    off = small_env("handover", num_envs=1, directions=[direction])
    _hover_then_finish_stage_2(off)
    assert _handover_rewards(off, ends, touch_a=True, touch_b=True)["squeeze_b"][0] == 0.0  # default off
    for bad, match in (({"squeeze_b_weight": -1.0}, "squeeze_b_weight"), ({"squeeze_b_rad": 0.0}, "squeeze_b_rad")):
        with pytest.raises(ValueError, match=match):
            task_config("handover", bad).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_b_holds_assist_can_wait_for_hand_b_on_its_own_end(small_env, direction):
    """With assist_release_min_contact_b, the b_holds clock counts only the stage-3 steps in which
    B's contact term is at least it: B on A's end neither starts nor continues it, and A lets go
    only after assist_release_after_s of B on its own end without a break; without the option any
    touch by B counts. It needs the b_holds trigger and is never negative."""
    over = {"num_envs": 1, "directions": [direction], "objects": "bar_5x18x5cm", "sticker_pattern_a": "right_end",
            "sticker_pattern_b": "left_end", "assist_release_probability": 1.0, "assist_release_after_s": 2 * 0.05,
            "assist_release_trigger": "b_holds"}
    env = small_env("handover", assist_release_min_contact_b=1.8, **over)
    assert env.dt_s == pytest.approx(0.05)
    crossed, ends = _crossed_and_own_ends(env, env.hand_a[0])
    term_crossed, term_ends = env._contact_terms(crossed)[1][0], env._contact_terms(ends)[1][0]
    assert term_crossed < 1.8 < term_ends
    env.stage[:] = 3
    for tips in (crossed, crossed, crossed, ends, crossed, ends):  # never two own-end steps in a row
        _handover_rewards(env, tips, touch_a=True, touch_b=True)
        assert not env.assist_active[0]
    _handover_rewards(env, ends, touch_a=True, touch_b=True)
    assert env.assist_active[0]
    loose = small_env("handover", **over)
    loose.stage[:] = 3
    for _ in range(2):
        _handover_rewards(loose, crossed, touch_a=True, touch_b=True)
    assert loose.assist_active[0]
    with pytest.raises(ValueError, match="b_holds"):
        task_config("handover", {"assist_release_probability": 0.5, "assist_release_min_contact_b": 1.8}).validate()
    with pytest.raises(ValueError, match="assist_release_min_contact_b"):
        task_config("handover", {"assist_release_trigger": "b_holds", "assist_release_min_contact_b": -0.5}).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_records_which_hand_held_its_own_stickers_in_a_two_hand_hold(small_env, direction):
    """``held_both_{a,b}_on_stickers_s`` count the steps of a two-hand hold (off the table) in
    which A's, B's contact term is at least 1.5, in seconds; holds by one hand, on the table or
    with the hands crossed add nothing to the hand off its stickers; a reset clears them."""
    env = small_env("handover", num_envs=1, directions=[direction], objects="bar_5x18x5cm",
                    sticker_pattern_a="right_end", sticker_pattern_b="left_end")
    a = env.hand_a[0]
    crossed, ends = _crossed_and_own_ends(env, a)
    a_only = ends.copy()  # A on its end, B far away
    a_only[:, 1 - a] = _far_tips(1)
    _handover_rewards(env, ends, touch_a=True, touch_b=True)  # each on its own end: both count
    _handover_rewards(env, ends, touch_a=True, touch_b=True)
    _handover_rewards(env, crossed, touch_a=True, touch_b=True)  # crossed: neither
    _handover_rewards(env, ends, touch_a=True, touch_b=True, table=True)  # on the table: not held
    _handover_rewards(env, a_only, touch_a=True)  # A alone: no two-hand hold
    rec = env.episode_record_extras(0)
    dt = env.dt_s
    assert rec["held_both_s"] == pytest.approx(3 * dt)
    assert rec["held_both_a_on_stickers_s"] == pytest.approx(2 * dt)
    assert rec["held_both_b_on_stickers_s"] == pytest.approx(2 * dt)
    half = ends.copy()  # B's fingertips on A's end only: A counts, B does not
    half[:, 1 - a] = crossed[:, 1 - a]
    _handover_rewards(env, half, touch_a=True, touch_b=True)
    rec = env.episode_record_extras(0)
    assert rec["held_both_a_on_stickers_s"] == pytest.approx(3 * dt)
    assert rec["held_both_b_on_stickers_s"] == pytest.approx(2 * dt)
    env.reset(np.array([0]))
    assert env.episode_record_extras(0)["held_both_a_on_stickers_s"] == 0.0


def test_handover_let_go_pays_for_hand_a_leaving_its_stickers_while_b_holds(small_env):
    env = small_env("handover", num_envs=1, directions=["right_to_left"], let_go_weight=2.0)
    on_a = _handover_tips(env, RIGHT, RIGHT)  # A's fingertips on A's stickers, B's far
    away = on_a.copy()
    away[:, RIGHT] = _far_tips(1)
    assert _handover_rewards(env, away, touch_b=True)["let_go"][0] == 0.0  # stage 0
    _hover_then_finish_stage_2(env)
    assert _handover_rewards(env, away, touch_a=True)["let_go"][0] == 0.0  # stage 2: B has not touched
    assert _handover_rewards(env, on_a, touch_a=True, touch_b=True)["let_go"][0] == pytest.approx(0.0, abs=1e-9)
    assert env.stage[0] == 3
    half = on_a.copy()  # two of A's fingertips leave: half of A's contact term
    half[:, RIGHT, :2] = _far_tips(1)[:, :2]
    assert _handover_rewards(env, half, touch_a=True, touch_b=True)["let_go"][0] == pytest.approx(1.0, abs=0.05)
    assert _handover_rewards(env, away, touch_b=True)["let_go"][0] == pytest.approx(2.0, abs=0.05)  # 1 / (1 + α·d) is small, not 0, far away
    assert _handover_rewards(env, away, touch_b=True, table=True)["let_go"][0] == 0.0  # put down
    assert _handover_rewards(small_env("handover", num_envs=1), away, touch_b=True)["let_go"][0] == 0.0  # default off
    with pytest.raises(ValueError, match="let_go_weight"):
        task_config("handover", {"let_go_weight": -1.0}).validate()


@pytest.mark.parametrize(("axis", "angle", "level"), [(2, 0.7, 1.0), (0, np.pi / 2, 0.0), (0, np.pi / 6, 0.5),
                                                   (1, np.pi / 2, 1.0), (0, -np.pi / 6, 0.5)])
def test_handover_level_pays_for_holding_the_bar_s_long_axis_level(small_env, axis, angle, level):
    """The bar lies along y: yaw (about z) or a roll about its own axis (y) keep it level; a
    rotation about x tilts it, 30° gives 1 − sin 30° = 0.5 and upright 0."""
    env = small_env("handover", num_envs=1, directions=["right_to_left"], objects="bar_5x18x5cm", level_weight=3.0)
    tips = _handover_tips(env, RIGHT, RIGHT)
    state = _handover_state(env, tips, touch_a=True)
    q = np.zeros(4)
    q[0], q[1 + axis] = np.cos(angle / 2), np.sin(angle / 2)
    state["object_quat"] = q[None]
    env.update_stages(state)
    assert env.compute_rewards(state)["level"][0] == pytest.approx(3.0 * level, abs=1e-9)
    state["contact_table"][:] = True  # not held up: nothing
    env.update_stages(state)
    assert env.compute_rewards(state)["level"][0] == 0.0


def test_handover_level_needs_an_elongated_object(small_env):
    assert _handover_rewards(small_env("handover", num_envs=1), _far_tips(1))["level"][0] == 0.0  # default off
    with pytest.raises(ValueError, match="long axis.*sphere_r3cm"):
        small_env("handover", num_envs=1, objects="sphere_r3cm", level_weight=1.0)
    with pytest.raises(ValueError, match="level_weight"):
        task_config("handover", {"level_weight": -1.0}).validate()


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
@pytest.mark.parametrize(("yaw", "aim"), [(0.0, 1.0), (np.pi / 3, 0.5), (-np.pi / 3, 0.5), (np.pi / 2, 0.0),
                                          (np.pi, 0.0), (0.75 * np.pi, 0.0)])
def test_handover_aim_pays_for_the_bar_pointing_from_a_s_end_to_b_s_side(small_env, direction, yaw, aim):
    """The bar lies along y with A's end on A's side: aim pays in full; yawed 60° half; across
    the table, turned end for end or past across nothing; not held up, nothing; a roll about
    its own axis changes nothing."""
    env = small_env("handover", num_envs=1, directions=[direction], objects="bar_5x18x5cm",
                    sticker_pattern_a="right_end", sticker_pattern_b="left_end", aim_weight=2.0)
    a = env.hand_a[0]
    state = _handover_state(env, _handover_tips(env, a, a), touch_a=True)
    state["object_quat"] = np.array([[np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]])
    env.update_stages(state)
    assert env.compute_rewards(state)["aim"][0] == pytest.approx(2.0 * aim, abs=1e-9)
    roll = np.array([np.cos(0.4), 0.0, np.sin(0.4), 0.0])  # 0.8 rad about the bar's own axis (y)
    w1, v1, w2, v2 = state["object_quat"][0, 0], state["object_quat"][0, 1:], roll[0], roll[1:]
    state["object_quat"] = np.concatenate([[w1 * w2 - v1 @ v2], w1 * v2 + w2 * v1 + np.cross(v1, v2)])[None]
    env.update_stages(state)
    assert env.compute_rewards(state)["aim"][0] == pytest.approx(2.0 * aim, abs=1e-9)
    state["contact_table"][:] = True  # not held up
    env.update_stages(state)
    assert env.compute_rewards(state)["aim"][0] == 0.0


def test_handover_aim_needs_two_sticker_patterns_apart(small_env):
    assert _handover_rewards(small_env("handover", num_envs=1), _far_tips(1))["aim"][0] == 0.0  # default off
    with pytest.raises(ValueError, match="aim_weight needs hand A's and hand B's stickers apart"):
        small_env("handover", num_envs=1, objects="bar_5x18x5cm", sticker_pattern_a="right_end",
                  sticker_pattern_b="right_end", aim_weight=1.0)
    with pytest.raises(ValueError, match="aim_weight"):
        task_config("handover", {"aim_weight": -1.0}).validate()


def test_handover_end_patterns_follow_hand_a_in_both_directions(small_env):
    """End patterns are named for right_to_left episodes and mirrored in left_to_right ones, so
    hand A's stickers are always on the end of the bar on A's side and B's on the other."""
    env = small_env("handover", num_envs=2, objects="bar_5x18x5cm", sticker_pattern_a="right_end",
                    sticker_pattern_b="left_end", directions=["right_to_left", "left_to_right"])
    env.hand_a[:] = [RIGHT, LEFT]
    y_obj = env.sim.object_pose()[:, 1:2]
    sign_a = np.array([[-1.0], [1.0]])  # the right hand's side is −y
    st_a = env.stickers_world(0)[:, :27, 1] - y_obj
    st_b = env.stickers_world(1)[:, :27, 1] - y_obj
    assert np.all(sign_a * st_a > 0.02) and np.all(sign_a * st_b < -0.02)
    # Fingertips on A's end earn A's full contact term and nothing near it for B.
    tips = np.zeros((2, 2, 4, 3))
    for i, a in enumerate((RIGHT, LEFT)):
        tips[i, a] = env.stickers_world(0)[i, [0, 9, 18, 4]]
        tips[i, 1 - a] = env.stickers_world(0)[i, [1, 10, 19, 5]]  # B's fingertips on A's end too
    contact_a, contact_b = env._contact_terms(tips)
    np.testing.assert_allclose(contact_a, 4.0, atol=1e-9)
    assert np.all(contact_b < 0.5 * contact_a)



def _tips_around_axis(env, hand, angles, radii=0.035, along=0.06):
    """Fingertips (1×2×4×3) with hand ``hand``'s four (thumb, index, middle, ring) at ``angles``
    (rad) around the object's long axis, ``radii`` from it, ``along`` m from the object's centre
    along the axis towards hand B's stickers (negative: towards A's half); the other hand 1 m away."""
    pose = env.sim.object_pose()
    axis = env.long_axis_world(pose[:, 3:])[0]
    b_centre = env.stickers_world(RIGHT)[0].mean(axis=0) - pose[0, :3]
    axis = axis * np.sign(axis @ b_centre)  # pointing to B's half
    e1 = np.cross(axis, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    tips = np.zeros((1, 2, 4, 3))
    tips[0, 1 - hand] = pose[0, :3] + 1.0
    radii = np.broadcast_to(radii, (4,))
    for k, (angle, rho) in enumerate(zip(angles, radii)):
        tips[0, hand, k] = pose[0, :3] + along * axis + rho * (np.cos(angle) * e1 + np.sin(angle) * e2)
    return tips


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_wrap_b_pays_for_hand_b_fingertips_around_the_bar_at_its_end(small_env, direction):
    """wrap_b pays, from stage 2 while the object is off the table, the arc around the object's
    long axis that B's fingertips within wrap_b_radius_m of it and on B's half span, over 180°,
    capped at 1; A's fingertips, tips out of reach and tips on A's half count for nothing."""
    env = small_env("handover", num_envs=1, directions=[direction], objects="bar_5x18x5cm",
                    sticker_pattern_a="right_end", sticker_pattern_b="left_end", wrap_b_weight=4.0,
                    wrap_b_radius_m=0.06)
    a = env.hand_a[0]
    b = 1 - a
    pi = np.pi

    def wrap(angles, hand=b, table=False, **kw):
        return _handover_rewards(env, _tips_around_axis(env, hand, angles, **kw), touch_a=True, table=table)["wrap_b"][0]

    assert wrap([pi, 0, 0, 0]) == 0.0  # stage 1: A's part
    _hover_then_finish_stage_2(env)
    assert wrap([pi, 0.0, 0.1, -0.1]) == pytest.approx(4.0)  # thumb across the axis from the fingers
    assert wrap([pi / 2, 0.0, 0.0, 0.0]) == pytest.approx(2.0)  # a quarter turn
    assert wrap([0.0, 0.2, 0.4, 0.6]) == pytest.approx(4.0 * 0.6 / pi)  # a hook: the fingers side by side
    assert wrap([0.0, 2 * pi / 3, 4 * pi / 3, 0.0]) == pytest.approx(4.0)  # all round: capped
    far = [0.035, 0.035, 0.10, 0.10]
    assert wrap([3.0, -3.0, 0.0, 0.0], radii=far) == pytest.approx(4.0 * (2 * pi - 6.0) / pi)  # across the ±π seam: 0.28 rad
    assert wrap([pi, 0.0, 0.0, 0.0], radii=[0.10, 0.035, 0.035, 0.035]) == 0.0  # the thumb out of reach
    assert wrap([pi, 0.0, pi, 0.0], radii=[0.10, 0.035, 0.035, 0.035]) == pytest.approx(4.0)  # the middle finger across
    assert wrap([pi, 0.0, 0.0, 0.0], radii=[0.035, 0.10, 0.10, 0.10]) == 0.0  # one tip near: no arc
    assert wrap([pi, 0.0, 0.0, 0.0], along=-0.06) == 0.0  # on A's half
    assert wrap([pi, 0.0, 0.0, 0.0], hand=a) == 0.0  # A's grip is not B's
    assert wrap([pi, 0.0, 0.0, 0.0], table=True) == 0.0  # the object on the table
    tips = _tips_around_axis(env, b, [pi / 2, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(env.wrap_b(tips), [0.5])
    off = small_env("handover", num_envs=1, directions=[direction], objects="bar_5x18x5cm",
                    sticker_pattern_a="right_end", sticker_pattern_b="left_end")
    _hover_then_finish_stage_2(off)
    assert _handover_rewards(off, _tips_around_axis(off, 1 - off.hand_a[0], [pi, 0, 0, 0]), touch_a=True)["wrap_b"][0] == 0.0
    for bad, match in (({"wrap_b_weight": -1.0}, "wrap_b_weight"), ({"wrap_b_radius_m": 0.0}, "wrap_b_radius_m")):
        with pytest.raises(ValueError, match=match):
            task_config("handover", bad).validate()
    with pytest.raises(ValueError, match="wrap_b_weight needs objects with a long axis"):
        small_env("handover", num_envs=1, objects="cube_5cm", wrap_b_weight=1.0)
