"""Success detectors on scripted states: each task's stages (contact, pickup, success; the
handover's four stages in order) and the env's success-hold streak."""

import numpy as np
import pytest
import torch
from dexmani_training.symmetry import mirror_joints
from dexmani_training.tasks.base import LEFT, RIGHT

T, F = True, False


def _state(env, *, left=F, right=F, table=F, height=0.0, object_pos=None):
    n = env.num_envs
    pos = env.sim.object_pose()[:, :3].copy() if object_pos is None else np.asarray(object_pos, dtype=float)
    return {
        "object_pos": pos,
        "contact_left": np.broadcast_to(np.asarray(left), (n,)).copy(),
        "contact_right": np.broadcast_to(np.asarray(right), (n,)).copy(),
        "contact_table": np.broadcast_to(np.asarray(table), (n,)).copy(),
        "object_height": np.broadcast_to(np.asarray(height, dtype=float), (n,)).copy(),
    }


def _reached(env):
    return {k: v.copy() for k, v in env.stage_reached.items()}


# --- grasp and reach --------------------------------------------------------------------------
@pytest.fixture
def grasp(small_env):
    env = small_env("grasp_and_reach", num_envs=2)
    env.active_side[:] = [RIGHT, LEFT]
    return env


def test_grasp_contact_needs_the_active_hand(grasp):
    # Env 0 is right-handed, env 1 left-handed. Touching with the right hand only counts in env 0.
    grasp.update_stages(_state(grasp, right=T))
    np.testing.assert_array_equal(grasp.stage_reached["contact"], [T, F])
    grasp.update_stages(_state(grasp, left=T))
    np.testing.assert_array_equal(grasp.stage_reached["contact"], [T, T])
    assert not grasp.stage_reached["pickup"].any()


@pytest.mark.parametrize(
    "flags, height, expected",
    [
        ({"active": T}, 0.06, T),
        ({"active": T}, 0.05, T),  # ≥ pickup_height_m
        ({"active": T}, 0.04, F),  # not high enough
        ({"active": T, "table": T}, 0.06, F),  # still touching the table
        ({"inactive": T}, 0.06, F),  # held by the wrong hand
        ({}, 0.06, F),  # not held at all (e.g. thrown)
    ],
)
def test_grasp_pickup_needs_height_active_hand_and_no_table(grasp, flags, height, expected):
    active = np.array([grasp.active_side == s for s in (LEFT, RIGHT)])  # 2×N: does side s equal the active one
    left = active[LEFT] if flags.get("active") else (~active[LEFT] if flags.get("inactive") else np.zeros(2, bool))
    right = active[RIGHT] if flags.get("active") else (~active[RIGHT] if flags.get("inactive") else np.zeros(2, bool))
    grasp.update_stages(_state(grasp, left=left, right=right, table=flags.get("table", F), height=height))
    np.testing.assert_array_equal(grasp.stage_reached["pickup"], [expected, expected])


def test_grasp_success_condition_needs_goal_distance_and_hold(grasp):
    held = {"left": grasp.active_side == LEFT, "right": grasp.active_side == RIGHT}
    goal = grasp.goal.copy()
    near = goal + [0.03, 0.0, -0.03]  # 4.2 cm
    far = goal + [0.0, 0.06, 0.0]
    assert grasp.update_stages(_state(grasp, **held, height=0.1, object_pos=near)).tolist() == [T, T]
    assert grasp.update_stages(_state(grasp, **held, height=0.1, object_pos=far)).tolist() == [F, F]
    assert grasp.update_stages(_state(grasp, height=0.1, object_pos=goal)).tolist() == [F, F]  # not held
    assert grasp.update_stages(_state(grasp, **held, table=T, object_pos=goal)).tolist() == [F, F]
    # The stage flags themselves are only set by the env after the hold streak.
    assert not grasp.stage_reached["success"].any()


@pytest.mark.parametrize("task", ["grasp_and_reach", "box_lift", "handover"])
def test_hold_term_pays_only_while_the_object_is_held(small_env, task):
    """``hold`` pays hold_weight per second while the task's hand(s) touch the object and the
    table does not; touching it on the table, or not touching it, pays nothing."""
    env = small_env(task, num_envs=2)
    w = env.cfg.reward.hold_weight
    assert w > 0

    def hold(**flags):
        st = _state(env, height=0.03, **flags)
        st["fingertips"] = env.sim.fingertip_pos().copy()
        st["success_now"] = env.update_stages(st)
        return env.compute_rewards(st)["hold"]

    both = {"left": T, "right": T}  # every task's holding hands (box lift needs both)
    np.testing.assert_allclose(hold(**both), [w, w])
    np.testing.assert_allclose(hold(**both, table=T), [0.0, 0.0])
    np.testing.assert_allclose(hold(), [0.0, 0.0])


