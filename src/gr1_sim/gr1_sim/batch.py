"""N independent copies of a scene, stepped in parallel threads.

Each environment owns an ``MjModel`` copy (so domain randomization can change masses, friction
and gains per environment) and an ``MjData``. A control step writes the joint targets, runs
``control_decimation`` physics steps per environment inside worker threads (MuJoCo releases the
GIL while stepping) and refreshes link kinematics, then gathers the state every task reads into
batched numpy arrays in one pass. Everything is deterministic for a given seed: each
environment's physics depends only on its own model, state and targets.

Arrays are in the canonical joint order of ``gr1_description.joints``; positions in the world
frame (see ``gr1_sim.scene``).
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np

from gr1_description import joints as jt
from gr1_description.kinematics import mimic_positions
from gr1_description.mjcf import movable_actuator_targets

from .scene import CATEGORY_LEFT_HAND, CATEGORY_OBJECT, CATEGORY_RIGHT_HAND, CATEGORY_TABLE, Scene, SceneConfig, build_scene


def default_num_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _check_compatible(scenes: list[Scene]) -> None:
    """Scenes batched together must share every index table the simulator uses."""
    ref = scenes[0]
    for s in scenes[1:]:
        same = (
            s.model.nq == ref.model.nq and s.model.nv == ref.model.nv and s.model.nu == ref.model.nu
            and np.array_equal(s.actuator_ids, ref.actuator_ids) and np.array_equal(s.qpos_adr, ref.qpos_adr)
            and np.array_equal(s.fingertip_site_ids, ref.fingertip_site_ids)
            and s.object_qpos_adr == ref.object_qpos_adr
            and s.config.control_decimation == ref.config.control_decimation
            and s.config.timestep_s == ref.config.timestep_s
        )
        if not same:
            raise ValueError(
                f"scenes {ref.config.name}/{ref.config.object} and {s.config.name}/{s.config.object} cannot be "
                "batched: they must differ only in the object"
            )


class BatchedSim:
    """The batched simulator API the tasks build on."""

    def __init__(
        self,
        scene: Scene | SceneConfig | str | list[Scene] = "tabletop",
        num_envs: int = 16,
        seed: int = 0,
        num_threads: int | None = None,
    ):
        """``scene`` may be a list of scenes that differ only in their object (one object group):
        environment ``i`` then simulates ``scenes[i % len(scenes)]``."""
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        scenes = list(scene) if isinstance(scene, (list, tuple)) else [scene]
        if not scenes:
            raise ValueError("need at least one scene")
        self.scenes = [s if isinstance(s, Scene) else build_scene(s) for s in scenes]
        self.scene = self.scenes[0]
        _check_compatible(self.scenes)
        self.env_scene = np.arange(num_envs) % len(self.scenes)
        self.num_envs = num_envs
        self.decimation = self.scene.config.control_decimation
        self.control_dt_s = self.scene.config.control_dt_s
        base = self.scene.model
        self.models = [copy.copy(self.scenes[k].model) for k in self.env_scene]
        self.datas = [mujoco.MjData(m) for m in self.models]
        self.rng = np.random.default_rng(seed)
        self.num_threads = max(1, min(num_threads or default_num_threads(), num_envs))
        self._pool = ThreadPoolExecutor(self.num_threads) if self.num_threads > 1 else None
        bounds = np.linspace(0, num_envs, self.num_threads + 1).astype(int)
        self._chunks = [range(bounds[i], bounds[i + 1]) for i in range(self.num_threads)]

        s = self.scene
        self._act = s.actuator_ids
        self._qadr = s.qpos_adr
        self._dadr = s.dof_adr
        self._tips = s.fingertip_site_ids.reshape(-1)
        self._oq = s.object_qpos_adr
        self._od = s.object_dof_adr
        self.lower = jt.lower_limits()
        self.upper = jt.upper_limits()
        self.default_qpos = np.clip(np.zeros(jt.NUM_CONTROLLED), self.lower, self.upper)
        self._init_qpos = base.qpos0.copy()
        self._hold_act, self._hold_targets = movable_actuator_targets(base, self.scene.config.model)
        self._object_init = np.stack([m.qpos0[self._oq : self._oq + 7] for m in self.models])

        # Actuation latency from the physics file (autotune's latency_s): a new target reaches the
        # actuators this many physics steps into the control step; before that the previous one acts.
        latency_s = float(self.scene.physics.latency_s)
        self.delay_steps = int(round(latency_s / self.scene.config.timestep_s))
        if not 0 <= self.delay_steps < self.decimation:
            raise ValueError(
                f"physics latency_s {latency_s} s is {self.delay_steps} physics steps; BatchedSim supports 0 to "
                f"{self.decimation - 1} (less than one control step of {self.control_dt_s} s)"
            )
        n = num_envs
        self.targets = np.tile(self.default_qpos, (n, 1))
        self._prev_targets = self.targets.copy()
        self._qpos = np.zeros((n, base.nq))
        self._qvel = np.zeros((n, base.nv))
        self._tip_pos = np.zeros((n, self._tips.size, 3))
        self.time_s = np.zeros(n)
        self.reset()

    # --- stepping -------------------------------------------------------------------------
    def _step_chunk(self, envs: range) -> None:
        nstep = self.decimation
        delay = self.delay_steps
        for i in envs:
            m, d = self.models[i], self.datas[i]
            if delay:
                d.ctrl[self._act] = self._prev_targets[i]
                mujoco.mj_step(m, d, delay)
            d.ctrl[self._act] = self.targets[i]
            mujoco.mj_step(m, d, nstep - delay)
            mujoco.mj_kinematics(m, d)

    def step(self, targets: np.ndarray | None = None) -> None:
        """One control step: hold ``targets`` (N×26, rad) for ``control_decimation`` physics steps."""
        if targets is not None:
            self.set_joint_targets(targets)
        if self._pool is None:
            self._step_chunk(range(self.num_envs))
        else:
            for f in [self._pool.submit(self._step_chunk, c) for c in self._chunks]:
                f.result()
        self._prev_targets[:] = self.targets
        self._gather()

    def set_joint_targets(self, targets: np.ndarray) -> None:
        targets = np.asarray(targets, dtype=float)
        if targets.shape != (self.num_envs, jt.NUM_CONTROLLED):
            raise ValueError(f"targets must have shape ({self.num_envs}, {jt.NUM_CONTROLLED}), got {targets.shape}")
        np.clip(targets, self.lower, self.upper, out=self.targets)

    def _gather(self, env_ids=None) -> None:
        ids = range(self.num_envs) if env_ids is None else env_ids
        for i in ids:
            d = self.datas[i]
            self._qpos[i] = d.qpos
            self._qvel[i] = d.qvel
            self._tip_pos[i] = d.site_xpos[self._tips]
            self.time_s[i] = d.time

    # --- reset ----------------------------------------------------------------------------
    def reset(
        self,
        env_ids: np.ndarray | list[int] | None = None,
        joint_pos: np.ndarray | None = None,
        object_pose: np.ndarray | None = None,
    ) -> None:
        """Reset environments to ``joint_pos`` (k×26, default pose) and ``object_pose`` (k×7,
        position + quaternion w,x,y,z; default: the scene's initial pose), at rest."""
        ids = np.arange(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=int)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_envs):
            raise IndexError(f"env ids must be in [0, {self.num_envs}), got {ids.tolist()}")
        k = ids.size
        jp = np.tile(self.default_qpos, (k, 1)) if joint_pos is None else np.asarray(joint_pos, float).reshape(k, jt.NUM_CONTROLLED)
        op = self._object_init[ids] if object_pose is None else np.asarray(object_pose, float).reshape(k, 7)
        mimic = mimic_positions(jp, self.scene.physics)
        for row, i in enumerate(ids):
            m, d = self.models[i], self.datas[i]
            mujoco.mj_resetData(m, d)
            d.qpos[:] = self._init_qpos
            d.qpos[self._qadr] = jp[row]
            d.qpos[self.scene.mimic_qpos_adr] = mimic[row]
            d.qpos[self._oq : self._oq + 7] = op[row]
            d.qpos[self._oq + 3 : self._oq + 7] /= np.linalg.norm(op[row, 3:])
            self.targets[i] = jp[row]
            self._prev_targets[i] = jp[row]
            d.ctrl[self._act] = jp[row]
            d.ctrl[self._hold_act] = self._hold_targets
            mujoco.mj_forward(m, d)
        self._gather(ids)

    # --- state ----------------------------------------------------------------------------
    def joint_pos(self) -> np.ndarray:
        """Measured positions of the 26 controlled joints (N×26, rad)."""
        return self._qpos[:, self._qadr]

    def joint_vel(self) -> np.ndarray:
        return self._qvel[:, self._dadr]

    def mimic_pos(self) -> np.ndarray:
        return self._qpos[:, self.scene.mimic_qpos_adr]

    def fingertip_pos(self) -> np.ndarray:
        """Fingertip positions (N × 2 sides × 4 fingers × 3): thumb, index, middle, ring."""
        return self._tip_pos.reshape(self.num_envs, 2, -1, 3)

    def object_pose(self) -> np.ndarray:
        """Object position and orientation quaternion (N×7: x, y, z, w, qx, qy, qz)."""
        return self._qpos[:, self._oq : self._oq + 7]

    def object_vel(self) -> np.ndarray:
        """Object linear (world) and angular (local) velocity, N×6."""
        return self._qvel[:, self._od : self._od + 6]

    def contacts(self) -> np.ndarray:
        """Per environment, which pairs touch: columns (left hand–object, right hand–object,
        object–table, left hand–right hand). From the last physics step's collision pass."""
        out = np.zeros((self.num_envs, 4), dtype=bool)
        pairs = {
            (CATEGORY_LEFT_HAND, CATEGORY_OBJECT): 0,
            (CATEGORY_RIGHT_HAND, CATEGORY_OBJECT): 1,
            (CATEGORY_TABLE, CATEGORY_OBJECT): 2,
            (CATEGORY_LEFT_HAND, CATEGORY_RIGHT_HAND): 3,
        }
        for i, d in enumerate(self.datas):
            if d.ncon == 0:
                continue
            g = d.contact.geom[: d.ncon]
            cat = self.scenes[self.env_scene[i]].geom_category
            a, b = cat[g[:, 0]], cat[g[:, 1]]
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            for (x, y), col in pairs.items():
                if np.any((lo == min(x, y)) & (hi == max(x, y))):
                    out[i, col] = True
        return out

    def close(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self):
        self.close()
