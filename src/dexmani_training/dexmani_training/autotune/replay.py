"""Open-loop replay of recorded commands in K simulators at once (``mujoco.rollout``).

Every candidate starts from the recorded initial state (measured positions and velocities; the
underactuated finger joints from their measurement or from the candidate's own k, b) and
receives the recorded commands, delayed by the candidate's latency. A command holds until the
next one; each 5 ms physics step gets the mean of the delayed command signal over that step,
so any latency — not only multiples of the timestep — changes the result smoothly. Joint
positions are read at the control-rate grid and compared with the measurement: the metric is
the mean squared tracking error per joint (rad²) over the valid grid points.
"""

from __future__ import annotations

import copy
import os

import mujoco
import numpy as np
from gr1_description.mjcf import ModelConfig
from gr1_description.physics import PhysicsParams
from mujoco import rollout

from gr1_description import joints as jt

from .bag import Recording
from .config import ReplayConfig
from .model import ModelTables, apply_physics, build_replay_model

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


def default_num_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class CommandSignal:
    """The piecewise-constant command stream and its running integral (for step averages)."""

    def __init__(self, t_s: np.ndarray, values: np.ndarray):
        self.t = np.asarray(t_s, dtype=float)
        self.v = np.asarray(values, dtype=float)
        dt = np.diff(self.t)
        self.cum = np.concatenate([np.zeros((1, self.v.shape[1])), np.cumsum(self.v[:-1] * dt[:, None], axis=0)])

    def integral(self, t: np.ndarray) -> np.ndarray:
        """∫ from the first command to ``t`` (any shape) → shape + (26,). Before the first
        command the first value is extended backwards."""
        i = np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, self.t.size - 1)
        return self.cum[i] + self.v[i] * (t - self.t[i])[..., None]

    def step_means(self, t_start: np.ndarray, dt: float) -> np.ndarray:
        """Mean command over [t, t + dt) for each t."""
        return (self.integral(t_start + dt) - self.integral(t_start)) / dt

    def column_integral(self, t: np.ndarray) -> np.ndarray:
        """Like :meth:`integral`, but ``t`` (..., 26) holds one time per joint."""
        i = np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, self.t.size - 1)
        cols = np.arange(self.v.shape[1])
        return self.cum[i, cols] + self.v[i, cols] * (t - self.t[i])

    def column_step_means(self, t_start: np.ndarray, dt: float) -> np.ndarray:
        return (self.column_integral(t_start + dt) - self.column_integral(t_start)) / dt