def test_grasp_stages_stay_reached_and_reset_clears_them(grasp):
    held = {"left": grasp.active_side == LEFT, "right": grasp.active_side == RIGHT}
    grasp.update_stages(_state(grasp, **held, height=0.08))
    grasp.update_stages(_state(grasp))  # dropped again
    assert grasp.stage_reached["contact"].all() and grasp.stage_reached["pickup"].all()
    grasp.reset(np.array([1]))
    assert grasp.stage_reached["pickup"].tolist() == [T, F]
    assert grasp.stage_reached["contact"].tolist() == [T, F]


# --- box lift -----------------------------------------------------------------------------------
def test_box_lift_stages_need_both_hands(small_env):
    env = small_env("box_lift", num_envs=1)
    env.update_stages(_state(env, left=T, height=0.1))
    env.update_stages(_state(env, right=T, height=0.1))
    assert not env.stage_reached["contact"].any() and not env.stage_reached["pickup"].any()
    env.update_stages(_state(env, left=T, right=T, table=T, height=0.1))
    assert env.stage_reached["contact"].all() and not env.stage_reached["pickup"].any()
    env.update_stages(_state(env, left=T, right=T, height=0.04))
    assert not env.stage_reached["pickup"].any()
    env.update_stages(_state(env, left=T, right=T, height=0.05))
    assert env.stage_reached["pickup"].all()

    goal = env.goal.copy()
    assert env.update_stages(_state(env, left=T, right=T, object_pos=goal + [0, 0, 0.045])).tolist() == [T]
    assert env.update_stages(_state(env, left=T, right=T, object_pos=goal + [0, 0, 0.055])).tolist() == [F]
    assert env.update_stages(_state(env, left=T, object_pos=goal)).tolist() == [F]
    assert env.update_stages(_state(env, left=T, right=T, table=T, object_pos=goal)).tolist() == [F]


def test_box_lift_goal_is_above_the_resting_box(small_env):
    env = small_env("box_lift", num_envs=4)
    lift = env.goal[:, 2] - env.object_rest_z
    assert np.all((lift >= 0.12) & (lift <= 0.18))
    xy = env.goal[:, :2] - env.sim.object_pose()[:, :2]
    assert np.all(np.abs(xy) <= 0.03 + 1e-12)


# --- handover -----------------------------------------------------------------------------------
def _touch(env, a=F, b=F):
    """contact_left / contact_right flags for 'hand A touches' / 'hand B touches'."""
    hand_a = env.hand_a
    return {"left": np.where(hand_a == LEFT, a, b), "right": np.where(hand_a == RIGHT, a, b)}


@pytest.mark.parametrize("direction", ["right_to_left", "left_to_right"])
def test_handover_stages_happen_in_order(small_env, direction):
    env = small_env("handover", num_envs=1, directions=[direction])
    assert env.hand_a[0] == (RIGHT if direction == "right_to_left" else LEFT)
    mid, final = env.intermediate_goal.copy(), env.final_goal.copy()

    def step(**kw):
        pos = kw.pop("object_pos", None)
        table = kw.pop("table", F)
        return env.update_stages(_state(env, **_touch(env, **kw), table=table, object_pos=pos))[0]

    # Hand B first: does not count.
    step(b=T)
    assert env.stage[0] == 0 and not env.stage_reached["contact_b"].any()
    # The object at the intermediate goal before hand A touched it: does not count.
    step(object_pos=mid)
    assert env.stage[0] == 0
    step(a=T)
    assert env.stage[0] == 1 and env.stage_reached["contact_a"].all()
    # contact_b before intermediate does not count.
    step(a=T, b=T)
    assert env.stage[0] == 1 and not env.stage_reached["contact_b"].any()
    # Intermediate: within 5 cm of the intermediate goal, held by A, off the table.
    step(a=T, table=T, object_pos=mid)
    step(a=T, object_pos=mid + [0.0, 0.0, 0.06])
    step(b=T, object_pos=mid)
    assert env.stage[0] == 1 and not env.stage_reached["intermediate"].any()
    assert not step(a=T, object_pos=mid + [0.0, 0.0, 0.04])
    assert env.stage[0] == 2 and env.stage_reached["intermediate"].all()
    # Reaching the final goal without hand B is no success.
    assert not step(a=T, object_pos=final)
    assert env.stage[0] == 2
    assert not step(b=T)
    assert env.stage[0] == 3 and env.stage_reached["contact_b"].all()
    # Success condition: at the final goal, touched by B, off the table.
    assert not step(b=T, table=T, object_pos=final)
    assert not step(a=T, object_pos=final)
    assert not step(b=T, object_pos=final + [0.06, 0.0, 0.0])
    assert step(b=T, object_pos=final + [0.0, 0.04, 0.0])
    # Earlier stages stay reached; a reset clears them.
    assert all(env.stage_reached[s].all() for s in ("contact_a", "intermediate", "contact_b"))
    env.reset()
    assert env.stage[0] == 0 and not any(v.any() for v in env.stage_reached.values())


