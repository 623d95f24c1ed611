"""Scripted handoffs (``dexmani_training.handoff``): the mirrored grasp, the arm IK, and a library
of labelled states from completed handoffs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dexmani_training.cli import main
from dexmani_training.handoff import (
    ArmIK,
    HandoffConfig,
    HandoffScript,
    _rotation_between,
    hand_b_frontier,
    library_from_handoffs,
    library_from_releases,
    long_axis,
    quat_to_mat,
    reflect_grasp,
    rotation,
)
from dexmani_training.init_library import DATA_DIR, InitLibrary, InitLibraryError
from gr1_sim.objects import get_object
from gr1_sim.scene import scene_config
from dexmani_training.symmetry import mirror_joints
from dexmani_training.tasks import task_config
from dexmani_training.tasks.base import LEFT, RIGHT, ready_pose

BAR = "bar_5x18x5cm"


@pytest.fixture(scope="module")
def script():
    return HandoffScript(BAR, task_config("handover"))


@pytest.fixture(scope="module")
def grasp_library():
    """The shipped bar library: its first part holds the grasp specialist's one-hand grasps."""
    return DATA_DIR / "handover_bar.npz"


@pytest.fixture(scope="module")
def handoffs(grasp_library):
    return library_from_handoffs(grasp_library, object_name=BAR, episodes=8, seed=0)


def test_long_axis_of_elongated_objects_and_refusals():
    axis, half = long_axis(BAR)
    assert np.array_equal(axis, [0.0, 1.0, 0.0]) and np.isclose(half, 0.09)
    axis, half = long_axis("cylinder_r3_h10cm")
    assert np.array_equal(axis, [0.0, 0.0, 1.0]) and np.isclose(half, 0.05)
    for name in ("cube_5cm", "sphere_r3cm"):
        with pytest.raises(ValueError, match="elongated"):
            long_axis(name)


def test_an_end_offset_beyond_the_object_is_refused():
    with pytest.raises(ValueError, match="half length"):
        HandoffScript("cylinder_r3_h10cm", task_config("handover"))  # 5 cm half length < 6.5 cm
    with pytest.raises(ValueError, match="half length"):
        HandoffScript(BAR, task_config("handover"), HandoffConfig(end_offset_m=0.1))


@pytest.mark.parametrize(("u", "v"), [((0, 0, 1), (0, 1, 0)), ((0, 1, 0), (0, 1, 0)), ((0, 1, 0), (0, -1, 0)),
                                      ((1, 0, 0), (0, 0.6, 0.8))])
def test_rotation_between_takes_u_to_v(u, v):
    r = _rotation_between(np.array(u, float), np.array(v, float))
    assert np.allclose(r @ np.array(u, float), v) and np.isclose(np.linalg.det(r), 1.0) and np.allclose(r @ r.T, np.eye(3))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_rotation_is_right_handed(axis):
    r = rotation(axis, np.pi / 2)
    u = np.eye(3)[(axis + 1) % 3]
    assert np.allclose(r @ u, np.eye(3)[(axis + 2) % 3])  # x→y about z, y→z about x, z→x about y
    assert np.isclose(np.linalg.det(r), 1.0)


@pytest.mark.parametrize("roll", [0.0, 0.4, -1.1])
def test_reflected_right_hand_grasp_is_the_left_hand_s_pose(script, roll):
    """At the mirror-symmetric default pose, with the object centred on the midline and its long
    axis across it, the right hand's pose relative to the object, reflected, is the left hand's."""
    q = ready_pose()
    r_obj = script.object_rotation(roll)
    centre = np.array([0.32, 0.0, 1.0])
    rel = {}
    for side in (LEFT, RIGHT):
        p, r = script.ik.hand_pose(q, side)
        rel[side] = (r_obj.T @ (p - centre), r_obj.T @ r)
    p_b, r_b = reflect_grasp(*rel[RIGHT], script.axis)
    assert np.allclose(p_b, rel[LEFT][0], atol=1e-3)  # the model's two arms differ by ~0.2 mm
    assert np.allclose(r_b, rel[LEFT][1], atol=1e-6)
    assert np.isclose(np.linalg.det(r_b), 1.0)
    # and not merely because the hands are placed anyhow: the unreflected pose is far off
    assert not np.allclose(rel[RIGHT][0], rel[LEFT][0], atol=1e-2)


