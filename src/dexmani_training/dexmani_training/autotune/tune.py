"""The autotune pipeline: bag → fitted physics, its provenance and the data for the report.

1. read the bag and resample it (:mod:`.bag`); split off the last part for validation;
2. score the initial physics ("before") on both parts;
3. estimate the latency: cross-correlate the measured motion with the simulated motion at zero
   latency (:mod:`.latency`);
4. random search over K candidates, a latency grid search, block-wise CMA-ES (first with
   per-joint latency offsets, then without), a final latency grid search (:mod:`.search`), all
   on the training part;
5. score the result ("after") on both parts and write the tuned physics with a ``fit:`` block.
"""

from __future__ import annotations

import copy
import datetime as _dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gr1_description.physics import PhysicsParams

from gr1_description import joints as jt

from .bag import Recording, read_bag
from .config import AutotuneConfig
from .latency import estimate_delay_s
from .params import ParamSpace
from .replay import Replay
from .search import (
    SearchTrace,
    cmaes_refine,
    latency_search,
    objective,
    random_search,
    refine_with_latency_offsets,
)

IDENTIFIABILITY_NOTES = [
    ("damping and kd both act on the joint velocity and cannot be told apart; damping is kept at its "
    "initial value and kd carries their sum (kd_tuned + damping = what the data determines)"),
    "effort limits are only identifiable where the excitation saturates the actuator; off by default",
    ("frictionloss trades off against kp near rest (both shape the settled error) and against kd at low "
    "speed; expect wider errors on it than on kp"),
    ("hand joints: link inertias are tiny, so armature and kd of the fingers are weakly determined at a "
    "50 Hz grid; mimic k, b only where the bag measures the underactuated joints"),
]


@dataclass
class AutotuneResult:
    tuned: PhysicsParams
    initial: PhysicsParams
    recording: Recording
    train: Recording
    validation: Recording
    mse: dict[str, np.ndarray]  # before/after × train/validation → (channels,)
    sim: dict[str, np.ndarray]  # before/after × train/validation → (T, channels)
    trace: SearchTrace
    channel_names: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)


class _Evaluator:
    """Counts rollouts and drives the progress bar while scoring unit vectors."""

    def __init__(self, space: ParamSpace, replay: Replay, bar):
        self.space, self.replay, self.bar = space, replay, bar
        self.count = 0

    def __call__(self, u: np.ndarray) -> np.ndarray:
        out = np.empty((u.shape[0], self.replay.num_channels))
        step = max(1, min(u.shape[0], 16))
        for s in range(0, u.shape[0], step):
            rows = u[s : s + step]
            cands = [self.space.decode(x) for x in rows]
            offsets = None
            if self.space.offset_indices.size:
                offsets = np.stack([self.space.latency_offsets(x) for x in rows])
            out[s : s + step] = self.replay.mse(cands, offsets)
            self.count += len(cands)
            if self.bar is not None:
                self.bar.update(len(cands))
        return out


def planned_rollouts(cfg: AutotuneConfig, latency_points: int = 9) -> int:
    s = cfg.search
    n = 2 + s.population + 1 + 2 * (latency_points + 1) + 3
    if s.refine == "cmaes":
        n += s.cma_generations * s.cma_population + 1 + (2 if s.cma_offset_generations else 0)
    return n