@pytest.mark.parametrize("handoff", ["switch", "continuous"])
def test_handover_hold_and_goal_track_follow_the_active_hand(small_env, handoff):
    """Before the intermediate goal, ``hold`` and ``goal_track`` pay while A holds. With the hard
    switch, from stage 2 on only while B holds; with the continuous handoff ``hold`` and ``lift``
    pay from stage 2 on while either hand holds the object up. Hand A carrying the object on to
    the final goal earns no goal tracking in either mode."""
    env = small_env("handover", num_envs=1, directions=["right_to_left"], stage_handoff=handoff)
    w = env.cfg.reward.hold_weight

    def terms(object_pos, **touch):
        st = _state(env, **_touch(env, **touch), height=0.1, object_pos=object_pos)
        st["fingertips"] = env.sim.fingertip_pos().copy()
        st["success_now"] = env.update_stages(st)
        return env.compute_rewards(st)

    mid, final = env.intermediate_goal.copy(), env.final_goal.copy()
    r = terms(mid + [0.0, 0.0, 0.2], a=T)
    assert env.stage[0] == 1 and r["hold"][0] == pytest.approx(w) and r["goal_track"][0] > 0
    assert terms(mid + [0.0, 0.0, 0.2], b=T)["hold"][0] == 0.0
    terms(mid, a=T)
    assert env.stage[0] == 2
    r = terms(final, a=T)
    assert r["goal_track"][0] == 0.0
    assert r["hold"][0] == (pytest.approx(w) if handoff == "continuous" else 0.0)
    assert r["lift"][0] == (pytest.approx(env.cfg.reward.lift_weight * 0.1) if handoff == "continuous" else 0.0)
    r = terms(final, b=T)
    assert env.stage[0] == 3
    assert r["hold"][0] == pytest.approx(w) and r["goal_track"][0] > 0
    r = terms(final, a=T)  # B has touched it; A alone holds it: no tracking, hold and lift as the mode says
    assert r["goal_track"][0] == 0.0
    if handoff == "continuous":
        assert r["hold"][0] == pytest.approx(w) and r["lift"][0] > 0
    else:
        assert r["hold"][0] == 0.0 and r["lift"][0] == 0.0


def test_handover_library_states_take_hand_a_from_the_object_side(small_env):
    """A library state's hand A is the hand on the object's side of the table, even with the other
    hand nearer the object; the goals follow it."""
    from dexmani_training.init_library import InitLibrary
    from dexmani_training.tasks.base import ready_pose

    q = ready_pose()
    lib = InitLibrary(np.stack([q, q]), np.array([[0.33, 0.05, 0.95, 1, 0, 0, 0], [0.33, -0.05, 0.95, 1, 0, 0, 0]], dtype=float))
    env = small_env("handover", num_envs=8, seed=3, init={"probability": 1.0}, init_library=lib)
    y = env.sim.object_pose()[:, 1]
    assert env.from_library.all() and (y > 0).any() and (y < 0).any()
    np.testing.assert_array_equal(env.hand_a, np.where(y > 0, LEFT, RIGHT))
    sign_a = np.where(y > 0, 1.0, -1.0)
    np.testing.assert_allclose(env.intermediate_goal[:, 1], sign_a * env.cfg.intermediate_abs_y_m)
    np.testing.assert_allclose(env.final_goal[:, 1], -sign_a * env.cfg.final_abs_y_m)


def test_handover_library_states_keep_their_recorded_hand_a(small_env):
    """A state recorded with its lead hand keeps that hand as A even with the object carried
    across the midline (a state from after hand B's touch); unknown lead hands fall back to the
    object's side."""
    from dexmani_training.init_library import InitLibrary
    from dexmani_training.tasks.base import ready_pose

    q = ready_pose()
    # Object on the left of the table in both; the first was begun by the right hand.
    lib = InitLibrary(np.stack([q, q]), np.array([[0.33, 0.1, 0.95, 1, 0, 0, 0]] * 2, dtype=float), lead_hand=[RIGHT, -1])
    env = small_env("handover", num_envs=16, seed=3, init={"probability": 1.0}, init_library=lib)
    recorded = env.library_lead_hand == RIGHT
    assert recorded.any() and (~recorded).any()
    np.testing.assert_array_equal(env.hand_a, np.where(recorded, RIGHT, LEFT))
    np.testing.assert_allclose(env.final_goal[recorded, 1], env.cfg.final_abs_y_m)  # B (left) side
    np.testing.assert_allclose(env.final_goal[~recorded, 1], -env.cfg.final_abs_y_m)
    np.testing.assert_array_equal(env.lead_hand(), env.hand_a)