def test_arm_ik_reaches_a_reachable_pose_and_moves_only_that_arm(script):
    ik: ArmIK = script.ik
    rng = np.random.default_rng(3)
    goal_q = ready_pose()
    goal_q[ik.arm_idx[LEFT]] += rng.uniform(-0.3, 0.3, 7)
    p, r = ik.hand_pose(goal_q, LEFT)
    start = ready_pose()
    q, ep, er = ik.solve(start, LEFT, p, r)
    assert ep < 1e-3 and er < 1e-2
    p2, r2 = ik.hand_pose(q, LEFT)
    assert np.linalg.norm(p2 - p) < 1e-3
    others = np.setdiff1d(np.arange(q.size), ik.arm_idx[LEFT])
    assert np.array_equal(q[others], start[others])
    far, ep_far, _ = ik.solve(start, LEFT, p + np.array([0.0, 0.0, 2.0]), r, iters=50)  # out of reach
    assert ep_far > 0.5


def test_templates_are_right_hand_one_hand_grasps_slid_to_a_s_end(script, grasp_library):
    lib = InitLibrary.load(grasp_library)
    first = lib.rows(slice(0, 200))
    templates = script.templates(first)
    assert 0 < len(templates) <= 200
    assert {int(k) for k in first.lead_hand} == {LEFT, RIGHT}  # both hands' grasps fed in
    for t in templates[:20]:
        # fingertip centre at -end_offset along the long axis: check through forward kinematics
        centre = np.array([0.32, -0.03, 1.0])
        r_obj = script.object_rotation(0.0)
        q = ready_pose()
        q[script.ik.arm_idx[RIGHT]] = t.arm_q
        q, ep, _ = script.ik.solve(q, RIGHT, centre + r_obj @ t.p_rel, r_obj @ t.r_rel)
        if ep > 1e-3:
            continue
        q[script.ik.hand_idx[RIGHT]] = t.hand_q
        script.sim.reset(joint_pos=q[None], object_pose=np.concatenate([centre, [1.0, 0, 0, 0]])[None])
        tips = script.sim.fingertip_pos()[0, RIGHT].mean(axis=0)
        assert abs((r_obj.T @ (tips - centre)) @ script.axis + script.cfg.end_offset_m) < 2e-3


def test_handoffs_make_labelled_states_of_completed_handovers(handoffs):
    lib = handoffs
    src = lib.meta["source"]
    assert src["kind"] == "handoff" and src["kept"] >= 1
    assert src["kept"] + src["failed"] + src["no_ik"] + src["dropped_by_a"] == 8
    n = len(lib) // 2
    # right-to-left states, then their mirror images
    assert np.all(lib.lead_hand[:n] == RIGHT) and np.all(lib.lead_hand[n:] == LEFT)
    assert np.allclose(lib.joint_pos[n:], mirror_joints(lib.joint_pos[:n]))
    assert set(np.unique(lib.stage)) == {2, 3}
    cfg = task_config("handover")
    rest = scene_config(cfg.scene).table_height_m + get_object(BAR).half_height_m()
    pos = lib.object_pose[:n, :3]
    per = len(pos) // src["kept"]
    for k in range(src["kept"]):
        seg, stages = pos[k * per:(k + 1) * per], lib.stage[k * per:(k + 1) * per]
        assert stages[0] == 2 and stages[-1] == 3 and np.all(np.diff(stages) >= 0)  # B touches once, for good
        assert seg[0, 1] <= 0.0  # starts on A's (the right hand's, −y) side
        goal = np.array([seg[0, 0], cfg.final_abs_y_m, rest + cfg.final_height_m])
        assert np.linalg.norm(seg[-1] - goal) < 0.08  # ends at the final goal, B's side
        assert seg[-1, 2] > rest + 0.05  # held up
        # the object is never on the table in between
        assert np.all(seg[:, 2] > rest + 0.03)


