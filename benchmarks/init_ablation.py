"""Task-aware initialization ablation (the paper's Table 2 analogue): for each task, train
``--seeds`` specialists with and without the init library under the same wall-clock budget,
evaluate every checkpoint (deterministic policy, domain randomization on, nominal resets), and
report the fraction of seeds whose evaluation reached the success bar (60% by default).

    python benchmarks/init_ablation.py --tasks grasp_and_reach handover --seeds 0 1 2 \
        --minutes 15 --parallel 2 --out benchmarks/results/init_ablation

``--parallel 2`` runs two trainings at once, each on one core (simulator and torch), which
uses a 2-core machine fully; the budget is each run's own training wall time. Writes
``<out>.json`` (every run's curve and summary) and ``<out>.png`` (eval success per run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _one(job: dict) -> dict:
    import torch

    from train_curve import train_and_evaluate

    torch.set_num_threads(job["threads"])
    result, _ = train_and_evaluate(
        job["task"], job["minutes"], job["seed"], num_envs=job["num_envs"], init=job["init"],
        save_interval=job["save_interval"], episodes=job["episodes"], torch_threads=job["threads"],
        num_threads=job["threads"], run_dir=Path(job["run_root"]) / job["task"] / f"seed{job['seed']}_{'init' if job['init'] else 'noinit'}",
        ramp_env_steps=job["ramp"], eval_with_init_library=job["eval_lib"], actor_from=job["actor_from"],
    )
    result.pop("machine", None)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["grasp_and_reach", "handover"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--minutes", type=float, default=15.0, help="training wall-clock budget per run")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--save-interval", type=int, default=100)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--bar", type=float, default=0.6, help="success rate a run must reach to count")
    p.add_argument("--parallel", type=int, default=2, help="runs at once (each gets cores / parallel threads)")
    p.add_argument("--ramp-env-steps", type=int,
                   help="a linear randomization curriculum over this many env steps per run (0: full strength from "
                   "the start); default: the training default, the adaptive curriculum")
    p.add_argument("--also", nargs="*", default=[], metavar="TASK",
                   help="extra tasks trained once (seed 0, with init) in the same pool, reported under extra_runs")
    p.add_argument("--eval-with-init-library", action="store_true",
                   help="also evaluate every checkpoint with init-library resets (as in training): how far each run "
                   "gets in the later stages when it starts from the library's states")
    p.add_argument("--actor-from", metavar="CHECKPOINT_OR_TASK",
                   help="every run's actor starts from this checkpoint or task's shipped specialist (as for dexmani "
                   "train --actor-from), in both conditions")
    p.add_argument("--run-root", type=Path, default=Path("runs/init_ablation"))
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()

    import os

    from dexmani_training.bench import machine_info

    threads = max(1, (os.cpu_count() or 1) // a.parallel)
    jobs = [
        {"task": t, "seed": s, "init": init, "minutes": a.minutes, "num_envs": a.num_envs, "save_interval": a.save_interval,
         "episodes": a.episodes, "threads": threads, "run_root": str(a.run_root), "ramp": a.ramp_env_steps,
         "eval_lib": a.eval_with_init_library, "actor_from": a.actor_from}
        for t, init, s in itertools.product(a.tasks, (True, False), a.seeds)
    ]
    jobs += [{**jobs[0], "task": t, "seed": 0, "init": True} for t in a.also]
    from tqdm import tqdm

    runs = []
    with mp.get_context("spawn").Pool(a.parallel) as pool:
        for r in tqdm(pool.imap_unordered(_one, jobs), total=len(jobs), desc="runs", file=sys.stderr):
            runs.append(r)
            print(json.dumps({k: r[k] for k in ("task", "seed", "init_library", "best_eval_success_rate", "final_eval_success_rate")}),
                  file=sys.stderr)
    table = {}
    extra = [r for r in runs if r["task"] in a.also and r["task"] not in a.tasks]
    runs = [r for r in runs if r not in extra]
    for t in a.tasks:
        for init in (True, False):
            rs = [r for r in runs if r["task"] == t and r["init_library"] == init]
            key = f"{t}/{'with_init' if init else 'without_init'}"
            table[key] = {
                "seeds": len(rs),
                "reached_bar": sum((r["best_eval_success_rate"] or 0) >= a.bar for r in rs),
                "fraction_reached_bar": sum((r["best_eval_success_rate"] or 0) >= a.bar for r in rs) / max(len(rs), 1),
                "best_eval_success_rate_per_seed": {r["seed"]: r["best_eval_success_rate"] for r in sorted(rs, key=lambda r: r["seed"])},
                "final_eval_success_rate_per_seed": {r["seed"]: r["final_eval_success_rate"] for r in sorted(rs, key=lambda r: r["seed"])},
                "best_stage_rates_per_seed": {r["seed"]: _best_stage_rates(r) for r in sorted(rs, key=lambda r: r["seed"])},
                **({"best_stage_rates_with_init_library_per_seed": {
                    r["seed"]: _best_stage_rates(r, "eval_init_library") for r in sorted(rs, key=lambda r: r["seed"])}}
                   if a.eval_with_init_library else {}),
                "env_steps_per_run": [r["trained"]["env_steps"] for r in rs],
            }
    result = {"bar": a.bar, "budget_minutes_per_run": a.minutes, "parallel": a.parallel, "threads_per_run": threads,
              "num_envs": a.num_envs, "episodes_per_eval": a.episodes, "actor_from": a.actor_from, "randomization_ramp_env_steps": a.ramp_env_steps,
              "randomization_curriculum": runs[0].get("randomization_curriculum") if runs else None,
              "table": table, "runs": runs, "extra_runs": extra, "machine": machine_info()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, a.out.with_suffix(".png"))
    print(json.dumps({"bar": a.bar, "budget_minutes_per_run": a.minutes, "table": table,
                      "extra_runs": {r["task"]: r["best_eval_success_rate"] for r in extra}}, indent=2))
    return 0


def _best_stage_rates(run: dict, key: str = "eval") -> dict:
    """The best value each stage rate reached over a run's evaluated checkpoints (``key``: the
    nominal-reset evaluation, or ``eval_init_library``)."""
    best: dict = {}
    for point in run["curve"]:
        for k, v in point.get(key, {}).items():
            if k.endswith("_rate") and isinstance(v, (int, float)):
                best[k] = max(best.get(k, 0.0), v)
    return best


def _stage_key(run: dict, source: str = "eval") -> str:
    """The stage plotted under success: pickup where the task has it; for handover, the
    intermediate goal from nominal resets and hand B's contact from init-library resets."""
    keys = run["curve"][0].get(source, {}) if run["curve"] else {}
    if "pickup_rate" in keys:
        return "pickup_rate"
    return "contact_b_rate" if source == "eval_init_library" else "intermediate_rate"


