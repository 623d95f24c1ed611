"""Training throughput vs the bare simulator, for one task, in one process:

1. ``sim``: the batched simulator of the task's scene through the environment API (what
   ``dexmani bench sim`` measures), same number of envs and threads;
2. ``task_env``: the task environment with random actions (adds actions, rewards, stages,
   randomization, observations, resets);
3. ``train``: PPO iterations (rollout with policy inference + the update) — env steps per
   second of wall time, and the split between collection and learning.

    python benchmarks/train_throughput.py --task grasp_and_reach --num-envs 64 --seconds 20 \
        --out benchmarks/results/train_throughput_grasp_and_reach.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from dexmani_training.bench import bench_env, machine_info, print_json
from dexmani_training.rl.train import Trainer, TrainConfig
from dexmani_training.tasks import make_env, task_config
from gr1_sim.batch import BatchedSim


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="grasp_and_reach")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--torch-threads", type=int, help="default: 1 in the rollout, all cores in the update")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    cfg = task_config(a.task, {"num_envs": a.num_envs})

    env = make_env(cfg, seed=0)
    sim = BatchedSim(env.sim.scenes, a.num_envs, seed=0)
    sim_rate = bench_env(sim, a.seconds)["env_steps_per_s"]
    sim.close()

    for _ in range(3):
        env.step(torch.rand(a.num_envs, env.num_actions) * 2 - 1)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        env.step(torch.rand(a.num_envs, env.num_actions) * 2 - 1)
        steps += a.num_envs
    task_rate = steps / (time.perf_counter() - t0)
    env.close()

    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(Path(tmp) / "run", cfg, TrainConfig(iterations=a.iterations, save_interval=10**6, torch_threads=a.torch_threads), 0,
                     progress=False)
        tr.run(2)  # warm-up
        rows0 = len((Path(tmp) / "run" / "progress.jsonl").read_text().splitlines())
        t0 = time.perf_counter()
        tr.run(2 + a.iterations)
        wall = time.perf_counter() - t0
        rows = [json.loads(x) for x in (Path(tmp) / "run" / "progress.jsonl").read_text().splitlines()[rows0:]]
    n = sum(1 for _ in rows) * tr.train.ppo.num_steps_per_env * a.num_envs
    collect = sum(r["collect_s"] for r in rows)
    learn = sum(r["learn_s"] for r in rows)
    result = {
        "task": a.task, "num_envs": a.num_envs, "torch_threads": a.torch_threads,
        "sim_env_steps_per_s": sim_rate,
        "task_env_steps_per_s": task_rate,
        "train_env_steps_per_s": n / wall,
        "train_collect_steps_per_s": n / collect,
        "train_learn_s_per_iteration": learn / len(rows),
        "ratio_task_env_to_sim": task_rate / sim_rate,
        "ratio_train_to_sim": (n / wall) / sim_rate,
        "machine": machine_info(),
    }
    print_json(result, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
