"""The "proxy-real" robot: a separately configured simulator standing in for the real GR1.

Autotune is tested and demonstrated on recordings whose ground truth is known. The proxy is the
robot model built with *hidden* physics (a physics YAML of the same format autotune writes) plus
effects the tuned simulator does not model, so a fit can never be perfect:

* gear backlash: the PD controller sees the motor side of a gear with play ``backlash_rad``
  (a play operator between joint and motor position), so the joint rests up to half the play
  away from where the model would put it, depending on the direction it came from;
* command latency: a command acts ``latency_s`` after it was sent (continuous time, applied on
  the physics step grid);
* encoder noise and quantization on the measured positions, velocities and torques.

The proxy returns plain arrays (``ProxyRecording``); ``dexmani_training.autotune`` writes them
into a rosbag2 exactly as ``ros2 bag record`` would. Nothing here imports ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np
from gr1_description.mjcf import ModelConfig, build_robot_model
from gr1_description.physics import PhysicsParams

from gr1_description import joints as jt


@dataclass
class ProxyConfig:
    """How the proxy robot differs from the simulator autotune fits. Units: s, rad, Hz."""

    timestep_s: float = 0.005
    state_rate_hz: float = 100.0  # measured /joint_states rate (a multiple of 1/timestep_s)
    backlash_rad: float = 0.004  # total play of each controlled joint's gear
    latency_s: float | None = None  # command → actuator delay; None: the physics file's latency_s
    noise_rad: float = 0.0005  # std of Gaussian encoder noise on measured positions
    velocity_noise_rad_s: float = 0.01  # std of noise on measured velocities
    encoder_resolution_rad: float = 2.0**-14  # measured positions are rounded to this step (0: off)
    velocity_resolution_rad_s: float = 2.0**-10  # measured velocities are rounded to this step (0: off)
    effort_resolution_nm: float = 2.0**-10  # reported torques are rounded to this step (0: off)
    include_mimic: bool = True  # measure the 10 underactuated finger joints as well
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)

    def validate(self) -> None:
        if self.timestep_s <= 0:
            raise ValueError(f"proxy timestep_s must be > 0, got {self.timestep_s}")
        if self.state_rate_hz <= 0:
            raise ValueError(f"proxy state_rate_hz must be > 0, got {self.state_rate_hz}")
        ratio = 1.0 / (self.state_rate_hz * self.timestep_s)
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise ValueError(
                f"proxy state_rate_hz {self.state_rate_hz} must divide the physics rate {1 / self.timestep_s:g} Hz"
            )
        for name in ("backlash_rad", "noise_rad", "velocity_noise_rad_s", "encoder_resolution_rad",
                     "velocity_resolution_rad_s", "effort_resolution_nm"):
            if getattr(self, name) < 0:
                raise ValueError(f"proxy {name} must be >= 0, got {getattr(self, name)}")
        if self.latency_s is not None and self.latency_s < 0:
            raise ValueError(f"proxy latency_s must be >= 0, got {self.latency_s}")


@dataclass
class ProxyRecording:
    """What the proxy robot measured and was commanded; times in seconds from the start."""

    state_t_s: np.ndarray  # (N,) measurement times
    state_names: tuple[str, ...]  # 26 controlled (+ 10 mimic) joint names
    position_rad: np.ndarray  # (N, J) measured (noisy, quantized) positions
    velocity_rad_s: np.ndarray  # (N, J)
    effort_nm: np.ndarray  # (N, J) actuator torque (0 for mimic joints)
    command_t_s: np.ndarray  # (M,) times the commands were sent
    command_names: tuple[str, ...]  # the 26 controlled joints
    command_rad: np.ndarray  # (M, 26)
    true_position_rad: np.ndarray  # (N, J) noise-free joint positions (for tests)
    latency_s: float = 0.0


class ProxyRobot:
    """The GR1 upper body with hidden physics, stepped with backlash, latency and noise."""

    def __init__(self, physics: PhysicsParams, cfg: ProxyConfig | None = None):
        self.cfg = cfg or ProxyConfig()
        self.cfg.validate()
        self.physics = physics
        self.latency_s = float(physics.latency_s if self.cfg.latency_s is None else self.cfg.latency_s)
        m = build_robot_model(self.cfg.model, physics)
        m.opt.timestep = self.cfg.timestep_s
        # The controller adds the backlash offset to the target; the joint range must not clip it.
        m.actuator_ctrllimited[:] = 0
        self.model = m
        self.data = mujoco.MjData(m)
        names = jt.joint_names()
        self.act = np.array([m.actuator(n).id for n in names])
        self.qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in names])
        self.dadr = np.array([m.jnt_dofadr[m.joint(n).id] for n in names])
        self.madr = np.array([m.jnt_qposadr[m.joint(n).id] for n in jt.mimic_names()])
        self.mdadr = np.array([m.jnt_dofadr[m.joint(n).id] for n in jt.mimic_names()])
        self.lower, self.upper = jt.lower_limits(), jt.upper_limits()
        self._driver = np.array([names.index(s.driver) for s in jt.MIMIC_JOINTS])
        self._mk = np.array([physics.mimic[s.name].k for s in jt.MIMIC_JOINTS])
        self._mb = np.array([physics.mimic[s.name].b for s in jt.MIMIC_JOINTS])

    def run(self, command_t_s: np.ndarray, commands_rad: np.ndarray, duration_s: float | None = None) -> ProxyRecording:
        """Follow ``commands_rad`` (M×26, canonical order), each sent at ``command_t_s`` (s).

        The robot starts at rest at the first command. Measurements are taken every
        ``1/state_rate_hz`` from t = 0 to ``duration_s`` (default: the last command time + 1 s).
        """
        cfg = self.cfg
        cmd_t = np.asarray(command_t_s, dtype=float)
        cmd = np.asarray(commands_rad, dtype=float)
        if cmd.ndim != 2 or cmd.shape[1] != jt.NUM_CONTROLLED or cmd.shape[0] != cmd_t.size or cmd_t.size == 0:
            raise ValueError(f"commands must be (M, {jt.NUM_CONTROLLED}) with M = len(command_t_s) > 0, got {cmd.shape}")
        if np.any(np.diff(cmd_t) < 0):
            raise ValueError("command times must be non-decreasing")
        if not np.all(np.isfinite(cmd)):
            raise ValueError("commands contain NaN or inf")
        duration = float(cmd_t[-1] + 1.0 if duration_s is None else duration_s)
        rng = np.random.default_rng(cfg.seed)
        m, d = self.model, self.data
        dt = cfg.timestep_s
        nstep = round(duration / dt)
        every = round(1.0 / (cfg.state_rate_hz * dt))

        mujoco.mj_resetData(m, d)
        q0 = np.clip(cmd[0], self.lower, self.upper)
        d.qpos[self.qadr] = q0
        d.qpos[self.madr] = self._mk * q0[self._driver] + self._mb
        mujoco.mj_forward(m, d)
        motor = q0.copy()
        half_play = 0.5 * cfg.backlash_rad

        n_meas = nstep // every + 1
        nj = jt.NUM_CONTROLLED + (len(jt.MIMIC_JOINTS) if cfg.include_mimic else 0)
        t_meas = np.zeros(n_meas)
        q_true = np.zeros((n_meas, nj))
        qd_true = np.zeros((n_meas, nj))
        eff = np.zeros((n_meas, nj))

        def measure(k: int) -> None:
            t_meas[k] = d.time
            q_true[k, :26] = d.qpos[self.qadr]
            qd_true[k, :26] = d.qvel[self.dadr]
            eff[k, :26] = d.actuator_force[self.act]
            if cfg.include_mimic:
                q_true[k, 26:] = d.qpos[self.madr]
                qd_true[k, 26:] = d.qvel[self.mdadr]

        measure(0)
        # Index of the command active at each step: the last one sent at or before t - latency.
        step_t = np.arange(nstep) * dt
        active = np.searchsorted(cmd_t, step_t - self.latency_s + 1e-9, side="right") - 1
        targets = np.clip(cmd[np.maximum(active, 0)], self.lower, self.upper)
        ctrl = d.ctrl
        act = self.act
        qadr = self.qadr
        k = 1
        for s in range(nstep):
            q = d.qpos[qadr]
            if half_play > 0:
                np.clip(motor, q - half_play, q + half_play, out=motor)
                ctrl[act] = targets[s] + (q - motor)
            else:
                ctrl[act] = targets[s]
            mujoco.mj_step(m, d)
            if (s + 1) % every == 0:
                measure(k)
                k += 1
        t_meas, q_true, qd_true, eff = t_meas[:k], q_true[:k], qd_true[:k], eff[:k]

        q_meas = q_true + rng.normal(0.0, cfg.noise_rad, q_true.shape) if cfg.noise_rad > 0 else q_true.copy()
        if cfg.encoder_resolution_rad > 0:
            q_meas = np.round(q_meas / cfg.encoder_resolution_rad) * cfg.encoder_resolution_rad
        qd_meas = qd_true + rng.normal(0.0, cfg.velocity_noise_rad_s, qd_true.shape) if cfg.velocity_noise_rad_s > 0 else qd_true.copy()
        if cfg.velocity_resolution_rad_s > 0:
            qd_meas = np.round(qd_meas / cfg.velocity_resolution_rad_s) * cfg.velocity_resolution_rad_s
        if cfg.effort_resolution_nm > 0:
            eff = np.round(eff / cfg.effort_resolution_nm) * cfg.effort_resolution_nm
        names = jt.joint_names() + (jt.mimic_names() if cfg.include_mimic else ())
        return ProxyRecording(
            state_t_s=t_meas,
            state_names=names,
            position_rad=q_meas,
            velocity_rad_s=qd_meas,
            effort_nm=eff,
            command_t_s=cmd_t.copy(),
            command_names=jt.joint_names(),
            command_rad=cmd.copy(),
            true_position_rad=q_true,
            latency_s=self.latency_s,
        )
