"""Compare training runs from their progress logs: per run, the task settings it changed from
the task's defaults, its budget, and its training-episode rates (all resets, nominal resets
only, and init-library resets only where logged) over the run, as JSON and as a PNG of the
nominal rates against env steps (``--resets library``: the library's, e.g. for hand B's drill).

    python benchmarks/compare_runs.py runs/handover/a runs/handover/b \
        --out benchmarks/results/handover_variants

Rates are those ``dexmani train`` logs each iteration (over the last 200 finished training
episodes); ``--window`` iterations are averaged for the "final" and "best" values, so one lucky
iteration does not stand for a run. These are training-episode rates with the run's own
randomization strength and init library, not evaluations: evaluate checkpoints with ``dexmani
eval`` for those.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import yaml

from dexmani_training.dataclass_config import plain
from dexmani_training.rl.train import TrainConfig
from dexmani_training.tasks import TASKS, task_config


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


_TRAIN_BOOKKEEPING = {"iterations", "max_minutes", "save_interval", "num_threads", "torch_threads", "actor_from"}


def changed_settings(run_dir: Path) -> tuple[str, dict]:
    """(task, {setting: value}) for every task setting that differs from the task's default
    (besides the number of environments), every training setting (``train.<name>``: PPO,
    curricula) that differs from ``TrainConfig``'s, the seed and the warm start's checkpoint."""
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    task_cfg = cfg["task"]
    task = task_cfg["task"]
    default = _flatten(task_config(task).to_dict())
    mine = _flatten(task_cfg)
    diff = {k: v for k, v in mine.items() if k != "num_envs" and default.get(k) != v}  # both plain: lists, not tuples
    # training settings that shape what is learned (PPO, curricula), not the run's bookkeeping
    train_default = _flatten(plain(asdict(TrainConfig())))  # as saved with a run: tuples as lists
    for k, v in _flatten(cfg.get("train", {})).items():
        if k.split(".")[0] not in _TRAIN_BOOKKEEPING and k in train_default and train_default[k] != v:
            diff[f"train.{k}"] = v
    diff["seed"] = cfg.get("seed")
    source = cfg.get("train", {}).get("actor_from")
    if source:  # the warm start's checkpoint, relative to here where it can be
        try:
            source = str(Path(source).resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            pass
        diff["actor_from"] = source
    return task, diff


def read_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines() if line.strip()]


def windowed(rows: list[dict], key: str, window: int, missing_as_zero: bool = True) -> tuple[np.ndarray, int]:
    """``key`` over the rows averaged over ``window`` iterations (missing values as 0, or left out
    of each average with ``missing_as_zero=False``), and the index of the row the first average
    ends at."""
    v = np.array([r.get(key, np.nan) for r in rows], dtype=float)
    if missing_as_zero:
        v = np.nan_to_num(v)
    if v.size < window:
        return v, 0
    ok = np.isfinite(v)
    box = np.ones(window)
    with np.errstate(invalid="ignore"):
        return np.convolve(np.where(ok, v, 0.0), box, mode="valid") / np.convolve(ok, box, mode="valid"), window - 1


def summarize_run(run_dir: Path, rows: list[dict], window: int, resets: str = "nominal") -> dict:
    if not rows:
        raise ValueError(f"{run_dir}: progress.jsonl is empty")
    task, diff = changed_settings(run_dir)
    keys = [k for k in rows[-1] if k.endswith("_rate") and k != "learning_rate" and not k.startswith("term/")]
    out = {"run": str(run_dir), "task": task, "changed_settings": diff, "iterations": rows[-1]["iteration"],
           "env_steps": rows[-1]["env_steps"], "wall_s": rows[-1]["wall_s"],
           "randomization_strength_final": rows[-1].get("randomization_strength"), "final": {}, "best": {}}
    if any("task_difficulty" in r for r in rows):  # a task curriculum: rates below 1 are not the full task's
        out["task_difficulty_final"] = rows[-1].get("task_difficulty")
        reached = [r["env_steps"] for r in rows if r.get("task_difficulty", 0.0) >= 1.0]
        out["task_difficulty_1_at_env_steps"] = reached[0] if reached else None
    for k in keys:
        v = np.array([r.get(k, np.nan) for r in rows], dtype=float)
        out["final"][k] = round(float(np.nanmean(v[-window:])), 4)
        smooth, first = windowed(rows, k, window)
        i = int(np.argmax(smooth))
        out["best"][k] = {"value": round(float(smooth[i]), 4), "env_steps": rows[i + first]["env_steps"]}
    # the task's own account of where episodes stop (e.g. handover: seconds held by B alone), where logged
    for k in metric_keys(task, rows, resets):
        v = np.array([np.nan if r.get(k) is None else r[k] for r in rows[-window:]], dtype=float)
        out.setdefault("final_metrics", {})[k] = round(float(np.nanmean(v)), 4) if np.isfinite(v).any() else None
    return out


def metric_keys(task: str, rows: list[dict], resets: str = "nominal") -> list[str]:
    """The task's episode metrics (``<resets>/<name>``, resets ``nominal`` or ``library``) that
    the run logged at least once."""
    names = [f"{resets}/{m}" for m in TASKS[task][1].episode_metrics]
    return [k for k in names if any(r.get(k) is not None for r in rows)]


def plot(summaries: list[dict], all_rows: list[list[dict]], path: Path, window: int, resets: str = "nominal") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [k for k in summaries[0]["final"] if k.startswith(f"{resets}/")]
    curriculum = any("task_difficulty_final" in s for s in summaries)
    metrics = sorted({k for s in summaries for k in s.get("final_metrics", {})},
                     key=lambda k: TASKS[summaries[0]["task"]][1].episode_metrics.index(k.split("/", 1)[1]))
    panels = rates + (["task_difficulty"] if curriculum else []) + metrics
    cols = min(len(panels), 5)  # a grid, not one strip: 13 handover panels in a row were unreadable
    nrows = -(-len(panels) // cols)
    fig, grid = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for idx, (s, rows) in enumerate(zip(summaries, all_rows)):
        steps = np.array([r["env_steps"] for r in rows]) / 1e6
        label = Path(s["run"]).name
        color = f"C{idx % 10}"  # one colour per run in every panel, also where another run has no line
        for ax, k in zip(axes, panels):
            if k == "task_difficulty":  # as logged, not averaged; 1 (the full task) without a curriculum
                v, first = np.array([r.get(k, 1.0) for r in rows]), 0
                ax.set_title("task curriculum: difficulty (1 = the full task)", fontsize=9)
            elif not any(r.get(k) is not None for r in rows):  # e.g. frontier success in a run without a spread
                continue
            else:
                v, first = windowed(rows, k, window, missing_as_zero=k not in metrics)
                ax.set_title(k.replace(f"{resets}/", f"{resets} resets: "), fontsize=9)
            ax.plot(steps[first:], v, label=label, color=color)
            ax.set_xlabel("env steps (M)")
            if k not in metrics:  # rates and the difficulty; metrics have their own units
                ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel(f"training-episode rate ({window}-iteration mean)")
    axes[0].legend(fontsize=7)  # a rate panel: every run has one (metrics only where logged)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories (each with config.yaml and progress.jsonl)")
    p.add_argument("--window", type=int, default=20, help="iterations averaged for final and best values")
    p.add_argument("--out", type=Path, help="write OUT.json and OUT.png")
    p.add_argument("--resets", choices=["nominal", "library"], default="nominal",
                   help="whose episode metrics and plotted rates: nominal resets' (default; what eval measures) or "
                   "init-library resets' (e.g. hand B's drill, which starts every episode from the library)")
    a = p.parse_args(argv)
    if a.window < 1:
        p.error("--window must be >= 1")
    missing = [str(r) for r in a.runs if not (r / "progress.jsonl").is_file() or not (r / "config.yaml").is_file()]
    if missing:
        print(f"error: not run directories (no progress.jsonl / config.yaml): {missing}", file=sys.stderr)
        return 2
    all_rows = [read_rows(r) for r in a.runs]
    summaries = [summarize_run(r, rows, a.window, a.resets) for r, rows in zip(a.runs, all_rows)]
    tasks = {s["task"] for s in summaries}
    if len(tasks) > 1:
        print(f"error: runs of different tasks {sorted(tasks)} cannot share one comparison", file=sys.stderr)
        return 2
    result = {"task": tasks.pop(), "window_iterations": a.window, "resets": a.resets, "runs": summaries}
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.with_suffix(".json").write_text(text + "\n")
        plot(summaries, all_rows, a.out.with_suffix(".png"), a.window, a.resets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