class Replay:
    """Simulates candidate physics on one recording segment and scores them against it."""

    def __init__(
        self,
        recording: Recording,
        base_physics: PhysicsParams,
        cfg: ReplayConfig | None = None,
        model_cfg: ModelConfig | None = None,
        base_model: mujoco.MjModel | None = None,
    ):
        self.cfg = cfg or ReplayConfig()
        self.cfg.validate()
        self.rec = recording
        self.base_physics = base_physics
        self.base = base_model if base_model is not None else build_replay_model(base_physics, self.cfg.timestep_s, model_cfg)
        self.base.opt.timestep = self.cfg.timestep_s
        self.tables = ModelTables.of(self.base)
        dt = self.cfg.timestep_s
        dec = 1.0 / (recording.rate_hz * dt)
        if abs(dec - round(dec)) > 1e-6 or round(dec) < 1:
            raise ValueError(f"control rate {recording.rate_hz} Hz must divide the physics rate {1 / dt:g} Hz")
        self.decimation = round(dec)
        self.num_ticks = recording.t_s.size
        self.nstep = (self.num_ticks - 1) * self.decimation
        self.signal = CommandSignal(recording.cmd_t_s, recording.cmd_rad)
        self.with_mimic = recording.mimic_q_rad is not None
        self.num_channels = jt.NUM_CONTROLLED + (len(jt.MIMIC_JOINTS) if self.with_mimic else 0)
        self.measured = recording.q_rad if not self.with_mimic else np.concatenate([recording.q_rad, recording.mimic_q_rad], axis=1)
        mask = recording.valid.copy()
        mask[0] = False  # the initial state is copied, not simulated
        self.mask = mask
        t = self.tables
        self.channel_qpos = np.concatenate([t.qpos_adr, t.mimic_qpos_adr]) if self.with_mimic else t.qpos_adr
        self.nstate = mujoco.mj_stateSize(self.base, STATE_SPEC)
        self.num_threads = self.cfg.num_threads or default_num_threads()
        self._models: list[mujoco.MjModel] = []
        self._data = mujoco.MjData(self.base)
        self._thread_datas = [mujoco.MjData(self.base) for _ in range(self.num_threads)]
        self._pool = rollout.Rollout(nthread=self.num_threads) if self.num_threads > 1 else None
        self.steps_simulated = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Replay:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- candidates -------------------------------------------------------------------------
    def _models_for(self, candidates: list[PhysicsParams]) -> list[mujoco.MjModel]:
        while len(self._models) < len(candidates):
            self._models.append(copy.copy(self.base))
        for m, p in zip(self._models, candidates):
            apply_physics(m, p, self.tables, self._data)
        return self._models[: len(candidates)]

    def _initial_states(self, models, candidates) -> np.ndarray:
        t, rec, d = self.tables, self.rec, self._data
        out = np.zeros((len(candidates), self.nstate))
        q0, qd0 = rec.q_rad[0], rec.qd_rad_s[0]
        for i, (m, p) in enumerate(zip(models, candidates)):
            mujoco.mj_resetData(m, d)
            d.qpos[t.qpos_adr] = q0
            d.qvel[t.dof_adr] = qd0
            k = np.array([p.mimic[n].k for n in jt.mimic_names()])
            b = np.array([p.mimic[n].b for n in jt.mimic_names()])
            d.qpos[t.mimic_qpos_adr] = rec.mimic_q_rad[0] if self.with_mimic else k * q0[t.mimic_driver] + b
            d.qvel[t.mimic_dof_adr] = k * qd0[t.mimic_driver]
            mujoco.mj_getState(m, d, out[i], STATE_SPEC)
        return out

    def controls(self, latency_s: np.ndarray, step0: int, nsteps: int, offsets_s: np.ndarray | None = None) -> np.ndarray:
        """Actuator controls (K, nsteps, nu) for physics steps [step0, step0 + nsteps).

        ``offsets_s`` (K, 26) adds a per-joint delay to each candidate's latency (the search
        uses it to let each joint settle its own latency before agreeing on one)."""
        dt = self.cfg.timestep_s
        t = (step0 + np.arange(nsteps)) * dt
        starts = t[None, :] - np.asarray(latency_s, dtype=float)[:, None]
        if offsets_s is None:
            means = self.signal.step_means(starts, dt)
        else:
            means = self.signal.column_step_means(starts[:, :, None] - np.asarray(offsets_s)[:, None, :], dt)
        ctrl = np.zeros((starts.shape[0], nsteps, self.base.nu))
        ctrl[:, :, self.tables.actuator_ids] = means
        return ctrl

    # --- simulate ---------------------------------------------------------------------------
    def simulate(self, candidates: list[PhysicsParams], latency_offsets_s: np.ndarray | None = None) -> np.ndarray:
        """Simulated joint positions on the grid, (K, T, channels): 26 controlled (+ 10 mimic)."""
        k = len(candidates)
        models = self._models_for(candidates)
        state = self._initial_states(models, candidates)
        latency = np.array([p.latency_s for p in candidates])
        out = np.empty((k, self.num_ticks, self.num_channels))
        out[:, 0, :26] = self.rec.q_rad[0]
        if self.with_mimic:
            out[:, 0, 26:] = self.rec.mimic_q_rad[0]
        chunk = self.cfg.chunk_steps
        qcols = 1 + self.channel_qpos  # the state vector starts with time
        buf = np.empty((k, min(chunk, max(self.nstep, 1)), self.nstate))
        for s0 in range(0, self.nstep, chunk):
            n = min(chunk, self.nstep - s0)
            ctrl = self.controls(latency, s0, n, latency_offsets_s)
            st = buf if n == buf.shape[1] else np.empty((k, n, self.nstate))  # rollout needs contiguous output
            if self._pool is not None:
                self._pool.rollout(models, self._thread_datas, state, ctrl, state=st)
            else:
                rollout.rollout(models, self._thread_datas[0], state, ctrl, state=st)
            steps = s0 + np.arange(n) + 1
            sel = steps % self.decimation == 0
            ticks = steps[sel] // self.decimation
            out[:, ticks] = st[:, sel][:, :, qcols]
            state = st[:, n - 1].copy()
        self.steps_simulated += k * self.nstep
        return out

    def errors(self, sim: np.ndarray) -> np.ndarray:
        """Per-channel MSE (K, channels) of simulated trajectories; inf where a sim diverged."""
        diff = sim[:, self.mask] - self.measured[None, self.mask]
        mse = np.mean(diff**2, axis=1)
        bad = ~np.all(np.isfinite(sim), axis=(1, 2))
        mse[bad] = np.inf
        return mse

    def mse(self, candidates: list[PhysicsParams], latency_offsets_s: np.ndarray | None = None) -> np.ndarray:
        return self.errors(self.simulate(candidates, latency_offsets_s))
