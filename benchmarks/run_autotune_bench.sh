#!/usr/bin/env bash
# Autotune benchmarks on this machine; results under benchmarks/results/autotune_*.json.
#   scaling:  replay physics steps/s vs K (20 s segment) and bare mujoco.rollout
#   recovery: a four-minute 26-joint proxy bag at 100 Hz, default settings, read + tune + write
#   refine:   the same bag, random search alone vs random search + CMA-ES
# About 5 minutes on 2 idle cores (over 10 when the cores are shared). Wall-clock numbers: run on an
# otherwise idle machine. `python benchmarks/autotune_bench.py ablation` adds the 2 Hz-chirp comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
"$PY" benchmarks/autotune_bench.py "${1:-all}" > /dev/null
"$PY" - <<'PYEOF'
import json, pathlib
r = pathlib.Path("benchmarks/results")
for name in ("autotune_scaling", "autotune_recovery", "autotune_refine"):
    p = r / f"{name}.json"
    if not p.exists():
        continue
    d = json.loads(p.read_text())
    if name == "autotune_scaling":
        print("replay steps/s by K:", {row["K"]: round(row["replay_steps_per_s"]) for row in d["rows"]})
    elif name == "autotune_recovery":
        f = d["fit"]
        print(f"4-min bag: {d['wall_s_read_tune_write']:.0f} s; MSE {f['mse_before']:.2e} -> {f['mse_after']:.2e} "
              f"(x{f['train_gain']:.0f}), validation x{f['validation_gain']:.0f}")
    else:
        a, b = d["random_search_only"], d["random_search_plus_cmaes"]
        print(f"random only: MSE {a['mse_after']:.2e} in {a['wall_s']:.0f} s; + CMA-ES: {b['mse_after']:.2e} in {b['wall_s']:.0f} s")
PYEOF
