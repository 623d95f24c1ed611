"""Hand B's drill as an evaluation matrix: for each handover checkpoint, each init library and
each recorded stage, episodes that start from the library's states at that stage, with hand A
held still by the env until it lets go ``--after`` seconds into the episode (fingers open, arm
drawn back) and the final goal ``--final-y`` past the midline on B's side. Success there means
hand B grasped the bar, kept it up alone and carried it to the goal. Prints one JSON object.

    python benchmarks/handover_drill_eval.py ho21=runs/handover/ho21/latest.pt \\
        drill=runs/handover/bd3/latest.pt --libraries handover_bar runs/libs/bar_frontier.npz \\
        --out benchmarks/results/handover_b_drill_eval.json

A checkpoint trained with a final-goal curriculum is evaluated at the difficulty that puts the
final goal at ``--final-y``; one trained without must have its final goal there already.
Without randomization, deterministic actions, seed 0 unless ``--seed``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dexmani_training.bench import named_items, print_json
from dexmani_training.rl.evaluate import checkpoint_task_config, evaluate, load_checkpoint


def difficulty_for(checkpoint: str, final_y: float) -> float | None:
    """The task difficulty at which ``checkpoint``'s final goal is ``final_y`` past the midline
    (None: its config has no curriculum and the goal is there already)."""
    cfg = checkpoint_task_config(load_checkpoint(checkpoint, "handover"), checkpoint)
    start = cfg.final_goal_curriculum_start_y_m
    if start is None:
        if abs(cfg.final_abs_y_m - final_y) > 1e-9:
            raise ValueError(f"{checkpoint}: final goal {cfg.final_abs_y_m} m past the midline and no curriculum to "
                             f"move it to {final_y} m")
        return None
    d = (final_y - start) / (cfg.final_abs_y_m - start)
    if not 0.0 <= d <= 1.0:
        raise ValueError(f"{checkpoint}: its curriculum spans {start}–{cfg.final_abs_y_m} m, not {final_y} m")
    return d


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="NAME=PATH, handover checkpoints")
    p.add_argument("--libraries", nargs="+", default=["handover_bar"], help="init libraries (files or shipped names)")
    p.add_argument("--stages", nargs="+", type=int, default=[2, 3], help="recorded stages to start from")
    p.add_argument("--after", type=float, default=2.0, help="seconds until hand A lets go (default 2)")
    p.add_argument("--final-y", type=float, default=0.10, help="final goal past the midline, metres (default 0.10)")
    p.add_argument("--grip-rad", type=float, default=0.3, help="init.grip_rad for the library resets (default 0.3)")
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    a = p.parse_args(argv)
    named = named_items(a.checkpoints, p, "PATH")
    rows = []
    for name, path in named:
        difficulty = difficulty_for(path, a.final_y)
        for library in a.libraries:
            for stage in a.stages:
                r = evaluate(path, "handover", a.episodes, seed=a.seed, num_envs=min(a.episodes, 64), randomize=False,
                             use_init_library=library, init_probability=1.0, init_stages=[stage],
                             init_grip_rad=a.grip_rad, task_difficulty=difficulty, assist_release_after_s=a.after,
                             assist_release_trigger="stage_2", assist_hold_a=True)
                metrics = {k: round(v["mean"], 4) for k, v in r["episode_metrics"].items()}
                rows.append({"checkpoint": name, "path": path, "trained_env_steps": r.get("trained_env_steps"),
                             "library": library, "stage": stage, "success_rate": r["success_rate"],
                             "released_rate": r["released_rate"], "contact_b_rate": r["contact_b_rate"],
                             "terminated_rate": r["terminated_rate"], **metrics})
                print(f"{name:>12} {Path(library).stem:>16} stage {stage}: success {r['success_rate']:.3f} "
                      f"B alone {metrics['held_b_only_s']:.2f} s fell {r['terminated_rate']:.2f}", file=sys.stderr)
    result = {"episodes": a.episodes, "seed": a.seed, "after_s": a.after, "final_y_m": a.final_y,
              "grip_rad": a.grip_rad, "randomization": False, "rows": rows}
    print_json(result, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
