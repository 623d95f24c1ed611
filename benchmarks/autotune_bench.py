"""Autotune benchmarks, printed as JSON and written to benchmarks/results/autotune_*.json.

* ``recovery``: a four-minute proxy bag (26 joints, /joint_states at 100 Hz, commands at 50 Hz)
  with hidden physics inside the search ranges, tuned with the defaults (random search K = 64,
  then block-wise CMA-ES) exactly as ``dexmani autotune`` does (read + tune + write): MSE before
  and after on the training and validation parts, the latency, per-arm-joint relative errors of
  kp, kd, armature, frictionloss, and the wall time.
* ``refine``: the same bag, random search alone vs random search + CMA-ES: MSE and time.
* ``scaling``: replay throughput (physics steps/s) vs K on a 20 s segment, and bare
  ``mujoco.rollout`` on the same models for reference.

The CPU is shared with other work on this machine, so wall times are pessimistic; ratios
measured in one run are the numbers to compare.

    python benchmarks/autotune_bench.py all            # about 5 minutes on 2 idle cores
    python benchmarks/autotune_bench.py scaling
    python benchmarks/autotune_bench.py ablation       # chirps to 2 Hz instead of 5 Hz (3 minutes)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from dexmani_training.autotune.bag import read_bag
from dexmani_training.autotune.bagwrite import write_joint_bag
from dexmani_training.autotune.config import AutotuneConfig, ExcitationConfig
from dexmani_training.autotune.excitation import generate_excitation
from dexmani_training.autotune.replay import Replay
from dexmani_training.autotune.tune import autotune, write_tuned
from dexmani_training.bench import machine_info
from gr1_description.physics import PhysicsParams
from gr1_sim.proxy import ProxyConfig, ProxyRobot

from gr1_description import joints as jt

RESULTS = Path(__file__).resolve().parent / "results"


def hidden_physics(seed: int = 7) -> PhysicsParams:
    """Hidden physics drawn inside the default search ranges (kp, kd ×0.6-1.6, armature ×0.5-2.5,
    frictionloss ×0.5-2 of the defaults; mimic k ×0.9-1.1, b ±0.05 rad; latency 25 ms)."""
    rng = np.random.default_rng(seed)
    p = PhysicsParams.default()
    for j in p.joints.values():
        j.kp *= rng.uniform(0.6, 1.6)
        j.kd *= rng.uniform(0.6, 1.6)
        j.armature *= rng.uniform(0.5, 2.5)
        j.frictionloss *= rng.uniform(0.5, 2.0)
    for m in p.mimic.values():
        m.k *= rng.uniform(0.9, 1.1)
        m.b += rng.uniform(-0.05, 0.05)
    p.latency_s = 0.025
    return p


def make_bag(folder: Path, duration_s: float, hidden: PhysicsParams, chirp_end_hz: float | None = None) -> tuple[Path, dict]:
    t0 = time.perf_counter()
    cfg = ExcitationConfig(duration_s=duration_s)
    if chirp_end_hz is not None:
        cfg.chirp_end_hz = chirp_end_hz
    exc = generate_excitation(cfg)
    rec = ProxyRobot(hidden, ProxyConfig()).run(exc.times_s, exc.targets_rad)
    bag = write_joint_bag(folder / "proxy_bag", state_t_s=rec.state_t_s, state_names=rec.state_names,
                          position=rec.position_rad, velocity=rec.velocity_rad_s, effort=rec.effort_nm,
                          command_t_s=rec.command_t_s, command_names=rec.command_names, command=rec.command_rad)
    info = {"bag_duration_s": float(rec.state_t_s[-1]), "state_rate_hz": 100.0, "command_rate_hz": exc.rate_hz,
            "joint_state_messages": int(rec.state_t_s.size), "joints_measured": len(rec.state_names),
            "proxy": {"backlash_rad": 0.004, "noise_rad": 0.0005, "latency_s": hidden.latency_s},
            "make_bag_s": time.perf_counter() - t0}
    return bag, info


def relative_errors(tuned: PhysicsParams, hidden: PhysicsParams) -> dict:
    arm = [j.name for j in jt.CONTROLLED_JOINTS if j.group == "arm"]
    hand = [j.name for j in jt.CONTROLLED_JOINTS if j.group == "hand"]
    out = {}
    for group, names in (("arm", arm), ("hand", hand)):
        for p in ("kp", "kd", "armature", "frictionloss"):
            err = {n: getattr(tuned.joints[n], p) / getattr(hidden.joints[n], p) - 1
                   for n in names if getattr(hidden.joints[n], p) > 0}
            if not err:
                continue
            vals = np.abs(np.array(list(err.values())))
            out[f"{group}_{p}"] = {
                "per_joint": {n: round(float(v), 4) for n, v in err.items()},
                "median_abs": float(np.median(vals)),
                "max_abs": float(np.max(vals)),
                "within_20pct": f"{int(np.sum(vals <= 0.2))}/{vals.size}",
            }
    out["mimic_k_abs_err_max"] = float(max(abs(tuned.mimic[n].k - hidden.mimic[n].k) for n in hidden.mimic))
    out["mimic_b_abs_err_max_rad"] = float(max(abs(tuned.mimic[n].b - hidden.mimic[n].b) for n in hidden.mimic))
    out["latency_err_s"] = float(tuned.latency_s - hidden.latency_s)
    return out


def fit_summary(result) -> dict:
    f = result.tuned.fit
    keys = [k for k in f if k.startswith("mse_")]
    out = {k: f[k] for k in keys}
    out["train_gain"] = f["mse_before"] / f["mse_after"]
    out["validation_gain"] = f["mse_validation_before"] / f["mse_validation_after"]
    out["latency_s"] = result.tuned.latency_s
    out["latency_estimate_s"] = f["latency_estimate_s"]
    out["evaluations"] = f["search"]["evaluations"]
    out["physics_steps"] = result.info["physics_steps"]
    out["steps_per_s"] = result.info["steps_per_s"]
    out["stages"] = result.trace.stages
    return out


def bench_recovery_and_refine(duration_s: float, folder: Path) -> tuple[dict, dict]:
    hidden = hidden_physics()
    bag, bag_info = make_bag(folder, duration_s, hidden)
    # Default settings, timed as the CLI runs them: read + tune + write.
    t0 = time.perf_counter()
    res = autotune(bag, AutotuneConfig(), progress=False)
    write_tuned(res, folder / "tuned.yaml")
    wall_default = time.perf_counter() - t0
    recovery = {"benchmark": "autotune_recovery", **bag_info, "config": "defaults (K=64, CMA-ES 30 x 16, the first 40% with per-joint latency offsets)",
                "wall_s_read_tune_write": wall_default, "fit": fit_summary(res),
                "recovery": relative_errors(res.tuned, hidden)}
    # Random search alone on the same recording (read once more from the bag, as the CLI would).
    cfg = AutotuneConfig()
    cfg.search.refine = "none"
    t0 = time.perf_counter()
    res_rs = autotune(bag, cfg, progress=False)
    wall_rs = time.perf_counter() - t0
    refine = {
        "benchmark": "autotune_refine",
        **bag_info,
        "random_search_only": {"wall_s": wall_rs, **{k: v for k, v in fit_summary(res_rs).items() if k != "stages"},
                               "recovery": relative_errors(res_rs.tuned, hidden)},
        "random_search_plus_cmaes": {"wall_s": wall_default, **{k: v for k, v in fit_summary(res).items() if k != "stages"}},
    }
    for r in (recovery, refine):
        r["machine"] = machine_info()
    return recovery, refine


def bench_chirp_ablation(duration_s: float, folder: Path) -> dict:
    """The recovery benchmark with 0.2-2 Hz chirps instead of the default 0.2-5 Hz."""
    hidden = hidden_physics()
    out = {"benchmark": "autotune_chirp_ablation",
           "note": "as autotune_recovery, but the excitation's chirps end at 2 Hz (default 5 Hz)"}
    bag, bag_info = make_bag(folder, duration_s, hidden, chirp_end_hz=2.0)
    t0 = time.perf_counter()
    res = autotune(bag, AutotuneConfig(), progress=False)
    out["chirp_end_2hz"] = {"wall_s": time.perf_counter() - t0, **bag_info,
                            **{k: v for k, v in fit_summary(res).items() if k != "stages"},
                            "recovery": relative_errors(res.tuned, hidden)}
    out["machine"] = machine_info()
    return out


def bench_scaling(folder: Path, seconds: float = 20.0, ks=(1, 2, 4, 8, 16, 32, 64)) -> dict:
    from mujoco import rollout

    hidden = hidden_physics()
    bag, _ = make_bag(folder, seconds + 2.0, hidden)
    rec = read_bag(bag)
    rng = np.random.default_rng(0)
    rows = []
    with Replay(rec, PhysicsParams.default()) as rp:
        for k in ks:
            cands = []
            for _ in range(k):
                p = copy.deepcopy(hidden)
                for j in p.joints.values():
                    j.kp *= rng.uniform(0.8, 1.2)
                cands.append(p)
            rp.mse(cands)  # warm-up (allocates the model copies)
            t0 = time.perf_counter()
            rp.mse(cands)
            dt = time.perf_counter() - t0
            models = rp._models_for(cands)
            state0 = rp._initial_states(models, cands)
            ctrl = rp.controls(np.zeros(k), 0, min(rp.nstep, 2000))
            t1 = time.perf_counter()
            if rp._pool is not None:
                rp._pool.rollout(models, rp._thread_datas, state0, ctrl)
            else:
                rollout.rollout(models, rp._thread_datas[0], state0, ctrl)
            bare = k * ctrl.shape[1] / (time.perf_counter() - t1)
            rows.append({"K": k, "replay_steps_per_s": k * rp.nstep / dt, "bare_rollout_steps_per_s": bare,
                         "seconds_per_candidate_minute": dt / k * 60.0 / rec.duration_s,
                         "ratio": (k * rp.nstep / dt) / bare})
        threads = rp.num_threads
    return {"benchmark": "autotune_scaling", "segment_s": rec.duration_s, "timestep_s": 0.005, "num_threads": threads,
            "rows": rows, "machine": machine_info()}


def _write(name: str, data: dict) -> None:
    # Other jobs on the machine slow the wall-clock numbers down; record how busy it was.
    data.setdefault("machine", {})["load_average_1_5_15min_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    print(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=("all", "recovery", "scaling", "ablation"),
                    help="all = scaling + recovery + refine; ablation (chirps to 2 Hz) runs only when named")
    ap.add_argument("--duration-s", type=float, default=239.0, help="excitation length (the bag is 1 s longer)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.which in ("all", "scaling"):
            _write("autotune_scaling", bench_scaling(folder / "s"))
        if args.which in ("all", "recovery"):
            (folder / "r").mkdir()
            recovery, refine = bench_recovery_and_refine(args.duration_s, folder / "r")
            _write("autotune_recovery", recovery)
            _write("autotune_refine", refine)
        if args.which == "ablation":
            (folder / "a").mkdir()
            ablation = bench_chirp_ablation(args.duration_s, folder / "a")
            rec = json.loads((RESULTS / "autotune_recovery.json").read_text()) if (RESULTS / "autotune_recovery.json").exists() else None
            if rec:
                ablation["chirp_end_5hz_default"] = {"wall_s": rec["wall_s_read_tune_write"],
                                                     **{k: v for k, v in rec["fit"].items() if k != "stages"},
                                                     "recovery": rec["recovery"]}
            _write("autotune_chirp_ablation", ablation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
