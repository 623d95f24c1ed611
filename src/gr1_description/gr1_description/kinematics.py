"""Forward kinematics of the fingertips from the 26 controlled joint positions.

What a robot can compute from its encoders alone: the underactuated finger joints are set from
their drivers by the coupling ``q_u = k·q_a + b`` of the physics parameters, every other joint
(welded waist and head, a free object) stays at the model's ``qpos0``, and MuJoCo's
``mj_kinematics`` places the fingertip sites. It runs on any MuJoCo model built from this
package's robot spec (a scene with table and object, or the robot alone), so the simulator's
observation code and the deployed runtime share it.
"""

from __future__ import annotations

import mujoco
import numpy as np

from . import joints as jt
from .physics import PhysicsParams


def mimic_coupling(physics: PhysicsParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(driver index in the 26 controlled joints, k, b) per underactuated joint, ``jt.MIMIC_JOINTS`` order."""
    names = jt.joint_names()
    driver = np.array([names.index(m.driver) for m in jt.MIMIC_JOINTS])
    k = np.array([physics.mimic[m.name].k for m in jt.MIMIC_JOINTS])
    b = np.array([physics.mimic[m.name].b for m in jt.MIMIC_JOINTS])
    return driver, k, b


def mimic_positions(joint_pos: np.ndarray, physics: PhysicsParams) -> np.ndarray:
    """The 10 underactuated joints (N×10, ``jt.MIMIC_JOINTS`` order) from the controlled joints
    (N×26): ``q_u = k·q_driver + b`` with the physics file's couplings."""
    driver, k, b = mimic_coupling(physics)
    return np.asarray(joint_pos, dtype=float)[:, driver] * k + b


def fingertip_site_ids(model: mujoco.MjModel) -> np.ndarray:
    """Site ids of the fingertips (2 sides × 4 fingers: thumb, index, middle, ring)."""
    return np.array([[model.site(ln.replace("_link", "")).id for ln in jt.FINGERTIP_LINKS[s]] for s in jt.SIDES])


class FingertipKinematics:
    """``fk(joint_pos)`` → fingertip positions (N × 2 sides × 4 fingers × 3, model world frame)
    for joint positions in canonical order (N×26, rad)."""

    def __init__(self, model: mujoco.MjModel, physics: PhysicsParams | None = None):
        # The couplings once, not every call: this runs in the environment step.
        self._driver, self._k, self._b = mimic_coupling(physics or PhysicsParams.default())
        self.model = model
        self.data = mujoco.MjData(model)
        self.data.qpos[:] = model.qpos0
        self._qadr = np.array([model.jnt_qposadr[model.joint(n).id] for n in jt.joint_names()])
        self._madr = np.array([model.jnt_qposadr[model.joint(m.name).id] for m in jt.MIMIC_JOINTS])
        self._sites = fingertip_site_ids(model)

    def __call__(self, joint_pos: np.ndarray) -> np.ndarray:
        q = np.asarray(joint_pos, dtype=float)
        if q.ndim != 2 or q.shape[1] != jt.NUM_CONTROLLED:
            raise ValueError(f"joint_pos must be N×{jt.NUM_CONTROLLED}, got {q.shape}")
        mimic = q[:, self._driver] * self._k + self._b
        out = np.empty((q.shape[0],) + self._sites.shape + (3,))
        m, d = self.model, self.data
        for i in range(q.shape[0]):
            d.qpos[self._qadr] = q[i]
            d.qpos[self._madr] = mimic[i]
            mujoco.mj_kinematics(m, d)
            out[i] = d.site_xpos[self._sites]
        return out
