"""Where a policy's mean actions sit past the env's action clip, per joint.

    python benchmarks/action_saturation.py cg6=runs/cfg/cg6_562.pt cg17=runs/handover/cg17/latest.pt \
        --task handover --out benchmarks/results/action_saturation.json --plot benchmarks/results/action_saturation.png

The env clips every action to [−1, 1]. Where the actor's mean μ_j lies past the clip by a few of
its standard deviations σ_j, nearly every sample PPO draws in training is clipped to the same
end: the joint's action no longer varies, its advantage says nothing about it, and PPO cannot
move it back (``rl/bounded_ppo.py``, ``ppo.action_bound``). With relative hand actions such a
joint stays at its limit.

For each ``NAME=CHECKPOINT``: one deterministic episode per environment (``--envs``; no
randomization, the full task, from nominal resets or ``--init-library LIB`` on every reset). Per
joint, in the policy's own frame (hand A is the right hand when the task mirrors left-handed
episodes), over all control steps: ``outside``, the share of steps with |μ_j| > 1; ``clipped``,
the mean over steps of Φ((|μ_j| − 1) / σ_j), the probability that a training sample lands past
the clip on the mean's side; and the median of μ_j. For the handover, the same over the steps
in which both hands touch the object off the table (``both_hands``), where hand B's grip is
made. The summary gives the share of joints with ``clipped`` above 0.9 ("frozen").

One core; the JSON goes to stdout and to ``--out``; ``--plot`` draws ``clipped`` per joint.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from dexmani_training.bench import named_items, print_json

FROZEN = 0.9  # a joint whose samples are clipped at one end this often is frozen there


def _clip_probability(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Φ((|μ| − 1) / σ) elementwise: the chance that μ + σ·ε ends past the clip on μ's side."""
    z = (np.abs(mean) - 1.0) / np.maximum(std, 1e-9)
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def joint_stats(means: np.ndarray, std: np.ndarray, names: list[str]) -> dict:
    """Per joint over the steps of ``means`` (steps × joints): see the module docstring."""
    if means.shape[0] == 0:
        return {"steps": 0, "joints": {}, "frozen_share": None}
    clipped = _clip_probability(means, std[None, :]).mean(axis=0)
    joints = {n: {"outside": float(np.mean(np.abs(means[:, j]) > 1.0)), "clipped": float(clipped[j]),
                  "median_mean": float(np.median(means[:, j])), "std": float(std[j])} for j, n in enumerate(names)}
    return {"steps": int(means.shape[0]), "joints": joints, "frozen_share": float(np.mean(clipped > FROZEN))}


def saturation(checkpoint: str, task: str | None, envs: int, init_library: str | None = None, seed: int = 0) -> dict:
    import torch

    from dexmani_training.rl.evaluate import checkpoint_task_config, load_checkpoint, policy_env
    from dexmani_training.tasks.base import jt

    d = load_checkpoint(checkpoint, task)
    cfg = checkpoint_task_config(d, checkpoint)
    init = replace(cfg.init, use_library=init_library is not None)
    if init_library is not None:
        init = replace(init, library=init_library, probability=1.0)
    cfg = replace(cfg, num_envs=envs, init=init, randomization=replace(cfg.randomization, enabled=()))
    env, policy = policy_env(d, cfg, checkpoint, seed, 1)
    names = list(jt.joint_names())
    all_means, held_means = [], []
    try:
        if env.has_task_curriculum():
            env.set_task_difficulty(1.0)
        env.reset()
        obs = env.get_observations()
        with torch.no_grad():
            policy(obs, stochastic_output=True)
            std = policy.output_std.detach().cpu().numpy().reshape(-1, len(names))[0]
        live = np.ones(envs, dtype=bool)
        for _ in range(env.max_episode_length):
            with torch.no_grad():
                mean = policy(obs)
            m = mean.cpu().numpy()
            all_means.append(m[live])
            if cfg.task == "handover":
                touch = env.sim.contacts()
                both = touch[:, 0] & touch[:, 1] & ~touch[:, 2] & live
                held_means.append(m[both])
            obs, _, dones, _ = env.step(mean)
            live &= ~dones.cpu().numpy().astype(bool)  # one episode per environment
            if not live.any():
                break
    finally:
        env.close()
    out = {"checkpoint": checkpoint, "task": cfg.task, "envs": envs, "init_library": init_library,
           "all_steps": joint_stats(np.concatenate(all_means), std, names)}
    if cfg.task == "handover":
        out["both_hands"] = joint_stats(np.concatenate(held_means), std, names)
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(12, 3.0 * len(results)), squeeze=False)
    for ax, (name, r) in zip(axes[:, 0], results.items()):
        sets = [("all_steps", "all steps")] + ([("both_hands", "both hands hold")] if "both_hands" in r else [])
        names = list(r["all_steps"]["joints"])
        x = np.arange(len(names))
        width = 0.8 / len(sets)
        for k, (key, label) in enumerate(sets):
            joints = r[key]["joints"]
            if joints:
                ax.bar(x + (k - (len(sets) - 1) / 2) * width, [joints[n]["clipped"] for n in names], width, label=label)
        ax.axhline(FROZEN, color="k", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
        ax.set_ylabel("P(sample clipped)")
        ax.set_title(f"{name}: share of training samples clipped at the mean's end, per joint (policy frame)")
        ax.set_xticks(x, [n.replace("_joint", "") for n in names], rotation=70, fontsize=7)
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", metavar="NAME=CHECKPOINT")
    ap.add_argument("--task", default=None, help="refuse checkpoints of another task (default: each one's own)")
    ap.add_argument("--envs", type=int, default=64, help="deterministic episodes per checkpoint (one per env)")
    ap.add_argument("--init-library", default=None, help="start every episode from this init library")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.envs < 1:
        ap.error(f"--envs must be >= 1, got {args.envs}")
    results = {name: saturation(path, args.task, args.envs, args.init_library, args.seed)
               for name, path in named_items(args.checkpoints, ap)}
    if args.plot:
        plot(results, args.plot)
    print_json(results, args.out)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
