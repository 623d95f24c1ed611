"""How much each domain-randomization term costs a trained specialist: evaluate one checkpoint
with every term, with none, with each term alone and with all terms but one, on the same
episodes count and seed (deterministic policy, nominal resets).

    python benchmarks/randomization_sensitivity.py --task grasp_and_reach --episodes 200 \
        --out benchmarks/results/randomization_sensitivity_grasp_and_reach

Without ``--checkpoint`` the task's shipped specialist is evaluated. Writes ``<out>.json`` and
``<out>.png`` (success and the task's first lifted stage per condition).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dexmani_training.bench import machine_info
from dexmani_training.rl.evaluate import evaluate
from dexmani_training.tasks.randomization import TERMS


def conditions(terms: tuple[str, ...] = TERMS) -> list[tuple[str, list[str]]]:
    """(label, enabled terms): all, none, each term alone, all but each term."""
    out = [("all", list(terms)), ("none", [])]
    out += [(f"only {t}", [t]) for t in terms]
    out += [(f"without {t}", [x for x in terms if x != t]) for t in terms]
    return out


def sensitivity(checkpoint: str | Path, task: str, episodes: int, seed: int, num_threads: int | None = None,
                terms: tuple[str, ...] = TERMS, progress: bool = False) -> list[dict]:
    rows = []
    for label, enabled in conditions(terms):
        r = evaluate(checkpoint, task, episodes, seed=seed, num_threads=num_threads, randomization_terms=enabled)
        row = {"condition": label, "enabled": enabled, "randomization": r["randomization"],
               **{k: v for k, v in r.items() if k.endswith("_rate")}}
        rows.append(row)
        if progress:
            print(json.dumps({k: v for k, v in row.items() if k != "enabled"}), file=sys.stderr)
    return rows


def plot(rows: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stage = next((k for k in ("pickup_rate", "intermediate_rate", "contact_rate") if k in rows[0]), None)
    labels = [r["condition"] for r in rows]
    y = range(len(rows))
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(rows) + 1.2))
    ax.barh([i + 0.2 for i in y], [r["success_rate"] for r in rows], height=0.4, label="success")
    if stage:
        ax.barh([i - 0.2 for i in y], [r[stage] for r in rows], height=0.4, label=stage.removesuffix("_rate"))
    ax.set_yticks(list(y), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("eval rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="grasp_and_reach")
    p.add_argument("--checkpoint", help="a .pt file or a run directory (default: the task's shipped specialist)")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", type=Path, required=True, help="output prefix: writes <out>.json and <out>.png")
    a = p.parse_args()
    from dexmani_training.cli_rl import resolve_checkpoint

    a.checkpoint = resolve_checkpoint(Path(a.checkpoint) if a.checkpoint else None, a.task)
    rows = sensitivity(a.checkpoint, a.task, a.episodes, a.seed, a.threads, progress=True)
    result = {"task": a.task, "checkpoint": str(a.checkpoint), "episodes": a.episodes, "seed": a.seed, "conditions": rows,
              "machine": machine_info()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, f"{a.task}: eval with randomization terms switched ({a.episodes} episodes each)", a.out.with_suffix(".png"))
    print(json.dumps({r["condition"]: round(r["success_rate"], 3) for r in rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