def plot(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in result["runs"]})
    # A third row where checkpoints were also evaluated from init-library resets: the deepest
    # stage before success (handover: hand B's contact), which nominal resets may never reach.
    with_lib = any("eval_init_library" in q for r in result["runs"] for q in r["curve"])
    rows = ("success_rate", None, "library") if with_lib else ("success_rate", None)
    fig, axes = plt.subplots(len(rows), len(tasks), figsize=(5.5 * len(tasks), 3.5 * len(rows)), squeeze=False, sharey=True)
    for col, t in enumerate(tasks):
        runs = sorted((r for r in result["runs"] if r["task"] == t), key=lambda r: (not r["init_library"], r["seed"]))
        for row, metric in enumerate(rows):
            ax = axes[row][col]
            source = "eval_init_library" if metric == "library" else "eval"
            for r in runs:
                key = _stage_key(r, source) if metric in (None, "library") else metric
                pts = r["curve"]
                ax.plot([q["env_steps"] / 1e6 for q in pts], [q.get(source, {}).get(key, q["eval_success_rate"]) if key != "success_rate"
                                                             else q["eval_success_rate"] for q in pts],
                        ("-" if r["init_library"] else "--"), marker="osD^v<>"[r["seed"] % 7], fillstyle="full" if r["init_library"] else "none",
                        color="C0" if r["init_library"] else "C1", alpha=0.8,
                        label=f"seed {r['seed']} {'with' if r['init_library'] else 'without'} init")
            key = _stage_key(runs[0], source) if metric in (None, "library") and runs else (metric or "")
            if metric == "success_rate":
                ax.axhline(result["bar"], color="C3", ls=":", lw=1)
            where = ", from init-library resets" if metric == "library" else ""
            ax.set_title(f"{t}: eval {key.replace('_rate', '')}{where}")
            ax.set_xlabel("env steps (millions)")
            ax.grid(alpha=0.3)
        axes[0][col].legend(fontsize=7)
    for row in axes:
        row[0].set_ylabel("rate (deterministic policy, full randomization)")
        row[0].set_ylim(-0.02, 1.02)
    fig.suptitle(f"task-aware init ablation: {result['budget_minutes_per_run']:g} min per run, "
                 f"{result['threads_per_run']} thread(s) each")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
