"""How hard each hand grips the object in a handover policy's own holds.

    python benchmarks/handover_grip_squeeze.py cg6=runs/cfg/cg6_562.pt cg9=runs/handover/cg9/latest.pt \
        --out benchmarks/results/handover_grip_squeeze.json

For each ``NAME=CHECKPOINT``, ``--envs`` deterministic episodes (no randomization, the full task,
no training aids) from nominal resets, or from ``--init-library LIB`` (every reset). At every
control step of stage 3 or later, each hand's squeeze (``Handover.finger_squeeze``): how far its
finger targets are closed past its finger joints, in rad, averaged over its finger joints. Under
the joints' PD control that is the force of the grip; fingers resting on the object without force
read about 0, and a finger that closes freely reaches its target. Reported over the steps in
which both hands hold the object off the table (``both``: A's and B's squeeze) and those in which
B alone holds it (``b_alone``), as the 10th, 50th and 90th percentile with the step count. Per
finger joint over the two-hand hold steps (``closure``): the median of each hand's joint and of
its target on the way from open (0) to its closing limit (1); a finger at 1 with its target at 1
is closed all the way and pushes on nothing. Over the same two kinds of steps (``wrap_b``), how far
B's thumb and fingers close around the object's long axis at B's end (``Handover.wrap_b``: 1
thumb across the axis from the fingers, on B's stickers; a hook of fingers with the thumb open
scores near 0).

One core; the JSON goes to stdout and to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from dexmani_training.bench import named_items, print_json


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"steps": 0, "p10": None, "median": None, "p90": None}
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"steps": len(values), "p10": float(p10), "median": float(p50), "p90": float(p90)}


def squeeze_stats(checkpoint: str, envs: int, init_library: str | None = None, seed: int = 0) -> dict:
    """One episode per environment (``envs`` of them) of ``checkpoint``'s deterministic policy;
    the squeeze percentiles described above."""
    import torch

    from dexmani_training.rl.evaluate import checkpoint_task_config, load_checkpoint, policy_env
    from dexmani_training.tasks.base import LEFT, RIGHT, hand_open_closed, jt, side_joint_indices

    d = load_checkpoint(checkpoint, "handover")
    cfg = checkpoint_task_config(d, checkpoint).without_training_aids()
    init = replace(cfg.init, use_library=init_library is not None)
    if init_library is not None:
        init = replace(init, library=init_library, probability=1.0)
    cfg = replace(cfg, num_envs=envs, init=init, randomization=replace(cfg.randomization, enabled=()))
    env, policy = policy_env(d, cfg, checkpoint, seed, 1)
    try:
        if env.has_task_curriculum():
            env.set_task_difficulty(1.0)
        env.reset()
        obs = env.get_observations()
        done = np.zeros(envs, dtype=bool)  # each environment's first episode only
        both = {"a": [], "b": []}
        b_alone: list[float] = []
        wrap = {"both": [], "b_alone": []}
        open_q, closed_q = hand_open_closed()
        fingers = {side: side_joint_indices(side)[1] for side in (LEFT, RIGHT)}
        closure = {"a": [], "b": []}  # rows: the hand's finger joints, then their targets, 0 open … 1 closed

        def closed_share(values, side):
            f = fingers[side]
            return (values[f] - open_q[f]) / (closed_q[f] - open_q[f])
        for _ in range(int(env.max_episode_length)):
            with torch.inference_mode():
                obs, _, dones, _ = env.step(policy(obs))
            dones = dones.numpy().astype(bool)
            # After a reset the sim holds the next episode's first state: count only running episodes.
            live = ~done & ~dones
            contacts = env.sim.contacts()
            touch_a = contacts[np.arange(envs), env.hand_a]
            touch_b = contacts[np.arange(envs), 1 - env.hand_a]
            up = live & (env.stage >= 3) & ~contacts[:, 2]
            squeeze_a, squeeze_b = env.finger_squeeze(env.hand_a), env.finger_squeeze(1 - env.hand_a)
            two = up & touch_a & touch_b
            both["a"] += squeeze_a[two].tolist()
            both["b"] += squeeze_b[two].tolist()
            b_alone += squeeze_b[up & touch_b & ~touch_a].tolist()
            wrap_b = env.wrap_b(env.sim.fingertip_pos())
            wrap["both"] += wrap_b[two].tolist()
            wrap["b_alone"] += wrap_b[up & touch_b & ~touch_a].tolist()
            q = env.sim.joint_pos()
            for i in np.flatnonzero(two):
                for hand, side in (("a", env.hand_a[i]), ("b", 1 - env.hand_a[i])):
                    closure[hand].append(np.concatenate([closed_share(q[i], side), closed_share(env.targets[i], side)]))
            done |= dones
            if done.all():
                break
    finally:
        env.close()
    names = [jt.joint_names()[j].split("_", 1)[1] for j in fingers[LEFT]]  # without the side's prefix
    per_joint = {}
    for hand, rows in closure.items():
        m = np.median(rows, axis=0) if rows else np.full(2 * len(names), np.nan)
        per_joint[hand] = {name: {"joint": None if np.isnan(m[k]) else float(m[k]),
                                  "target": None if np.isnan(m[len(names) + k]) else float(m[len(names) + k])}
                           for k, name in enumerate(names)}
    return {"both": {"a": _percentiles(both["a"]), "b": _percentiles(both["b"])}, "b_alone": _percentiles(b_alone),
            "closure": per_joint, "wrap_b": {k: _percentiles(v) for k, v in wrap.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", metavar="NAME=CHECKPOINT")
    p.add_argument("--envs", type=int, default=64, help="episodes per checkpoint, one per environment (default 64)")
    p.add_argument("--init-library", metavar="LIB", help="reset every episode from this init library")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    pairs = named_items(args.checkpoints, p)
    result = {"envs": args.envs, "init_library": args.init_library,
              "checkpoints": {name: squeeze_stats(ckpt, args.envs, args.init_library) for name, ckpt in pairs}}
    print_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