def test_an_env_resets_from_handoff_states_at_their_stage(small_env, handoffs):
    env = small_env("handover", num_envs=8, init_library=handoffs, objects=BAR, init={"probability": 1.0})
    env.reset()
    assert np.all(env.stage >= 2)
    assert np.allclose(env.goal, env.final_goal)


def _both_holding(script, lib):
    """Indices of ``lib``'s right-to-left states in which both hands touch the object, off the table."""
    out = []
    for k in np.flatnonzero((lib.lead_hand == RIGHT) & (lib.stage == 3)):
        script.sim.reset(joint_pos=lib.joint_pos[k][None], object_pose=lib.object_pose[k][None])
        touch = script.sim.contacts()[0]
        if touch[LEFT] and touch[RIGHT] and not touch[2]:
            out.append(int(k))
    return out


def test_release_from_a_both_holding_state_ends_with_b_alone_at_the_final_goal(script, handoffs):
    both = _both_holding(script, handoffs)
    assert both, "the scripted handoffs hold states of both hands on the bar"
    k = both[0]
    q, pose, stages, res = script.release(handoffs.joint_pos[k], handoffs.object_pose[k])
    assert res["success"] and res["final_distance_m"] <= script.cfg.success_distance_m
    assert np.all(stages == 3)  # B has touched before the first step
    cfg = task_config("handover")
    assert pose[-1, 1] == pytest.approx(cfg.final_abs_y_m, abs=0.05) and pose[-1, 0] == pytest.approx(
        handoffs.object_pose[k, 0], abs=0.05)  # the final goal keeps the start's x
    script.sim.reset(joint_pos=q[-1][None], object_pose=pose[-1][None])
    touch = script.sim.contacts()[0]
    assert touch[LEFT] and not touch[RIGHT] and not touch[2]  # B (left) alone
    # a state of A alone is no start for a release
    one = int(np.flatnonzero((handoffs.lead_hand == RIGHT) & (handoffs.stage == 2))[0])
    assert script.release(handoffs.joint_pos[one], handoffs.object_pose[one]) == "not_both_holding"


def test_releases_make_a_library_of_stage_3_states_in_both_directions(script, handoffs, tmp_path):
    both = _both_holding(script, handoffs)[:3]
    carried = [int(np.flatnonzero((handoffs.lead_hand == RIGHT) & (handoffs.stage == 3))[-1])]  # B alone
    rows = np.array(both + carried)
    handoffs.rows(rows).save(tmp_path / "h.npz")
    lib = library_from_releases(tmp_path / "h.npz", episodes=10, seed=2)
    src = lib.meta["source"]
    assert src["kind"] == "release" and lib.meta["object"] == BAR
    assert src["episodes"] == len(rows)  # at most every state once
    assert src["kept"] + src["failed"] == len(both) and src["not_both_holding"] == 1 and src["kept"] >= 1
    n = len(lib) // 2
    assert n > 0 and np.all(lib.stage == 3)
    assert np.all(lib.lead_hand[:n] == RIGHT) and np.all(lib.lead_hand[n:] == LEFT)
    assert np.allclose(lib.joint_pos[n:], mirror_joints(lib.joint_pos[:n]))
    # a library whose states are all before B's touch, or of unknown lead hands, is refused
    early = InitLibrary(handoffs.joint_pos[:20], handoffs.object_pose[:20], handoffs.meta, handoffs.lead_hand[:20],
                        np.full(20, 2))
    early.save(tmp_path / "early.npz")
    with pytest.raises(InitLibraryError, match="past hand B's touch"):
        library_from_releases(tmp_path / "early.npz", episodes=1)
    InitLibrary(handoffs.joint_pos[:20], handoffs.object_pose[:20], handoffs.meta).save(tmp_path / "nolead.npz")
    with pytest.raises(InitLibraryError, match="lead hand"):
        library_from_releases(tmp_path / "nolead.npz", episodes=1)
    with pytest.raises(ValueError, match="handover"):
        library_from_releases(tmp_path / "h.npz", task="box_lift", episodes=1)
    last = rows[-1:]  # B alone: nothing to release
    InitLibrary(handoffs.joint_pos[last], handoffs.object_pose[last], handoffs.meta, handoffs.lead_hand[last],
                handoffs.stage[last]).save(tmp_path / "alone.npz")
    with pytest.raises(InitLibraryError, match="no scripted handoff succeeded"):
        library_from_releases(tmp_path / "alone.npz", episodes=1)


