"""Throughput benchmarks of the simulator, printed as JSON.

``env_steps_per_s`` counts control steps of the full environment API (targets in, the state a
task reads out) for all environments together. ``physics_steps_per_s`` is bare MuJoCo stepping
(``mujoco.rollout`` over the same models, environments and threads) measured in the same run:
the physical limit of the machine. ``ratio`` compares the physics steps the environment API
achieves with that limit.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import mujoco
import numpy as np
from mujoco import rollout


def named_items(items: list[str], parser, what: str = "CHECKPOINT") -> list[tuple[str, str]]:
    """Benchmark arguments given as ``NAME=VALUE`` (e.g. ``cg6=runs/cfg/cg6_562.pt``), as
    (name, value) pairs; ``parser.error`` (an argparse parser's: exits) on any other form."""
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            parser.error(f"expected NAME={what}, got {item!r}")
        pairs.append((name, value))
    return pairs


def print_json(result: dict[str, Any], out=None) -> None:
    """Print ``result`` as indented JSON on stdout and, with ``out`` (a path), also write it there
    (parent folders made): what every benchmark prints and commits."""
    import json
    from pathlib import Path

    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mujoco": mujoco.__version__,
        "numpy": np.__version__,
    }


def _random_targets(rng: np.random.Generator, sim, amplitude_rad: float) -> np.ndarray:
    t = sim.default_qpos + rng.uniform(-amplitude_rad, amplitude_rad, size=(sim.num_envs, sim.default_qpos.size))
    return np.clip(t, sim.lower, sim.upper)


def bench_env(sim, seconds: float, seed: int = 0, amplitude_rad: float = 0.3) -> dict[str, float]:
    """Control steps of the environment API per second (all environments together)."""
    rng = np.random.default_rng(seed)
    for _ in range(3):
        sim.step(_random_targets(rng, sim, amplitude_rad))
    steps = 0
    t0 = time.perf_counter()
    while True:
        sim.step(_random_targets(rng, sim, amplitude_rad))
        # What a task reads every control step.
        sim.joint_pos(), sim.joint_vel(), sim.fingertip_pos(), sim.object_pose(), sim.object_vel()
        steps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    n = sim.num_envs * steps
    return {"env_steps_per_s": n / elapsed, "env_physics_steps_per_s": n * sim.decimation / elapsed}


def bench_bare_physics(sim, seconds: float, num_threads: int, seed: int = 0, amplitude_rad: float = 0.3) -> float:
    """Physics steps per second of ``mujoco.rollout`` on the same models, envs and threads."""
    rng = np.random.default_rng(seed)
    models = sim.models
    m0 = models[0]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    nstate = mujoco.mj_stateSize(m0, spec)
    state0 = np.zeros((sim.num_envs, nstate))
    for i, d in enumerate(sim.datas):
        mujoco.mj_getState(models[i], d, state0[i], spec)
    datas = [mujoco.MjData(m0) for _ in range(num_threads)]
    nstep = sim.decimation * 10
    ctrl = np.zeros((sim.num_envs, nstep, m0.nu))
    ctrl[:] = _random_targets(rng, sim, amplitude_rad)[:, None, sim.scene.actuator_ids.argsort()]
    state_out = np.empty((sim.num_envs, nstep, nstate))
    with rollout.Rollout(nthread=num_threads) as r:
        r.rollout(models, datas, state0, ctrl, state=state_out)  # warm-up
        calls = 0
        t0 = time.perf_counter()
        while True:
            r.rollout(models, datas, state0, ctrl, state=state_out)
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
    return sim.num_envs * nstep * calls / elapsed


def bench_render(scene, seconds_per_case: float = 1.0) -> dict[str, Any]:
    """Frames/s of depth + segmentation (one pass) and of RGB, per camera and resolution."""
    from gr1_sim.render import SceneRenderer, select_gl_backend

    data = mujoco.MjData(scene.model)
    mujoco.mj_forward(scene.model, data)
    out: dict[str, Any] = {"gl_backend": select_gl_backend()}
    with SceneRenderer(scene) as r:
        for cam_name, cam in scene.config.cameras.items():
            for label, (w, h) in {"train": (cam.train_width, cam.train_height), "full": (cam.width, cam.height)}.items():
                for kind, kw in {"depth_seg": dict(rgb=False), "rgb": dict(depth=False, segmentation=False)}.items():
                    r.render(data, cam_name, w, h, **kw)
                    n, t0 = 0, time.perf_counter()
                    while time.perf_counter() - t0 < seconds_per_case:
                        r.render(data, cam_name, w, h, **kw)
                        n += 1
                    out[f"{cam_name}_{label}_{w}x{h}_{kind}_fps"] = n / (time.perf_counter() - t0)
    return out


def bench_sim(
    scene_name: str = "tabletop",
    num_envs: int = 64,
    seconds: float = 10.0,
    num_threads: int | None = None,
    render: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    from gr1_sim.batch import BatchedSim, default_num_threads
    from gr1_sim.scene import build_scene

    threads = num_threads or default_num_threads()
    scene = build_scene(scene_name)
    sim = BatchedSim(scene, num_envs=num_envs, seed=seed, num_threads=threads)
    try:
        env = bench_env(sim, seconds, seed)
        bare = bench_bare_physics(sim, seconds, threads, seed)
    finally:
        sim.close()
    result: dict[str, Any] = {
        "benchmark": "sim",
        "scene": scene_name,
        "num_envs": num_envs,
        "num_threads": threads,
        "seconds_per_measurement": seconds,
        "timestep_s": scene.config.timestep_s,
        "control_decimation": scene.config.control_decimation,
        "env_steps_per_s": env["env_steps_per_s"],
        "env_physics_steps_per_s": env["env_physics_steps_per_s"],
        "physics_steps_per_s": bare,
        "ratio": env["env_physics_steps_per_s"] / bare,
        "realtime_factor": env["env_physics_steps_per_s"] * scene.config.timestep_s,
    }
    if render:
        result["render"] = bench_render(scene)
    result["machine"] = machine_info()
    return result
