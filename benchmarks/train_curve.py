"""Train a specialist under a wall-clock budget, then evaluate its checkpoints: the learning
curve (eval success rate vs env steps and vs training wall time) as JSON and PNG.

    python benchmarks/train_curve.py --task grasp_and_reach --minutes 30 --seed 0 \
        --out benchmarks/results/grasp_and_reach_30min

Training and evaluation run one after the other, so evaluation does not eat the training
budget. Every checkpoint (``--save-interval`` iterations) is evaluated on ``--episodes``
episodes with the deterministic policy and domain randomization on, resets from the task's
nominal distribution (no init library).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from dexmani_training.bench import machine_info
from dexmani_training.rl.evaluate import evaluate
from dexmani_training.cli_rl import actor_source
from dexmani_training.rl.train import Trainer, TrainConfig, read_task_overrides
from dexmani_training.tasks import task_config


def _rates(res: dict) -> dict:
    return {k: v for k, v in res.items() if k.endswith("_rate") or k.startswith("success_by")}


def train_and_evaluate(task: str, minutes: float, seed: int, num_envs: int = 64, objects: str | None = None,
                       init: bool = True, save_interval: int = 100, episodes: int = 100, torch_threads: int | None = None,
                       num_threads: int | None = None, run_dir: Path | None = None, progress: bool = False,
                       overrides: dict | None = None, ramp_env_steps: int | None = None, eval_without_randomization: bool = False,
                       eval_with_init_library: bool = False, actor_from: str | None = None, critic_warmup: int = 25):
    """Train one specialist for ``minutes`` of wall-clock time, evaluate each checkpoint; returns
    (result dict, progress rows)."""
    over = {"num_envs": num_envs, **(overrides or {})}
    if objects:
        over["objects"] = objects
    if not init:
        over["init"] = {"use_library": False}
    cfg = task_config(task, over)
    train = TrainConfig(iterations=10**6, max_minutes=minutes, save_interval=save_interval, torch_threads=torch_threads,
                        num_threads=num_threads)
    if actor_from:
        train = replace(train, actor_from=str(actor_source(actor_from)), critic_warmup_iterations=critic_warmup)
    if ramp_env_steps is not None:  # a linear curriculum (0: full strength from the start)
        train = replace(train, randomization_curriculum="linear" if ramp_env_steps > 0 else "off",
                        randomization_ramp_env_steps=ramp_env_steps)
    run_dir = run_dir or Path("runs") / task / f"curve_seed{seed}{'' if init else '_noinit'}"
    trainer = Trainer(run_dir, cfg, train, seed, force=True, progress=progress)
    summary = trainer.run()
    rows = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    by_it = {r["iteration"]: r for r in rows}
    ckpts = sorted(run_dir.glob("model_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    points = []
    for ck in ckpts:
        it = int(ck.stem.split("_")[1])
        if it == 0 or it not in by_it:
            continue
        res = evaluate(ck, task, episodes, seed=1000 + seed, num_threads=num_threads)
        points.append({
            "iteration": it, "env_steps": by_it[it]["env_steps"], "wall_s": by_it[it]["wall_s"],
            "eval_success_rate": res["success_rate"], "eval_pickup_rate": res.get("pickup_rate"),
            "eval": _rates(res),
            "train_success_rate": by_it[it]["success_rate"],
            **({"eval_no_randomization_success_rate": evaluate(ck, task, episodes, seed=1000 + seed, num_threads=num_threads,
                                                                randomize=False)["success_rate"]}
               if eval_without_randomization else {}),
            **({"eval_init_library": _rates(evaluate(ck, task, episodes, seed=1000 + seed, num_threads=num_threads,
                                                     use_init_library=True))}
               if eval_with_init_library else {}),
            "randomization_strength": by_it[it].get("randomization_strength"),
            "checkpoint": str(ck),
        })
        print(json.dumps({k: v for k, v in points[-1].items() if k != "eval"}), file=sys.stderr)
    best = max(points, key=lambda r: r["eval_success_rate"]) if points else None
    reached = next((r for r in points if r["eval_success_rate"] >= 0.6), None)
    result = {
        "task": task, "seed": seed, "num_envs": num_envs, "budget_minutes": minutes, "init_library": init,
        "objects": cfg.objects, "episodes_per_eval": episodes, "task_overrides": overrides or {},
        "actor_from": train.actor_from, "critic_warmup_iterations": train.critic_warmup_iterations,
        "randomization_curriculum": train.randomization_curriculum,
        "randomization_ramp_env_steps": train.randomization_ramp_env_steps if train.randomization_curriculum == "linear" else None,
        "final_randomization_strength": rows[-1].get("randomization_strength") if rows else None,
        "trained": {k: summary[k] for k in ("iteration", "env_steps", "wall_s")},
        "train_steps_per_s": summary["env_steps"] / max(summary["wall_s"], 1e-9),
        "final_eval_success_rate": points[-1]["eval_success_rate"] if points else None,
        "best_eval_success_rate": best["eval_success_rate"] if best else None,
        "best_checkpoint": best["checkpoint"] if best else None,
        "first_reached_60pct": reached,
        "curve": points,
        "machine": machine_info(),
        "torch_threads": torch_threads or torch.get_num_threads(),
    }
    return result, rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="grasp_and_reach")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--objects")
    p.add_argument("--no-init", action="store_true")
    p.add_argument("--save-interval", type=int, default=100)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--torch-threads", type=int, help="default: 1 in the rollout, all cores in the update")
    p.add_argument("--threads", type=int, help="simulator and torch threads (default: all cores)")
    p.add_argument("--ramp-env-steps", type=int,
                   help="a linear randomization curriculum over this many env steps (0: full strength from the start); "
                   "default: the training default, the adaptive curriculum")
    p.add_argument("--eval-without-randomization", action="store_true",
                   help="also evaluate every checkpoint with randomization off (a second curve)")
    p.add_argument("--eval-with-init-library", action="store_true",
                   help="also evaluate every checkpoint with resets from the init library as in training (half of them by "
                   "default): the later stages of tasks whose nominal-reset episodes do not get there")
    p.add_argument("--config", type=Path, help="task config YAML whose fields override the task's defaults (as for dexmani train)")
    p.add_argument("--actor-from", metavar="CHECKPOINT_OR_TASK",
                   help="start the actor from this checkpoint or this task's shipped specialist (as for dexmani train)")
    p.add_argument("--critic-warmup", type=int, default=25, help="with --actor-from: iterations in which only the critic learns")
    p.add_argument("--run-dir", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output prefix: writes <out>.json and <out>.png")
    a = p.parse_args()
    overrides = read_task_overrides(a.config) if a.config is not None else None

    result, rows = train_and_evaluate(
        a.task, a.minutes, a.seed, num_envs=a.num_envs, objects=a.objects, init=not a.no_init,
        save_interval=a.save_interval, episodes=a.episodes, torch_threads=a.threads or a.torch_threads,
        num_threads=a.threads, run_dir=a.run_dir, progress=sys.stderr.isatty(), ramp_env_steps=a.ramp_env_steps,
        eval_without_randomization=a.eval_without_randomization, eval_with_init_library=a.eval_with_init_library,
        overrides=overrides, actor_from=a.actor_from, critic_warmup=a.critic_warmup,
    )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, rows, a.out.with_suffix(".png"))
    print(json.dumps({k: v for k, v in result.items() if k not in ("curve", "machine")}, indent=2))
    return 0


def plot(result, rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    pts = result["curve"]
    for ax, key, label, scale in ((axes[0], "env_steps", "env steps (millions)", 1e-6), (axes[1], "wall_s", "training wall time (min)", 1 / 60)):
        ax.plot([r[key] * scale for r in rows], [r["success_rate"] for r in rows], color="0.7", lw=1, label="train episodes (stochastic)")
        if rows and "nominal/success_rate" in rows[-1]:
            ax.plot([r[key] * scale for r in rows], [r.get("nominal/success_rate", 0.0) for r in rows], color="C2", lw=1, alpha=0.6,
                    label="train episodes from nominal resets")
        ax.plot([r[key] * scale for r in pts], [r["eval_success_rate"] for r in pts], "o-", color="C0", label="eval success (deterministic)")
        if pts and "eval_no_randomization_success_rate" in pts[0]:
            ax.plot([r[key] * scale for r in pts], [r["eval_no_randomization_success_rate"] for r in pts], "o:", color="C0",
                    alpha=0.5, label="eval success, no randomization")
        if pts and "eval_init_library" in pts[0]:
            lib = [k for k in pts[0]["eval_init_library"] if k.endswith("_rate") and k not in ("contact_rate", "contact_a_rate")]
            for j, st in enumerate(lib):
                ax.plot([r[key] * scale for r in pts], [r["eval_init_library"][st] for r in pts], "^-.", alpha=0.6,
                        color=("C0", "C1", "C4", "C5")[j % 4], label=f"eval {st.removesuffix('_rate')}, with init library")
        # The task's intermediate stages (pickup; handover: intermediate, contact_b), not the first contact.
        stages = [k for k in (pts[0]["eval"] if pts else {}) if k.endswith("_rate") and k not in ("success_rate", "contact_rate", "contact_a_rate")]
        for j, st in enumerate(stages):
            ax.plot([r[key] * scale for r in pts], [r["eval"][st] for r in pts], "s--", color=("C1", "C4", "C5", "C6")[j % 4],
                    label=f"eval {st.removesuffix('_rate')}")
        if rows and "randomization_strength" in rows[-1]:
            ax.plot([r[key] * scale for r in rows], [r.get("randomization_strength", 1.0) for r in rows], color="0.3", ls="--",
                    lw=1, label="randomization strength (curriculum)")
        ax.axhline(0.6, color="C3", ls=":", lw=1, label="60% bar")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("rate")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{result['task']} seed {result['seed']}: {result['num_envs']} envs, {result['budget_minutes']:.0f} min budget")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