def test_handoff_errors(grasp_library, tmp_path):
    with pytest.raises(ValueError, match="handover"):
        library_from_handoffs(grasp_library, task="grasp_and_reach", object_name=BAR, episodes=1)
    with pytest.raises(ValueError, match="elongated"):
        library_from_handoffs(grasp_library, object_name="cube_5cm", episodes=1)
    with pytest.raises(FileNotFoundError):
        library_from_handoffs(tmp_path / "none.npz", object_name=BAR, episodes=1)
    with pytest.raises(InitLibraryError, match="holds bar_5x18x5cm states"):
        library_from_handoffs(grasp_library, object_name="box_36x20x16cm", episodes=1)
    src = InitLibrary.load(grasp_library)
    unknown = InitLibrary(src.joint_pos[:50], src.object_pose[:50], src.meta)  # lead hands not known
    unknown.save(tmp_path / "nolead.npz")
    with pytest.raises(InitLibraryError, match="lead hand"):
        library_from_handoffs(tmp_path / "nolead.npz", object_name=BAR, episodes=1)


def test_cli_init_record_handoff(grasp_library, tmp_path, capsys):
    out = tmp_path / "h.npz"
    assert main(["init", "record", "--task", "handover", "--handoff", str(grasp_library), "--object", BAR,
                 "--episodes", "8", "--out", str(out)]) == 0
    lib = InitLibrary.load(out)
    assert len(lib) > 0 and lib.meta["object"] == BAR
    assert main(["init", "record", "--task", "handover", "--handoff", str(grasp_library), "--object", BAR,
                 "--mirror", "--out", str(tmp_path / "m.npz")]) == 2
    assert "both directions" in capsys.readouterr().err
    rel = tmp_path / "r.npz"
    assert main(["init", "record", "--task", "handover", "--release", str(out), "--episodes", "1000", "--seed", "1",
                 "--out", str(rel)]) == 0
    assert InitLibrary.load(rel).meta["source"]["kind"] == "release"
    assert main(["init", "record", "--task", "handover", "--release", str(out), "--mirror",
                 "--out", str(tmp_path / "m2.npz")]) == 2
    assert "--release already makes both directions" in capsys.readouterr().err