def test_handover_library_states_resume_at_their_recorded_stage(small_env):
    """A state recorded after hand B's touch (3 stages reached) resumes there: the final goal is
    the goal, the first three stages count as reached, success must be earned again; a state
    recorded at stage 1 keeps the intermediate goal; an unknown stage starts from stage 0."""
    from dexmani_training.init_library import InitLibrary
    from dexmani_training.tasks.base import ready_pose

    q = ready_pose()
    pose = np.array([[0.33, 0.1, 0.95, 1, 0, 0, 0]] * 4, dtype=float)
    lib = InitLibrary(np.stack([q] * 4), pose, lead_hand=[RIGHT] * 4, stage=[3, 4, 1, -1])
    env = small_env("handover", num_envs=32, seed=5, init={"probability": 1.0}, init_library=lib)
    rec = env.library_stage
    assert set(rec.tolist()) == {3, 4, 1, -1}
    np.testing.assert_array_equal(env.stage, np.select([rec >= 3, rec == 1], [3, 1], 0))
    late = rec >= 3
    for name in ("contact_a", "intermediate", "contact_b"):
        np.testing.assert_array_equal(env.stage_reached[name], late | ((rec == 1) & (name == "contact_a")))
    assert not env.stage_reached["success"].any()
    np.testing.assert_allclose(env.goal[late], env.final_goal[late])
    np.testing.assert_allclose(env.goal[~late], env.intermediate_goal[~late])
    obj = env.sim.object_pose()[:, :3]
    np.testing.assert_allclose(env.goal_distance0, np.linalg.norm(obj - env.goal, axis=1))
    assert np.all(env.goal_carry[late] == 0.0)
    # The first step pays no stage bonus for the stages the recorded episode reached.
    import torch

    env.step(torch.zeros(env.num_envs, env.num_actions))
    assert env.episode_sums["stage_bonus"][late].max() == 0.0


def test_grasp_library_states_keep_their_recorded_hand(small_env):
    from dexmani_training.init_library import InitLibrary
    from dexmani_training.tasks.base import ready_pose

    q = ready_pose()
    # The object right in front of the right palm, recorded as grasped by the left hand.
    lib = InitLibrary(q[None], np.array([[0.33, -0.2, 0.9, 1, 0, 0, 0]]), lead_hand=[LEFT])
    env = small_env("grasp_and_reach", num_envs=2, init={"probability": 1.0}, init_library=lib)
    np.testing.assert_array_equal(env.active_side, [LEFT, LEFT])
    lib.lead_hand[:] = -1  # not known: the closer hand
    env = small_env("grasp_and_reach", num_envs=2, init={"probability": 1.0}, init_library=lib)
    np.testing.assert_array_equal(env.active_side, [RIGHT, RIGHT])


def test_handover_released_counts_success_with_hand_a_off_the_object(small_env):
    """``released`` (reported, not rewarded) needs the success condition for
    ``success_hold_steps`` consecutive steps with hand A not touching; with A still touching it
    stays False while success counts."""
    env = small_env("handover", num_envs=2, directions=["right_to_left"])
    env.stage[:] = 3
    pos = env.final_goal.copy()

    def step(touch_a):
        state = {"object_pos": pos, "contact_table": np.zeros(2, dtype=bool),
                 "contact_left": np.array([True, True]),  # hand B
                 "contact_right": np.array(touch_a)}  # hand A
        return env.update_stages(state)

    hold = env.cfg.success_hold_steps
    for k in range(hold):
        assert step([False, True]).all()  # success condition in both
        assert env.released.tolist() == [k == hold - 1, False]
    assert env.episode_record_extras(0)["released"] and not env.episode_record_extras(1)["released"]
    # A touching again breaks the streak but keeps what was reached; a reset clears it.
    step([True, True])
    assert env.release_streak.tolist() == [0, 0] and env.released[0]
    env.reset(np.array([0]))
    assert not env.released[0]


def test_handover_records_who_held_the_object_and_its_closest_approach(small_env):
    """``held_*_s`` count control steps with the object off the table by who touches it (A only,
    both, B only; on the table or untouched: none), in seconds; ``closest_final_m`` is the
    smallest distance to the final goal so far; a reset clears both."""
    env = small_env("handover", num_envs=2, directions=["right_to_left"])  # A: right, B: left

    def step(a, b, table=False, offset=0.3):
        pos = env.final_goal + np.array([0.0, 0.0, offset])
        env.update_stages({"object_pos": pos, "contact_table": np.full(2, table),
                           "contact_left": np.array(b), "contact_right": np.array(a)})

    step([T, T], [F, T])  # env 0: A only; env 1: both
    step([T, F], [T, T])  # env 0: both; env 1: B only
    step([F, F], [T, F], offset=0.1)  # env 0: B only, closer; env 1: untouched (not held)
    step([T, T], [F, F], table=True, offset=0.2)  # on the table: not held; farther: the minimum stays
    dt = env.dt_s
    rec = [env.episode_record_extras(i) for i in range(2)]
    assert [(r["held_a_only_s"], r["held_both_s"], r["held_b_only_s"]) for r in rec] == [
        pytest.approx((dt, dt, dt)), pytest.approx((0.0, dt, dt))]
    assert rec[0]["closest_final_m"] == pytest.approx(0.1) and rec[1]["closest_final_m"] == pytest.approx(0.1)
    assert set(env.episode_metrics) <= set(rec[0])
    env.reset(np.array([0]))
    assert env.held_steps.tolist() == [[0, 0, 0], [0, 1, 1]]  # env 1 keeps its count
    assert env.closest_final[0] == np.inf


