"""Where the hands hold the bar in handover's two-hand holds, whether a release can follow from
there, and how far along y both hands can hold the bar by their own ends.

    python benchmarks/handover_holds.py --holds fd6=own.npz scripted=handover_bar \
        --reach --out benchmarks/results/handover_holds.json

``--holds NAME=LIBRARY`` (a file or a shipped library's name; make one from a policy's own holds
with ``dexmani init record --task handover --policy CKPT --stochastic --stage contact_b``): of up
to ``--states`` states past hand B's touch, those in which both hands touch the object off the
table; for them, each hand's contact term on its own stickers (``contact_a``, ``contact_b``:
10th, 50th and 90th percentile) and its fingertip centre along the object's long axis, in metres
from the object's centre, + towards B's end (the bar's ends are at ±0.09 m). Then, from up to
``--releases`` of them, the scripted release (``dexmani init record --release``: B closes, A
opens and draws back, B carries the object to the final goal): how many succeed, and at which
phase the object fell in those that did not (``fell_in``; below 2 cm above its rest at the
phase's end; ``held_but_missed_the_goal``: up to the end, but not within 5 cm of the goal).
In the world: ``axis_to_b_y``, the y of the bar's unit axis towards B's end (+1: B's end points
at B's side of the table, −1: the bar turned end for end), and ``a_y_m``, ``b_y_m``, each hand's
fingertip centre in y from the object's centre, + towards B's side: a hand on the far side of
the object from its own table half has reached across.

``--reach``: the scripted end grasps (``HandoffScript``: each hand's fingertip centre 6.5 cm
from the bar's centre, the roll that suits the midline) placed with damped least-squares IK for
both arms, with the bar's centre at x 0.33 m, 12 cm above its rest (the final goal's height),
level, its long axis along y, and its centre at y from the midline (0) out to the final goal
(0.27 m, on B's side). Per y, the share of ``--grasps`` grasps both arms reach within the
scripted handoffs' tolerances (1 cm, 0.1 rad).

Everything runs on one core without a policy; the JSON goes to stdout and to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dexmani_training.bench import named_items, print_json
from dexmani_training.handoff import HandoffScript, as_right_handed, quat_to_mat
from dexmani_training.init_library import InitLibrary, load_task_library
from dexmani_training.tasks import task_config
from dexmani_training.tasks.base import LEFT, RIGHT

OBJECT = "bar_5x18x5cm"
PHASES = ("close", "both", "open", "away", "carry", "hold")


def _bar_env(num_envs: int):
    """A handover env on the bar with the bar config's sticker patterns (A: right_end, B:
    left_end), for its contact terms."""
    from dexmani_training.tasks import make_env

    cfg = task_config("handover", {"objects": OBJECT, "sticker_pattern_a": "right_end",
                                   "sticker_pattern_b": "left_end", "num_envs": num_envs})
    env = make_env(cfg, seed=0, num_threads=1)
    env.hand_a[:] = RIGHT  # states are taken as right-to-left (A the right hand), mirrored if not
    return env


def two_hand_holds(lib: InitLibrary, states: int, seed: int = 0):
    """Up to ``states`` of ``lib``'s states past B's touch with a known lead hand, as right-hand-
    lead states: (joint positions, object poses) of those in which both hands hold the object
    off the table, and the number looked at."""
    past = np.flatnonzero((lib.lead_hand >= 0) & ((lib.stage < 0) | (lib.stage >= 3)))
    picked = np.random.default_rng(seed).permutation(past)[:states]
    if picked.size == 0:
        raise ValueError("the library has no state with a known lead hand past hand B's touch")
    qs, poses = map(np.array, zip(*(as_right_handed(lib, int(k)) for k in picked)))
    env = _bar_env(len(picked))
    env.sim.reset(joint_pos=qs, object_pose=poses)
    t = env.sim.contacts()
    both = t[:, LEFT] & t[:, RIGHT] & ~t[:, 2]
    return qs[both], poses[both], int(picked.size)


def hold_geometry(qs: np.ndarray, poses: np.ndarray) -> dict:
    """Contact terms and fingertip centres along the long axis of two-hand holds (right-hand
    lead)."""
    env = _bar_env(len(qs))
    env.sim.reset(joint_pos=qs, object_pose=poses)
    tips = env.sim.fingertip_pos()
    contact_a, contact_b = env._contact_terms(tips)
    axis = env.long_axis_world(poses[:, 3:])  # + towards the bar's left end, B's (A is the right hand)
    along = {h: np.einsum("nj,nj->n", tips[:, side].mean(axis=1) - poses[:, :3], axis)
             for h, side in (("a", RIGHT), ("b", LEFT))}
    across = {h: tips[:, side, :, 1].mean(axis=1) - poses[:, 1] for h, side in (("a", RIGHT), ("b", LEFT))}
    pct = lambda x: [round(float(v), 3) for v in np.percentile(x, [10, 50, 90])]
    return {"contact_a": pct(contact_a), "contact_b": pct(contact_b),
            "a_along_m": pct(along["a"]), "b_along_m": pct(along["b"]),
            "axis_to_b_y": pct(axis[:, 1]), "a_y_m": pct(across["a"]), "b_y_m": pct(across["b"])}


def releases(script: HandoffScript, qs: np.ndarray, poses: np.ndarray, n: int) -> dict:
    """Scripted releases from up to ``n`` two-hand holds: successes, and the phase in which the
    object fell in the others."""
    c = script.cfg
    ends = np.cumsum([c.close_steps, c.both_steps, c.open_steps, c.away_steps, c.carry_steps, c.hold_steps])
    fell = dict.fromkeys(PHASES, 0)
    out = {"tried": 0, "succeeded": 0, "held_but_missed_the_goal": 0}
    for q, pose in zip(qs[:n], poses[:n]):
        res = script.release(q, pose)
        if isinstance(res, str):
            continue
        out["tried"] += 1
        _, traj, _, info = res
        if info["success"]:
            out["succeeded"] += 1
            continue
        height = traj[:, 2] - script.rest_z
        down = [p for p, e in zip(PHASES, ends) if height[min(e, len(height)) - 1] < 0.02]
        if down:
            fell[down[0]] += 1
        else:
            out["held_but_missed_the_goal"] += 1
    out["fell_in"] = fell
    return out


def reach(script: HandoffScript, lib: InitLibrary, grasps: int, ys: np.ndarray) -> dict:
    """Per y of the bar's centre, the share of ``grasps`` scripted end grasps that both arms reach."""
    c = script.cfg
    pool = np.random.default_rng(0).permutation(np.flatnonzero(lib.stage <= 1))[:50 * grasps]
    sub = lib.rows(pool)
    templates = script.templates(sub)[:grasps]
    if not templates:
        raise ValueError("no one-hand grasp in the library to make end grasps from")
    ok = np.zeros((len(templates), len(ys)), dtype=bool)
    for i, t in enumerate(templates):
        script.choose_roll(t)
        r_obj = script.object_rotation(t.roll_rad)
        for j, y in enumerate(ys):
            centre = np.array([0.33, y, script.rest_z + script.task_cfg.final_height_m])
            guess, _, _ = script.symmetric_guess(t, np.array([centre[0], 0.0, centre[2]]), r_obj)
            _, ep, er = script.both_hands(t, centre, r_obj, guess)
            ok[i, j] = ep <= c.max_ik_position_error_m and er <= c.max_ik_rotation_error_rad
    return {"grasps": len(templates), "x_m": 0.33, "above_rest_m": script.task_cfg.final_height_m,
            "both_reach_share_by_y_m": {f"{y:.2f}": float(ok[:, j].mean()) for j, y in enumerate(ys)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--holds", nargs="*", default=[], metavar="NAME=LIBRARY")
    p.add_argument("--states", type=int, default=512, help="states past B's touch looked at per library")
    p.add_argument("--releases", type=int, default=200, help="scripted releases tried per library")
    p.add_argument("--reach", action="store_true")
    p.add_argument("--grasps", type=int, default=40, help="scripted end grasps for --reach")
    p.add_argument("--reach-library", default="handover_bar", help="one-hand grasps of the bar for --reach")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if not args.holds and not args.reach:
        p.error("nothing to do: give --holds NAME=LIBRARY and/or --reach")
    script = HandoffScript(OBJECT, task_config("handover"))
    out = {"command": "python benchmarks/handover_holds.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "object": OBJECT, "holds": {}}
    for name, path in named_items(args.holds, p, "LIBRARY"):
        lib = load_task_library("handover", path)
        qs, poses, looked = two_hand_holds(lib, args.states)
        row = {"library": path, "states_looked_at": looked, "two_hand_holds": int(len(qs))}
        if len(qs):
            row.update(hold_geometry(qs, poses))
            row["scripted_release"] = releases(script, qs, poses, args.releases)
        out["holds"][name] = row
    if args.reach:
        lib = load_task_library("handover", args.reach_library)
        out["reach"] = reach(script, lib, args.grasps, np.round(np.arange(0.0, 0.28, 0.03), 2))
    print_json(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
