"""Domain randomization: one named, switchable term per row of the paper's Table 4, plus
actuator (action) lag and observation (frame) lag.

Each term has its range in :class:`RandomizationConfig` and says when it acts:

| term | range (default) | applied |
| --- | --- | --- |
| ``object_mass`` | the object's mass range, [0.03, 0.1] kg for primitives | at reset, per env |
| ``object_friction`` | [0.5, 1.5] (sliding coefficient) | at reset |
| ``object_scale`` | ×U(0.95, 1.05) on size (mass set separately) | at reset |
| ``object_position`` | +U(−0.02, 0.02) m on x and y | at reset |
| ``object_yaw`` | +U(−0.75, 0.75) rad | at reset |
| ``hand_friction`` | [0.5, 1.5] on every hand geom | at reset |
| ``p_gain`` | ×U(0.8, 1.1) on each actuator's kp | at reset |
| ``d_gain`` | ×U(0.7, 1.2) on each actuator's kd | at reset |
| ``random_force`` | N(0, 1)·2.0·mass newtons on the object, new with prob. 0.2 per 0.1 s, decaying ×0.99 per 0.1 s | every control step |
| ``object_position_noise`` | +U(−0.02, 0.02) m on the observed object position | every step |
| ``joint_position_noise`` | +N(0, 0.4°) on observed joint positions | every step |
| ``action_noise`` | +N(0, 0.1) on normalized actions | every step |
| ``frame_lag`` | prob. 0.1 the actor sees the previous observation | every step |
| ``action_lag`` | prob. 0.1 the motors get the previous step's joint targets (a command one step late) | every step |
| ``camera_position`` | +U(−0.005, 0.005) m per axis | at reset |
| ``camera_rotation`` | rotation by U(0, 5°) about a random axis | at reset |
| ``camera_fov`` | vertical field of view +U(−5°, 5°) | at reset |

Every term's size follows ``strength`` (1 by default): a curriculum can start training at a
fraction of the ranges and grow them (``TrainConfig.randomization_curriculum``).

Action noise is added to the normalized action, as the table says; with relative actions it
therefore also moves the runtime's integrated targets. Action lag is a command one step late:
the motors get the runtime's previous targets while the runtime has already integrated the new
action, which reaches the motors with the next step. (An earlier version applied the previous *action*
again, which for relative actions loses the new one and repeats the old one: a position error,
not a delay. Measured on one grasp_and_reach checkpoint, 100 episodes: with only this term on,
success 0.77 with the late command and 0.63 with the substitution (0.68 with no term); with
every term on, 0.33 and 0.26.)
Noise on the commanded targets instead of the action was tried and dropped: the grasp holds
the finger targets at the closed joint limit, where action noise is clipped away but target
noise of 0.02 rad opens the grip (one checkpoint: success 0.68 without noise, 0 with it).

The paper gives joint observation noise as "N(0, 0.4)" without units; 0.4 rad would hide the
arm's pose entirely, so we read it as 0.4 degrees (encoder-level noise). The gains are scaled
relative to the model's own values, so with ``--physics tuned.yaml`` the ranges are centred on
the tuned gains. Camera terms perturb each environment's cameras (what its renderer sees); the
state-based specialists do not look at images, the perception and student pipelines do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np
from gr1_sim.objects import set_body_mass


@dataclass
class RandomizationConfig:
    """Ranges are (low, high); a term acts only if its name is in ``enabled``."""

    enabled: tuple[str, ...] = (
        "object_mass", "object_friction", "object_scale", "object_position", "object_yaw", "hand_friction",
        "p_gain", "d_gain", "random_force", "object_position_noise", "joint_position_noise", "action_noise",
        "frame_lag", "action_lag", "camera_position", "camera_rotation", "camera_fov",
    )
    object_mass_kg: tuple[float, float] | None = None  # None: the object's own range
    object_friction: tuple[float, float] = (0.5, 1.5)
    object_scale: tuple[float, float] = (0.95, 1.05)
    object_position_m: tuple[float, float] = (-0.02, 0.02)
    object_yaw_rad: tuple[float, float] = (-0.75, 0.75)
    hand_friction: tuple[float, float] = (0.5, 1.5)
    p_gain_scale: tuple[float, float] = (0.8, 1.1)
    d_gain_scale: tuple[float, float] = (0.7, 1.2)
    random_force_scale: float = 2.0  # × object mass → newtons
    random_force_probability: float = 0.2  # per random_force_interval_s
    random_force_decay: float = 0.99  # per random_force_interval_s
    random_force_interval_s: float = 0.1
    object_position_noise_m: float = 0.02  # half width of a uniform noise
    joint_position_noise_rad: float = 0.007  # std, 0.4 degrees
    action_noise: float = 0.1  # std, normalized action units
    frame_lag_probability: float = 0.1
    action_lag_probability: float = 0.1
    camera_position_m: float = 0.005
    camera_rotation_rad: float = 0.0873  # 5 degrees
    camera_fov_rad: float = 0.0873
    # Strength of every enabled term, 0 … 1 (a curriculum knob, see TrainConfig.
    # randomization_curriculum): each range shrinks toward its nominal value by this factor
    # (a drawn value becomes nominal + strength·(draw − nominal)) and every noise, force and
    # lag probability is multiplied by it. The random streams do not depend on it.
    strength: float = 1.0

    def validate(self) -> None:
        unknown = [t for t in self.enabled if t not in TERMS]
        if unknown:
            raise ValueError(f"randomization: unknown terms {unknown}; valid terms: {list(TERMS)}")
        for name in ("object_friction", "object_scale", "object_position_m", "object_yaw_rad", "hand_friction",
                     "p_gain_scale", "d_gain_scale"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"randomization.{name}: low {lo} > high {hi}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"randomization.strength must be in [0, 1], got {self.strength}")
        for name in ("random_force_probability", "frame_lag_probability", "action_lag_probability"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"randomization.{name} must be a probability in [0, 1], got {p}")

    def on(self, term: str) -> bool:
        return term in self.enabled


TERMS = RandomizationConfig().enabled


@dataclass
class EnvRandomization:
    """What was drawn for each environment (the critic sees the scales)."""

    mass_kg: np.ndarray
    object_friction: np.ndarray
    object_scale: np.ndarray
    hand_friction: np.ndarray
    p_gain_scale: np.ndarray
    d_gain_scale: np.ndarray
    force_n: np.ndarray = field(default=None)  # current random force on the object (N×3)

    @classmethod
    def nominal(cls, num_envs: int, mass_kg: np.ndarray, friction: np.ndarray) -> "EnvRandomization":
        one = np.ones(num_envs)
        return cls(mass_kg.copy(), friction.copy(), one.copy(), one.copy(), one.copy(), one.copy(), np.zeros((num_envs, 3)))

    def critic_features(self, nominal_mass_kg: np.ndarray) -> np.ndarray:
        """Scales relative to nominal (N×6), what the privileged critic observes."""
        return np.stack([self.mass_kg / nominal_mass_kg, self.object_friction, self.object_scale, self.hand_friction,
                         self.p_gain_scale, self.d_gain_scale], axis=1)


class ModelRandomizer:
    """Writes reset-time draws into one environment's ``MjModel`` (a private copy), always
    relative to the pristine values of the model it was built from."""

    def __init__(self, model: mujoco.MjModel, object_body: int, hand_geoms: np.ndarray, actuators: np.ndarray, cameras: list[int]):
        self.object_body = object_body
        self.object_geoms = np.flatnonzero(model.geom_bodyid == object_body)
        self.hand_geoms = hand_geoms
        self.actuators = actuators
        self.cameras = cameras
        self.geom_size0 = model.geom_size[self.object_geoms].copy()
        self.geom_pos0 = model.geom_pos[self.object_geoms].copy()
        self.geom_rbound0 = model.geom_rbound[self.object_geoms].copy()
        self.geom_aabb0 = model.geom_aabb[self.object_geoms].copy()
        self.inertia0 = model.body_inertia[object_body].copy()
        self.mass0 = float(model.body_mass[object_body])
        self.kp0 = model.actuator_gainprm[actuators, 0].copy()
        self.kd0 = -model.actuator_biasprm[actuators, 2].copy()
        self.cam_pos0 = model.cam_pos[cameras].copy()
        self.cam_quat0 = model.cam_quat[cameras].copy()
        self.cam_intrinsic0 = model.cam_intrinsic[cameras].copy()
        self.cam_fovy0 = model.cam_fovy[cameras].copy()
        self.mesh_object = bool(np.any(model.geom_type[self.object_geoms] == mujoco.mjtGeom.mjGEOM_MESH))

    def apply(self, model: mujoco.MjModel, *, scale: float, mass_kg: float, object_friction: float, hand_friction: float,
              p_scale: float, d_scale: float, cam_pos_offset: np.ndarray, cam_rot: np.ndarray, cam_fov_delta: np.ndarray) -> None:
        g = self.object_geoms
        if not self.mesh_object:  # mesh vertices are shared; novel mesh shapes keep their size
            model.geom_size[g] = self.geom_size0 * scale
            model.geom_pos[g] = self.geom_pos0 * scale
            model.geom_rbound[g] = self.geom_rbound0 * scale
            model.geom_aabb[g] = self.geom_aabb0 * scale
        model.geom_friction[g, 0] = object_friction
        model.geom_friction[self.hand_geoms, 0] = hand_friction
        # Inertia follows size (∝ s²) before the mass rescale.
        model.body_inertia[self.object_body] = self.inertia0 * scale**2
        model.body_mass[self.object_body] = self.mass0
        set_body_mass(model, self.object_body, mass_kg)
        kp, kd = self.kp0 * p_scale, self.kd0 * d_scale
        model.actuator_gainprm[self.actuators, 0] = kp
        model.actuator_biasprm[self.actuators, 1] = -kp
        model.actuator_biasprm[self.actuators, 2] = -kd
        for k, c in enumerate(self.cameras):
            model.cam_pos[c] = self.cam_pos0[k] + cam_pos_offset[k]
            q = np.zeros(4)
            mujoco.mju_mulQuat(q, cam_rot[k], self.cam_quat0[k])
            model.cam_quat[c] = q
            # Field of view: scale the focal lengths so the vertical FOV changes by the delta.
            fy_len = self.cam_intrinsic0[k, 1]
            sensor_h = model.cam_sensorsize[c, 1]
            if fy_len > 0 and sensor_h > 0:
                fov = 2 * np.arctan(sensor_h / (2 * fy_len))
                ratio = np.tan(fov / 2) / np.tan(np.clip(fov + cam_fov_delta[k], 1e-3, np.pi - 1e-3) / 2)
                model.cam_intrinsic[c, :2] = self.cam_intrinsic0[k, :2] * ratio
            else:
                model.cam_fovy[c] = self.cam_fovy0[k] + np.degrees(cam_fov_delta[k])


def random_rotation_quat(rng: np.random.Generator, max_angle_rad: float) -> np.ndarray:
    """A rotation by U(0, max_angle) about a uniformly random axis (w, x, y, z)."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = rng.uniform(0.0, max_angle_rad)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def force_update(force: np.ndarray, mass_kg: np.ndarray, rng: np.random.Generator, cfg: RandomizationConfig, dt_s: float,
                 strength: float = 1.0) -> np.ndarray:
    """One control step of the random-force process: decay, then redraw with probability
    (probability and size × ``strength``)."""
    steps = dt_s / cfg.random_force_interval_s
    force = force * cfg.random_force_decay**steps
    p = 1.0 - (1.0 - strength * cfg.random_force_probability) ** steps
    new = rng.random(force.shape[0]) < p
    if np.any(new):
        force[new] = rng.normal(size=(int(new.sum()), 3)) * strength * cfg.random_force_scale * mass_kg[new, None]
    return force