def test_handover_records_where_the_closest_approach_was(small_env):
    """``closest_final_short_m`` is how far short of the final goal (towards the midline) the
    object was at its closest approach, in either direction; ``_dx_m`` and ``_dz_m`` the rest of
    the offset; a farther step later changes nothing; a reset clears it."""
    env = small_env("handover", num_envs=2, seed=1)
    env.hand_a[:] = [RIGHT, LEFT]  # B's side: +y in env 0, -y in env 1
    env.final_goal[:, 1] = [0.27, -0.27]
    towards_midline = np.array([-1.0, 1.0])

    def step(short, dx, dz):
        pos = env.final_goal.copy()
        pos[:, 0] += dx
        pos[:, 1] += towards_midline * short
        pos[:, 2] += dz
        env.update_stages({"object_pos": pos, "contact_table": np.zeros(2, dtype=bool),
                           "contact_left": np.ones(2, dtype=bool), "contact_right": np.ones(2, dtype=bool)})

    step(0.10, 0.0, 0.05)
    step(0.04, -0.02, 0.01)  # the closest
    step(-0.20, 0.0, 0.0)  # past the goal, farther
    for i in range(2):
        rec = env.episode_record_extras(i)
        assert rec["closest_final_short_m"] == pytest.approx(0.04)
        assert rec["closest_final_dx_m"] == pytest.approx(-0.02) and rec["closest_final_dz_m"] == pytest.approx(0.01)
    step(-0.03, 0.0, 0.0)  # closer, past the goal: negative
    assert env.episode_record_extras(1)["closest_final_short_m"] == pytest.approx(-0.03)
    assert set(env.episode_metrics) <= set(env.episode_record_extras(0))
    env.reset(np.array([0]))
    assert env.episode_record_extras(0)["closest_final_short_m"] == 0.0


def test_handover_goals_are_on_the_right_sides(small_env):
    env = small_env("handover", num_envs=4, seed=1)
    sign_a = np.where(env.hand_a == LEFT, 1.0, -1.0)
    obj = env.sim.object_pose()[:, :3]
    assert set(env.hand_a.tolist()) == {LEFT, RIGHT}  # both directions drawn
    assert np.all(np.sign(obj[:, 1]) == sign_a)  # the object starts on A's side
    np.testing.assert_allclose(env.intermediate_goal[:, 1], sign_a * 0.06)
    # The final goal mirrors the start region onto B's side (which A cannot reach).
    np.testing.assert_allclose(env.final_goal[:, 1], -sign_a * env.cfg.final_abs_y_m)
    lo, hi = env.cfg.object_abs_y_m
    assert lo <= env.cfg.final_abs_y_m <= hi
    np.testing.assert_allclose(env.goal, env.intermediate_goal)
    assert np.all(env.final_goal[:, 2] > env.object_rest_z + 0.1)


# --- the success streak (ManipulationEnv.step) ---------------------------------------------
def test_success_needs_success_hold_steps_consecutive_steps(small_env, monkeypatch):
    env = small_env("grasp_and_reach", num_envs=2, episode_length_s=0.6)  # 12 control steps
    hold = env.cfg.success_hold_steps
    assert hold == 5
    # Env 0: success condition from the first step on. Env 1: four steps, a break, then five.
    script = [[T, T], [T, T], [T, T], [T, T], [T, F], [T, T], [T, T], [T, T], [T, T], [T, T], [F, F], [F, F]]
    it = iter(script)
    original = env.update_stages

    def scripted(state):
        original(state)
        return np.array(next(it))

    monkeypatch.setattr(env, "update_stages", scripted)
    reached = []
    for _ in range(11):
        env.step(torch.zeros(2, env.num_actions))
        reached.append(env.stage_reached["success"].tolist())
    assert [r[0] for r in reached] == [F, F, F, F, T, T, T, T, T, T, T]
    assert [r[1] for r in reached] == [F] * 9 + [T, T]
    # The success bonus is paid per step while the condition holds (× dt like every term).
    bonus = env.cfg.reward.success_bonus * env.dt_s
    np.testing.assert_allclose(env.episode_sums["success"], [10 * bonus, 9 * bonus])
    # The 12th step times the episode out: its record says success, then the env is reset.
    env.step(torch.zeros(2, env.num_actions))
    records = env.drain_completed()
    assert [r["success"] for r in records] == [T, T]
    assert all(r["length"] == 12 for r in records)
    assert records[0]["return"] == pytest.approx(sum(records[0]["terms"].values()))
    assert records[0]["terms"]["success"] == pytest.approx(10 * bonus)
    assert not env.stage_reached["success"].any() and env.episode_length_buf.tolist() == [0, 0]
    assert env.drain_completed() == []