def test_hand_b_frontier_keeps_b_about_to_grasp_and_two_hand_holds(tmp_path, capsys):
    """Stage-2 states are kept when B's fingertips are within the distance of its stickers (all
    of them with a huge distance, none with zero), stage-3 states when A still touches the object
    (whatever the distance: some, not all, of a run of handoff steps), states of unknown stage
    never; only handover has the notion."""
    from pathlib import Path

    from dexmani_training.rl.train import make_task_config

    full = InitLibrary.load(DATA_DIR / "handover_bar.npz")
    rows = np.concatenate([np.flatnonzero(full.stage == -1)[:10], np.flatnonzero(full.stage == 2)[:60],
                           np.flatnonzero(full.stage == 3)[:120]])
    lib = InitLibrary(full.joint_pos[rows], full.object_pose[rows], full.meta, full.lead_hand[rows], full.stage[rows])
    cfg = make_task_config("handover", Path(__file__).resolve().parents[2] / "config" / "handover_bar.yaml", {})
    everything, nothing, near = (hand_b_frontier(lib, cfg, d, num_envs=64) for d in (10.0, 0.0, 0.10))
    assert (everything.stage == 2).sum() == 60 and (nothing.stage == 2).sum() == 0
    assert 0 < (near.stage == 2).sum() < 60
    assert not (everything.stage == -1).any()
    three = [(x.stage == 3).sum() for x in (everything, nothing, near)]
    assert three[0] == three[1] == three[2] and 0 < three[0] < 120
    assert near.meta["hand_b_frontier"] == {"b_within_m": 0.10, "from_states": 190, "stage_2": int((near.stage == 2).sum()),
                                            "stage_3": three[0]}
    with pytest.raises(ValueError, match="handover notion"):
        hand_b_frontier(lib, task_config("grasp_and_reach"))
    with pytest.raises(ValueError, match="the library's states hold 'bar_5x18x5cm' but the config's object is 'cylinder"):
        hand_b_frontier(lib, task_config("handover"))
    path = lib.save(tmp_path / "lib.npz")
    assert main(["init", "frontier", str(path), "--config", str(Path(__file__).resolve().parents[2] / "config" / "handover_bar.yaml"),
                 "--out", str(tmp_path / "f.npz")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["states"] == len(near) == len(InitLibrary.load(tmp_path / "f.npz"))
    assert main(["init", "frontier", str(path), "--out", str(tmp_path / "f.npz")]) == 2  # exists without --force


def test_handover_holds_benchmark_tells_end_grasps_from_crossed_hands(tmp_path, capsys):
    """benchmarks/handover_holds.py: in the shipped scripted handoffs' two-hand holds each hand
    is on its own end (A's fingertip centre on A's half, B's on B's, both contact terms high) and
    a scripted release succeeds; the same holds with the bar turned end for end read as crossed
    (A on B's end); no end grasp reaches the final goal with both arms."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import handover_holds as hh

    lib = InitLibrary.load(DATA_DIR / "handover_bar.npz")
    qs, poses, looked = hh.two_hand_holds(lib, 200)
    assert looked == 200 and 0 < len(qs) < looked  # most scripted states are B alone carrying
    g = hh.hold_geometry(qs, poses)
    assert g["a_along_m"][2] < 0.0 < g["b_along_m"][0]  # A on its half, B on its own (90th / 10th percentile)
    assert g["contact_a"][1] > 1.5 and g["contact_b"][1] > 1.5
    assert g["axis_to_b_y"][0] > 0.7  # mostly along y, B's end towards B
    assert g["a_y_m"][2] < 0.0 < g["b_y_m"][0]  # each hand on its own side of the centre, in the world
    # The same holds with the bar turned half a turn about the vertical (the same shape, so the
    # same contacts): now its end with A's stickers is where B's hand is, the hands read crossed.
    w, x, y, z = poses[:, 3:].T
    turned = np.concatenate([poses[:, :3], np.stack([-z, -y, x, w], axis=1)], axis=1)  # q_z(π) ⊗ q
    gx = hh.hold_geometry(qs, turned)
    assert gx["a_along_m"][1] > 0.0 > gx["b_along_m"][1]
    assert gx["contact_a"][1] < 1.0 and gx["contact_b"][1] < 1.0
    assert gx["axis_to_b_y"][2] < -0.7  # turned end for end: B's end points at A's side
    assert gx["a_y_m"] == g["a_y_m"] and gx["b_y_m"] == g["b_y_m"]  # the hands did not move
    out = tmp_path / "holds.json"
    assert hh.main(["--holds", "scripted=handover_bar", "--states", "200", "--releases", "2", "--reach",
                    "--grasps", "1", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    rel = d["holds"]["scripted"]["scripted_release"]
    assert rel["tried"] == 2 and rel["succeeded"] + rel["held_but_missed_the_goal"] + sum(rel["fell_in"].values()) == 2
    assert rel["succeeded"] >= 1
    shares = d["reach"]["both_reach_share_by_y_m"]
    assert shares["0.27"] == 0.0 and set(shares) >= {"0.00", "0.27"}
    with pytest.raises(SystemExit):
        hh.main([])  # nothing to do
    capsys.readouterr()
