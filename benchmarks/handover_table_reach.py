"""Which end of the bar hand A can take from the table, and which hand-to-hand layouts both arms
reach: the kinematics behind handover's sticker layouts on the bar.

    python benchmarks/handover_table_reach.py --out benchmarks/results/handover_table_reach.json

The grasps are the grasp specialist's own one-hand grasps of the bar (the shipped ``handover_bar``
library's states before the intermediate goal in which one hand alone holds the bar up), each as
a right-hand grasp (hand base pose and the fingertip centre in the bar's frame), slid along the
bar's long axis until the fingertip centre sits ``--end-offset`` (6.5 cm) from the bar's centre,
and turned by each of the bar's eight symmetries (about its long axis by 0/90/180/270°, and end
for end; the bar's cross-section is square), so the same physical grasp can sit on either end.

``table``: the bar lying on the table along y, its centre at each of the task's nominal
placements on hand A's side (x 0.30/0.33/0.36 m, |y| 0.24/0.27/0.30 m). Per placement, the
share of grasps with which the right arm (hand A in a right-to-left episode) reaches the grasp
on the bar's *far end* (away from the midline; A's own end in ``config/handover_bar.yaml``,
``sticker_pattern_a: right_end``) and on its *near end* (towards the midline; A's end in the
crossed layout, ``sticker_pattern_a: left_end``), each under some symmetry that keeps the hand
above the bar's centre, within the scripted handoffs' IK tolerances (1 cm, 0.1 rad; damped
least squares on the hand base from the default pose).

``handoff``: with the bar lifted to the intermediate goal's height (15 cm above its rest, x 0.33
m) and its centre at y from −0.06 m (the intermediate goal, A's side) to +0.06 m (B's side),
for the grasps that reach the near end on the table: the share for which A also reaches its
grasp there and B reaches A's grasp mirrored onto the other end, over turns of the bar of up to
40° in yaw and roll and 20° in pitch (the grasp's own orientation kept relative to the bar). In
the crossed layout B takes the bar's far end, which the carry brings to the midline.

Kinematics only (no contacts, no physics); one core, a few minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from dexmani_training.bench import print_json
from dexmani_training.handoff import HandoffConfig, HandoffScript, reflect_grasp, rotation
from dexmani_training.init_library import load_task_library
from dexmani_training.tasks import task_config
from dexmani_training.tasks.base import LEFT, RIGHT, ready_pose

OBJECT = "bar_5x18x5cm"
TOL_M, TOL_RAD = 0.01, 0.1


def bar_symmetries() -> list[np.ndarray]:
    """The eight rotations of the bar's frame (long axis y, square cross-section) onto itself."""
    rolls = [rotation(1, np.deg2rad(d)) for d in (0, 90, 180, 270)]
    return rolls + [rotation(0, np.pi) @ r for r in rolls]


def turns() -> list[np.ndarray]:
    """World-frame turns of the lifted bar, smallest first."""
    out = [(abs(y) + abs(r) + abs(p), rotation(2, np.deg2rad(y)) @ rotation(0, np.deg2rad(p)) @ rotation(1, np.deg2rad(r)))
           for y in (0, -20, 20, -40, 40) for r in (0, -20, 20, -40, 40) for p in (0, -20, 20)]
    return [m for _, m in sorted(out, key=lambda e: e[0])]


def reached(ik, side: int, q: np.ndarray, p: np.ndarray, r: np.ndarray, iters: int = 300):
    q2, e, er = ik.solve(q, side, p, r, iters=iters)
    return q2 if e <= TOL_M and er <= TOL_RAD else None


def table_reach(script: HandoffScript, templates, placements) -> tuple[dict, list]:
    """Per placement, the shares of grasps reaching the far and the near end; and, for the middle
    placement, the (template, symmetry, joints) that reach the near end."""
    ik, syms = script.ik, bar_symmetries()
    out, near_middle = {}, []
    middle = placements[len(placements) // 2]
    for x, y in placements:
        po = np.array([x, y, script.rest_z])
        far = near = 0
        for t in templates:
            got = {"far": False, "near": False}
            for rs in syms:
                pa, ra = rs @ t.p_rel, rs @ t.r_rel
                if pa[2] < 0.0:
                    continue
                # The template's fingertips sit at -axis (A's end); in the world that end is at
                # -y (far from the midline, A is the right hand) or +y (near).
                end = "far" if (rs @ script.axis)[1] > 0 else "near"
                if got[end]:
                    continue
                guess = ready_pose()
                guess[ik.arm_idx[RIGHT]] = t.arm_q
                q = reached(ik, RIGHT, guess, po + pa, ra)
                if q is not None:
                    got[end] = True
                    if end == "near" and (x, y) == middle:
                        near_middle.append((t, rs, q))
            far += got["far"]
            near += got["near"]
        out[f"x={x:.2f},y={y:.2f}"] = {"far_end": round(far / len(templates), 3), "near_end": round(near / len(templates), 3)}
    return out, near_middle


def handoff_reach(script: HandoffScript, near, ys, x: float) -> dict:
    ik, rots = script.ik, turns()
    out = {}
    for y in ys:
        mid = np.array([x, y, script.rest_z + 0.15])
        ok = 0
        for t, rs, q in near:
            pa, ra = rs @ t.p_rel, rs @ t.r_rel
            pb, rb = (rs @ m for m in reflect_grasp(t.p_rel, t.r_rel, script.axis))
            for turn in rots:
                qa = reached(ik, RIGHT, q, mid + turn @ pa, turn @ ra, iters=150)
                if qa is not None and reached(ik, LEFT, qa, mid + turn @ pb, turn @ rb, iters=150) is not None:
                    ok += 1
                    break
        out[f"y={y:+.2f}"] = round(ok / max(len(near), 1), 3)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--library", default="handover_bar", help="one-hand grasps of the bar (a file or a shipped name)")
    p.add_argument("--grasps", type=int, default=120, help="grasps sampled from the library")
    p.add_argument("--end-offset", type=float, default=0.065)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    t0 = time.time()
    script = HandoffScript(OBJECT, task_config("handover"), HandoffConfig(end_offset_m=args.end_offset))
    lib = load_task_library("handover", args.library)
    pool = np.random.default_rng(0).permutation(np.flatnonzero(lib.stage <= 1))
    sub = lib.rows(pool)
    templates = script.templates(sub)[:args.grasps]
    if not templates:
        p.error(f"{args.library} has no one-hand grasp of the bar")
    placements = [(x, -y) for x in (0.30, 0.33, 0.36) for y in (0.24, 0.27, 0.30)]
    table, near = table_reach(script, templates, placements)
    handoff = handoff_reach(script, near, (-0.06, -0.03, 0.0, 0.03, 0.06), 0.33)
    far = [v["far_end"] for v in table.values()]
    near_s = [v["near_end"] for v in table.values()]
    out = {"command": "python benchmarks/handover_table_reach.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "object": OBJECT, "grasps": len(templates), "end_offset_m": args.end_offset,
           "table": table,
           "table_mean": {"far_end": round(float(np.mean(far)), 3), "near_end": round(float(np.mean(near_s)), 3)},
           "handoff_near_grasps": len(near), "handoff_both_reach_share": handoff,
           "seconds": round(time.time() - t0, 1)}
    print_json(out, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
