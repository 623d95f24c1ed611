"""Training throughput vs the bare simulator, for one task, in one process:

1. ``sim``: the batched simulator of the task's scene through the environment API (what
   ``dexmani bench sim`` measures), same number of envs and threads;
2. ``task_env``: the task environment with random actions (adds actions, rewards, stages,
   randomization, observations, resets);
3. ``train``: PPO iterations (rollout with policy inference + the update) — env steps per
   second of wall time, and the split between collection and learning.

    python benchmarks/train_throughput.py --task grasp_and_reach --num-envs 64 --seconds 20 \
        --out benchmarks/results/train_throughput_grasp_and_reach.json

``--device cuda`` puts the networks, the rollout storage and the update on the GPU (the simulator
always steps on CPU threads); benchmarks/run_train_throughput_gpu.sh sweeps envs and devices on a
GPU machine.
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


def measure_train(cfg, iterations: int, torch_threads: int | None, threads: int | None, device: str) -> dict:
    """PPO iterations on ``device`` after two warm-up iterations: env steps per second of wall
    time and the split between collection (simulator + policy inference + transfers) and the
    update."""
    with tempfile.TemporaryDirectory() as tmp:
        train = TrainConfig(iterations=iterations, save_interval=10**6, torch_threads=torch_threads,
                            num_threads=threads, device=device)
        tr = Trainer(Path(tmp) / "run", cfg, train, 0, progress=False)
        tr.run(2)  # warm-up (CUDA kernels, allocator, first resets)
        rows0 = len((Path(tmp) / "run" / "progress.jsonl").read_text().splitlines())
        t0 = time.perf_counter()
        tr.run(2 + iterations)
        wall = time.perf_counter() - t0
        rows = [json.loads(x) for x in (Path(tmp) / "run" / "progress.jsonl").read_text().splitlines()[rows0:]]
        tr.env.close()
    n = len(rows) * tr.train.ppo.num_steps_per_env * cfg.num_envs
    collect = sum(r["collect_s"] for r in rows)
    learn = sum(r["learn_s"] for r in rows)
    return {
        "device": tr.device, "gpu": torch.cuda.get_device_name(tr.device) if tr.device.startswith("cuda") else None,
        "samples_per_iteration": tr.train.ppo.num_steps_per_env * cfg.num_envs, "iterations": len(rows),
        "train_env_steps_per_s": n / wall,
        "train_collect_steps_per_s": n / collect,
        "train_learn_s_per_iteration": learn / len(rows),
        "learn_share": learn / (collect + learn),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="grasp_and_reach")
    p.add_argument("--num-envs", default="64", help="env count, or a comma list to sweep (e.g. 256,1024,4096)")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--torch-threads", type=int, help="default: 1 in the rollout, all cores in the update")
    p.add_argument("--threads", type=int, help="simulator threads (default: all cores)")
    p.add_argument("--device", default="cpu", help="training device: cpu | cuda | auto, or a comma list (e.g. cuda,cpu)")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    rows = []
    for num_envs in [int(x) for x in a.num_envs.split(",")]:
        cfg = task_config(a.task, {"num_envs": num_envs})
        t0 = time.perf_counter()
        env = make_env(cfg, seed=0, num_threads=a.threads)
        build_s = time.perf_counter() - t0
        sim = BatchedSim(env.sim.scenes, num_envs, seed=0, num_threads=a.threads)
        sim_rate = bench_env(sim, a.seconds)["env_steps_per_s"]
        sim.close()

        for _ in range(3):
            env.step(torch.rand(num_envs, env.num_actions) * 2 - 1)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < a.seconds:
            env.step(torch.rand(num_envs, env.num_actions) * 2 - 1)
            steps += num_envs
        task_rate = steps / (time.perf_counter() - t0)
        env.close()

        for device in a.device.split(","):
            train = measure_train(cfg, a.iterations, a.torch_threads, a.threads, device)
            row = {
                "task": a.task, "num_envs": num_envs, "torch_threads": a.torch_threads, "sim_threads": a.threads,
                "env_build_s": build_s,
                "sim_env_steps_per_s": sim_rate,
                "task_env_steps_per_s": task_rate,
                **train,
                "ratio_task_env_to_sim": task_rate / sim_rate,
                "ratio_train_to_sim": train["train_env_steps_per_s"] / sim_rate,
                "machine": {**machine_info(), "torch": torch.__version__},
            }
            rows.append(row)
            print(f"{a.task} {num_envs} envs on {row['device']}: sim {sim_rate:.0f}, task env {task_rate:.0f}, "
                  f"train {row['train_env_steps_per_s']:.0f} env steps/s (update {row['train_learn_s_per_iteration']:.2f} s "
                  f"per {row['samples_per_iteration']}-sample iteration)", file=sys.stderr, flush=True)
            if a.out and len(rows) > 1:  # what was measured so far survives a killed sweep
                a.out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print_json(rows[0] if len(rows) == 1 else {"rows": rows}, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