def test_handover_assisted_release_opens_hand_a_after_a_two_hand_hold(small_env):
    """With ``assist_release_probability`` 1, once both hands have held the object up for
    ``assist_release_after_s`` in a row, hand A's finger targets move towards open and its arm's
    towards the default pose, by at most one action's step, whatever the action asks (B's follow
    the action); before that, and with the aid off (no random draw then), A's follow the action
    too. A reset ends the assist."""
    from dexmani_training.tasks.base import hand_open_closed, side_joint_indices

    env = small_env("handover", num_envs=2, directions=["right_to_left"], assist_release_probability=1.0,
                    assist_release_after_s=2 * 0.05)  # two control steps
    a_fingers, b_fingers = side_joint_indices(RIGHT)[1], side_joint_indices(LEFT)[1]
    open_q, closed_q = hand_open_closed()
    close = np.sign(closed_q - open_q)  # relative actions that close every finger

    def hold(both):
        env.update_stages({"object_pos": env.sim.object_pose()[:, :3] + [0, 0, 0.2], "contact_table": np.zeros(2, bool),
                           "contact_left": np.array(both), "contact_right": np.array([T, T])})

    hold([T, F])
    assert not env.assist_active.any()
    before = env.targets.copy()
    t = env._actions_to_targets(np.broadcast_to(close, (2, close.size)).copy())
    assert (np.sign(t[:, a_fingers] - before[:, a_fingers]) * close[a_fingers] >= 0).all()  # A closes as asked
    hold([T, F])
    np.testing.assert_array_equal(env.assist_active, [T, F])  # env 0: two steps of both hands; env 1: none
    env.targets[:, a_fingers] = closed_q[a_fingers]  # A holding: its fingers closed (the ready pose has them open)
    a_arm = side_joint_indices(RIGHT)[0]
    env.targets[:, a_arm] = env.default_pose[a_arm] + 0.3  # and its arm away from its default pose
    t = env._actions_to_targets(np.broadcast_to(close, (2, close.size)).copy())
    step = env.cfg.action.hand_action_scale_rad
    moved = t[0, a_fingers] - env.targets[0, a_fingers]
    toward_open = np.sign(open_q[a_fingers] - env.targets[0, a_fingers])
    assert (moved * toward_open >= 0).all() and (np.abs(moved) <= step + 1e-12).all() and np.abs(moved).max() > 0
    assert (np.sign(t[0, b_fingers] - env.targets[0, b_fingers]) * close[b_fingers] >= 0).all()  # B as asked
    arm_step = env.cfg.action.arm_action_scale_rad  # A's arm draws back towards its default pose, B's is the policy's
    np.testing.assert_allclose(t[0, a_arm], env.default_pose[a_arm] + 0.3 - arm_step)
    np.testing.assert_allclose(t[1, a_arm], np.clip(env.default_pose[a_arm] + 0.3 + arm_step * close[a_arm],
                                                    env.lower[a_arm], env.upper[a_arm]))
    assert env.episode_record_extras(0)["assisted"] and not env.episode_record_extras(1)["assisted"]
    env.reset(np.array([0]))
    assert not env.assist_active[0] and env.assist_drawn.all()

    off = small_env("handover", num_envs=2, directions=["right_to_left"])
    state = off.rng.bit_generator.state
    off.reset()
    plain = small_env("handover", num_envs=2, directions=["right_to_left"])
    plain.reset()
    assert off.rng.bit_generator.state == plain.rng.bit_generator.state and state != off.rng.bit_generator.state
    assert not off.assist_drawn.any()


def test_handover_assisted_release_can_count_from_the_intermediate_goal(small_env):
    """``assist_release_trigger: stage_2``: A opens ``assist_release_after_s`` after stage 2,
    whether or not B touches the object (with ``both_hands`` nothing would start the clock)."""
    for trigger, expected in (("stage_2", [T, F]), ("both_hands", [F, F])):
        env = small_env("handover", num_envs=2, directions=["right_to_left"], assist_release_probability=1.0,
                        assist_release_after_s=2 * 0.05, assist_release_trigger=trigger)
        env.stage[:] = [2, 1]
        for _ in range(2):  # hand A alone holds the object up; B never touches it
            env.update_stages({"object_pos": env.sim.object_pose()[:, :3] + [0, 0, 0.2],
                               "contact_table": np.zeros(2, bool), "contact_left": np.zeros(2, bool),
                               "contact_right": np.ones(2, bool)})
        np.testing.assert_array_equal(env.assist_active, expected)