def autotune(
    bag: str | Path,
    cfg: AutotuneConfig | None = None,
    initial: PhysicsParams | None = None,
    initial_source: str = "defaults",
    progress: bool = True,
    recording: Recording | None = None,
) -> AutotuneResult:
    """Fit the physics of ``bag``; nothing is written (see :func:`write_tuned`)."""
    cfg = cfg or AutotuneConfig()
    cfg.validate()
    t_start = time.perf_counter()
    initial = copy.deepcopy(initial or PhysicsParams.default())
    initial.fit = {}
    rec = recording if recording is not None else read_bag(bag, cfg.ingest)
    t_read = time.perf_counter() - t_start
    train, val = rec.split(cfg.ingest.validation_frac)
    space = ParamSpace(initial, cfg.search, rec.mimic_q_rad is not None)
    rng = np.random.default_rng(cfg.search.seed)
    trace = SearchTrace()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=planned_rollouts(cfg), desc="autotune rollouts", unit="sim", file=sys.stderr, leave=False)
    try:
        with Replay(train, initial, cfg.replay) as rp_train, Replay(val, initial, cfg.replay, base_model=rp_train.base) as rp_val:
            ev = _Evaluator(space, rp_train, bar)
            t0 = time.perf_counter()
            # Before: the initial physics, and the same at zero latency for the latency estimate.
            zero = copy.deepcopy(initial)
            zero.latency_s = 0.0
            sim_train = rp_train.simulate([initial, zero])
            if bar is not None:
                bar.update(2)
            mse_before_train = rp_train.errors(sim_train[:1])[0]
            est, apparent = estimate_latency(rp_train, sim_train[1])
            lat_lo, lat_hi = cfg.search.parameters["latency_s"].range
            est_clipped = float(np.clip(est, lat_lo, lat_hi))
            trace.add("before", 2, objective(mse_before_train), time.perf_counter() - t0,
                      latency_estimate_s=est, apparent_lag_s=apparent)

            u_start = space.with_latency(space.u0, est_clipped)
            u, u_mse = random_search(space, ev, u_start, cfg.search.population, rng, trace)
            u, u_mse = latency_search(space, ev, u, u_mse, est_clipped, 0.04, 9, trace)
            if cfg.search.refine == "cmaes":
                gens = cfg.search.cma_generations
                if cfg.search.cma_offset_generations > 0 and space.latency_index is not None:
                    offset_space = ParamSpace(initial, cfg.search, rec.mimic_q_rad is not None,
                                              latency_offsets_s=cfg.search.latency_offset_range_s)
                    ev_off = _Evaluator(offset_space, rp_train, bar)
                    u, u_mse = refine_with_latency_offsets(space, offset_space, ev_off, ev, u, u_mse, cfg.search, rng, trace)
                    ev.count += ev_off.count
                    gens -= cfg.search.cma_offset_generations
                u, u_mse = cmaes_refine(space, ev, u, u_mse, cfg.search, rng, trace, generations=gens)
            centre = space.decode(u).latency_s
            u, u_mse = latency_search(space, ev, u, u_mse, centre, 0.015, 9, trace)
            # Never report something worse than the initial physics on the training part.
            if objective(u_mse) > objective(mse_before_train):
                tuned = copy.deepcopy(initial)
            else:
                tuned = space.decode(u)
            t_search = time.perf_counter() - t0
            sims = {}
            sims["after_train"] = rp_train.simulate([tuned])[0]
            both_val = rp_val.simulate([initial, tuned])
            sims["before_validation"], sims["after_validation"] = both_val[0], both_val[1]
            sims["before_train"] = sim_train[0]
            if bar is not None:
                bar.update(3)
            mse = {
                "before_train": mse_before_train,
                "after_train": rp_train.errors(sims["after_train"][None])[0],
                "before_validation": rp_val.errors(both_val[:1])[0],
                "after_validation": rp_val.errors(both_val[1:])[0],
            }
            steps = rp_train.steps_simulated + rp_val.steps_simulated
    finally:
        if bar is not None:
            bar.total = bar.n  # the latency stages skip their refinement when it cannot help
            bar.refresh()
            bar.close()
    wall = time.perf_counter() - t_start
    channels = jt.joint_names() + (jt.mimic_names() if rec.mimic_q_rad is not None else ())
    info = {
        "latency_estimate_s": est,
        "apparent_lag_s": apparent,
        "evaluations": ev.count + 5,
        "physics_steps": int(steps),
        "steps_per_s": steps / max(t_search, 1e-9),
        "read_s": t_read,
        "search_s": t_search,
        "wall_s": wall,
        "searched": space.searched(),
        "num_coordinates": space.dim,
        "space_notes": space.notes,
        "initial_source": initial_source,
    }
    result = AutotuneResult(tuned, initial, rec, train, val, mse, sims, trace, channels, info)
    result.tuned.fit = fit_block(result, cfg)
    return result


def estimate_latency(replay: Replay, sim_zero_latency: np.ndarray) -> tuple[float, float]:
    """(latency, apparent lag) in s: the shift of the measured motion against the motion
    simulated at zero latency, and against the commands themselves (which includes the PD lag)."""
    rec, mask = replay.rec, replay.mask
    n = jt.NUM_CONTROLLED
    est = estimate_delay_s(sim_zero_latency[mask][:, :n], replay.measured[mask][:, :n], rec.rate_hz,
                           max_delay_s=0.25, min_delay_s=-0.05)
    apparent = estimate_delay_s(_command_on_grid(rec)[mask], rec.q_rad[mask], rec.rate_hz, max_delay_s=0.4, min_delay_s=-0.05)
    return est, apparent


