#!/usr/bin/env bash
# Simulator throughput at 16 and 64 environments on this machine; results under benchmarks/results/.
# Run on an otherwise idle machine: the numbers are wall-clock rates.
set -euo pipefail
cd "$(dirname "$0")/.."
for n in 16 64; do
  dexmani bench sim --num-envs "$n" --seconds "${SECONDS_PER_MEASUREMENT:-10}" --json \
    --out "benchmarks/results/sim_${n}envs.json" > /dev/null
  python -c "import json; r=json.load(open('benchmarks/results/sim_${n}envs.json')); print(${n}, 'envs: ratio', round(r['ratio'],3), 'env steps/s', round(r['env_steps_per_s']))"
done