def test_handover_assisted_release_can_wait_for_hand_b_to_hold(small_env):
    """``assist_release_trigger: b_holds``: the clock counts steps in which B holds the object up
    at stage 3, without a break; a touch by B before stage 3 or a broken hold does not let A go."""
    env = small_env("handover", num_envs=3, directions=["right_to_left"], assist_release_probability=1.0,
                    assist_release_after_s=2 * 0.05, assist_release_trigger="b_holds")
    env.stage[:] = [3, 3, 1]

    def step(b_touch):  # A (right) and B (left) touch as given, the object 20 cm up
        env.update_stages({"object_pos": env.sim.object_pose()[:, :3] + [0, 0, 0.2], "contact_table": np.zeros(3, bool),
                           "contact_left": np.array(b_touch), "contact_right": np.ones(3, bool)})

    step([T, T, T])
    assert not env.assist_active.any()
    step([T, F, T])  # env 1's hold breaks
    np.testing.assert_array_equal(env.assist_active, [T, F, F])
    step([T, T, T])
    np.testing.assert_array_equal(env.assist_active, [T, F, F])  # env 1 starts over; env 2 is still at stage 1
    np.testing.assert_array_equal(env.stage, [3, 3, 1])
    step([T, T, T])
    np.testing.assert_array_equal(env.assist_active, [T, T, F])