def _command_on_grid(rec: Recording) -> np.ndarray:
    i = np.clip(np.searchsorted(rec.cmd_t_s, rec.t_s, side="right") - 1, 0, rec.cmd_t_s.size - 1)
    return rec.cmd_rad[i]


def _f(x: float) -> float:
    return float(f"{float(x):.6g}")


def fit_block(result: AutotuneResult, cfg: AutotuneConfig) -> dict[str, Any]:
    """The provenance written under ``fit:`` (plain YAML types only)."""
    m = result.mse
    n = jt.NUM_CONTROLLED
    src = result.recording.source
    per_joint = {
        name: {k: _f(m[key][i]) for k, key in (("before", "before_train"), ("after", "after_train"),
                                                ("validation_before", "before_validation"),
                                                ("validation_after", "after_validation"))}
        for i, name in enumerate(result.channel_names)
    }
    fit: dict[str, Any] = {
        "tool": "dexmani autotune",
        "created_utc": _dt.datetime.now(_dt.timezone.utc)  # noqa: UP017 (Python 3.10)
        .replace(microsecond=0).isoformat(),
        "bag": src.get("bag", ""),
        "state_topic": src.get("state_topic", ""),
        "command_topic": src.get("command_topic", ""),
        "command_type": src.get("command_type", ""),
        "metric": "joint position tracking MSE (rad^2), mean over the 26 controlled joints, open-loop replay",
        "mse_before": _f(m["before_train"][:n].mean()),
        "mse_after": _f(m["after_train"][:n].mean()),
        "mse_validation_before": _f(m["before_validation"][:n].mean()),
        "mse_validation_after": _f(m["after_validation"][:n].mean()),
    }
    if len(result.channel_names) > n:
        fit.update({
            "mse_mimic_before": _f(m["before_train"][n:].mean()),
            "mse_mimic_after": _f(m["after_train"][n:].mean()),
            "mse_mimic_validation_before": _f(m["before_validation"][n:].mean()),
            "mse_mimic_validation_after": _f(m["after_validation"][n:].mean()),
        })
    info = result.info
    q = src.get("quality", {})
    fit.update({
        "latency_estimate_s": _f(info["latency_estimate_s"]),
        "apparent_command_lag_s": _f(info["apparent_lag_s"]),
        "initial_physics": info["initial_source"],
        "searched": list(info["searched"]),
        "search": {
            "population": cfg.search.population,
            "refine": cfg.search.refine,
            "cma_generations": cfg.search.cma_generations if cfg.search.refine == "cmaes" else 0,
            "cma_population": cfg.search.cma_population,
            "seed": cfg.search.seed,
            "evaluations": int(info["evaluations"]),
            "wall_time_s": _f(info["wall_s"]),
        },
        "data": {
            "duration_s": _f(result.recording.duration_s),
            "train_s": _f(result.train.duration_s),
            "validation_s": _f(result.validation.duration_s),
            "rate_hz": _f(result.recording.rate_hz),
            "state_rate_hz": _f(q.get("state_rate_hz", 0.0)),
            "command_rate_hz": _f(q.get("command_rate_hz", 0.0)),
            "state_clock": q.get("state_clock", ""),
            "velocity": q.get("velocity", ""),
            "mimic_measured": bool(src.get("mimic_measured", False)),
            "dropped": {k: int(v) for k, v in q.items() if k.endswith(("unsorted", "duplicates", "nan_rows"))
                        or k in ("state_gaps", "invalid_grid_points", "malformed_messages")},
            "ignored_joints": list(q.get("ignored_joints", [])),
        },
        "randomization": {
            "kp_scale": [float(x) for x in cfg.randomization.kp_scale],
            "kd_scale": [float(x) for x in cfg.randomization.kd_scale],
            "note": "ranges multiply the tuned kp / kd of this file, so they are centred on the tuned values",
        },
        "per_joint": per_joint,
        "notes": IDENTIFIABILITY_NOTES + list(info["space_notes"]),
    })
    return fit


def write_tuned(result: AutotuneResult, out: str | Path, force: bool = False) -> None:
    """Write the tuned physics YAML atomically; refuse to replace a file unless ``force``."""
    result.tuned.save(out, force=force)
