#!/usr/bin/env bash
# Perception benchmarks; results under benchmarks/results/perception_*.json.
# Latencies are wall-clock: run on an otherwise idle machine. Single-core numbers use one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
FRAMES="${FRAMES:-200}"
# Centroid accuracy: far (0.65-0.9 m, third-view tripod) and near (0.4-0.65 m: the tripod moved
# nearer, and the head camera). LATENCY_FROM=FILE keeps that file's latency numbers instead of
# this run's (for accuracy re-runs on a busy machine).
python benchmarks/perception_bench.py centroid --frames "$FRAMES" ${LATENCY_FROM:+--latency-from "$LATENCY_FROM"} \
  --out benchmarks/results/perception_centroid.json
python benchmarks/perception_bench.py classical --frames "$FRAMES" --out benchmarks/results/perception_classical.json
if python -c "import sam2" 2>/dev/null; then
  # torch's intra-op threads are set per run (1 and all cores) by the script itself.
  env -u OMP_NUM_THREADS python benchmarks/perception_bench.py sam2 --frames "${SAM2_FRAMES:-5}" --sizes 1024,512 \
    --threads "1,$(python -c "import os; print(len(os.sched_getaffinity(0)))")" --out benchmarks/results/perception_sam2_cpu.json
  if python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    python benchmarks/perception_bench.py sam2 --device cuda --frames 20 --sizes 1024,512 --threads 1 \
      --out benchmarks/results/perception_sam2_cuda.json
  fi
else
  echo "sam2 not installed: skipping the SAM2 benchmark (see src/dexmani_perception/README.md)" >&2
fi
python - <<'PY'
import json
c = json.load(open("benchmarks/results/perception_centroid.json"))
for setting, by_objects in c["results"].items():
    for k, r in by_objects.items():
        lo, hi = r["distance_m_observed"]
        print(f"centroid {setting} ({k}, {lo:.2f}-{hi:.2f} m): median {r['centroid_error_mm_median']:.1f} mm, "
              f"p90 {r['centroid_error_mm_p90']:.1f} mm")
k = json.load(open("benchmarks/results/perception_classical.json"))
t = k["single_core_pipeline_640x480"]
print(f"classical: IoU median {k['eval']['train']['mask_iou_median']:.3f} (train) {k['eval']['novel']['mask_iou_median']:.3f} (novel); "
      f"pipeline {t['total_ms_median']:.1f} ms median on one core")
PY