def test_handover_assisted_release_is_a_training_aid_only(small_env):
    from dexmani_training.tasks import task_config

    cfg = task_config("handover", {"assist_release_probability": 0.5, "assist_release_after_s": 0.3})
    plain = cfg.without_training_aids()
    assert plain.assist_release_probability == 0.0 and plain.assist_release_after_s == 0.3
    assert task_config("grasp_and_reach").without_training_aids() == task_config("grasp_and_reach")
    assert cfg.training_aids_on() and not plain.training_aids_on() and not task_config("box_lift").training_aids_on()
    for bad in ({"assist_release_probability": 1.5}, {"assist_release_after_s": -0.1},
                {"assist_release_trigger": "whenever"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            task_config("handover", bad).validate()


def test_handover_assist_hold_a_keeps_hand_a_still_until_it_lets_go(small_env):
    """``assist_hold_a``: from the trigger (here stage 2) until the assisted release, hand A's arm
    and finger targets stay where they are whatever the action asks, while B's follow it; before
    the trigger A follows the action; at the release A opens as without the hold."""
    from dexmani_training.tasks.base import hand_open_closed, side_joint_indices

    env = small_env("handover", num_envs=2, directions=["right_to_left"], assist_release_probability=1.0,
                    assist_release_after_s=2 * 0.05, assist_release_trigger="stage_2", assist_hold_a=True)
    a_arm, a_fingers = side_joint_indices(RIGHT)
    b_arm = side_joint_indices(LEFT)[0]
    a_joints = np.concatenate([a_arm, a_fingers])
    open_q, closed_q = hand_open_closed()
    env.targets[:, a_fingers] = (open_q[a_fingers] + closed_q[a_fingers]) / 2  # half closed: room either way
    push = np.full((2, env.num_actions), 0.5)  # every joint asked to move
    env.stage[:] = [2, 1]
    t = env._actions_to_targets(push)
    np.testing.assert_array_equal(t[0, a_joints], env.targets[0, a_joints])  # A held (env 0, at stage 2) ...
    assert np.abs(t[1, a_joints] - env.targets[1, a_joints]).max() > 0  # ... not before the trigger (env 1)
    assert np.abs(t[0, b_arm] - env.targets[0, b_arm]).min() > 0  # B's arm follows the action
    for _ in range(2):
        env.update_stages({"object_pos": env.sim.object_pose()[:, :3] + [0, 0, 0.2], "contact_table": np.zeros(2, bool),
                           "contact_left": np.zeros(2, bool), "contact_right": np.ones(2, bool)})
    np.testing.assert_array_equal(env.assist_active, [T, F])
    t = env._actions_to_targets(push)
    moved = t[0, a_fingers] - env.targets[0, a_fingers]
    assert (moved * np.sign(open_q[a_fingers] - env.targets[0, a_fingers]) >= 0).all() and np.abs(moved).max() > 0
    with pytest.raises(ValueError, match="assist_hold_a .* needs assist_release_probability > 0"):
        small_env("handover", num_envs=1, assist_hold_a=True)


def test_handover_assist_as_actions_reports_the_actions_the_env_executed(small_env):
    """``assist_as_actions``: where the assist holds hand A still or lets it go, the step reports
    the actions that move the targets where the env put them, in the policy's frame (hand A is
    the right hand there, in either direction), and which joints the env chose (A's arm and
    fingers, only on rows with the assist on); replayed from the previous targets they give the
    env's targets for every joint."""
    from dexmani_training.tasks.base import hand_open_closed, side_joint_indices

    env = small_env("handover", num_envs=4, assist_release_probability=1.0, assist_release_after_s=2 * 0.05,
                    assist_release_trigger="stage_2", assist_hold_a=True, assist_as_actions=True)
    env.hand_a[:] = [RIGHT, LEFT, RIGHT, LEFT]  # envs 1 and 3 are seen mirrored
    env.stage[:] = [2, 2, 1, 1]  # the assist's trigger on envs 0 and 1 only
    open_q, closed_q = hand_open_closed()
    fingers = np.concatenate([side_joint_indices(s)[1] for s in (LEFT, RIGHT)])
    env.targets[:, fingers] = (open_q[fingers] + closed_q[fingers]) / 2  # half closed: room either way
    right = np.zeros(env.num_actions, bool)
    right[np.concatenate(side_joint_indices(RIGHT))] = True
    arm = env.arm_mask
    rng = np.random.default_rng(0)
    released = False
    for _ in range(4):
        previous = env.targets.copy()
        actions = rng.uniform(-1.5, 1.5, (4, env.num_actions))
        _, _, done, extras = env.step(torch.as_tensor(actions, dtype=torch.float32))
        assert not done.any()
        over, executed = extras["overridden"].numpy(), extras["executed_actions"].numpy()
        np.testing.assert_array_equal(over[:2], np.tile(right, (2, 1)))  # A's joints, in the policy's frame
        assert not over[2:].any()
        np.testing.assert_allclose(executed[~over], np.clip(actions, -1, 1)[~over], atol=1e-6)
        a_env = executed.astype(float)
        a_env[[1, 3]] = mirror_joints(a_env[[1, 3]])
        scale = np.where(arm, env.cfg.action.arm_action_scale_rad, env.cfg.action.hand_action_scale_rad)
        np.testing.assert_allclose(np.clip(previous + scale * a_env, env.lower, env.upper), env.targets, atol=1e-5)
        released |= env.assist_active[:2].all() and np.abs(executed[over]).max() > 0.5
    assert released  # the release phase (A opening, arm drawn back) was replayed, not just the hold
    # Held at a joint limit, the policy's own push into the limit is what the env executed: it
    # stays (holding a closed grip is not action 0); an action away from the limit is not.
    env = small_env("handover", num_envs=2, directions=["right_to_left"], assist_release_probability=1.0,
                    assist_release_trigger="stage_2", assist_hold_a=True, assist_as_actions=True)
    env.stage[:] = 2
    a_fingers = side_joint_indices(RIGHT)[1]
    env.targets[:, a_fingers] = closed_q[a_fingers]
    into = np.sign(closed_q[a_fingers] - open_q[a_fingers])
    actions = np.zeros((2, env.num_actions))
    actions[0, a_fingers] = 1.5 * into
    actions[1, a_fingers] = -0.5 * into
    executed = env.step(torch.as_tensor(actions, dtype=torch.float32))[3]["executed_actions"].numpy()
    np.testing.assert_allclose(executed[0, a_fingers], into)
    np.testing.assert_allclose(executed[1, a_fingers], 0.0, atol=1e-6)
    np.testing.assert_allclose(env.targets[:, a_fingers], np.tile(closed_q[a_fingers], (2, 1)))
    plain = small_env("handover", num_envs=1, assist_release_probability=1.0)
    assert "executed_actions" not in plain.step(torch.zeros(1, plain.num_actions))[3]
    with pytest.raises(ValueError, match="assist_as_actions .* needs assist_release_probability > 0"):
        small_env("handover", num_envs=1, assist_as_actions=True)
    assert env.cfg.without_training_aids().assist_as_actions is False


@pytest.mark.parametrize("resets", ["library", "nominal"])
def test_handover_assist_can_be_drawn_for_library_or_nominal_resets_only(small_env, resets):
    """``assist_release_resets``: the assist is drawn only for init-library resets (B's drill next
    to whole handovers) or only for nominal ones; a bad choice is refused."""
    env = small_env("handover", num_envs=16, objects="bar_5x18x5cm", assist_release_probability=1.0,
                    assist_release_resets=resets, init={"use_library": True, "library": "handover_bar", "probability": 0.5})
    assert 0 < env.from_library.sum() < 16
    np.testing.assert_array_equal(env.assist_drawn, env.from_library if resets == "library" else ~env.from_library)
    from dexmani_training.tasks import task_config

    with pytest.raises(ValueError, match="assist_release_resets must be one of"):
        task_config("handover", {"assist_release_resets": "some"}).validate()
