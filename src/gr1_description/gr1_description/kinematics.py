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


class FingertipKinematics:
    """``fk(joint_pos)`` → fingertip positions (N × 2 sides × 4 fingers × 3, model world frame)
    for joint positions in canonical order (N×26, rad)."""

    def __init__(self, model: mujoco.MjModel, physics: PhysicsParams | None = None):
        physics = physics or PhysicsParams.default()
        self.model = model
        self.data = mujoco.MjData(model)
        self.data.qpos[:] = model.qpos0
        names = jt.joint_names()
        self._qadr = np.array([model.jnt_qposadr[model.joint(n).id] for n in names])
        self._madr = np.array([model.jnt_qposadr[model.joint(m.name).id] for m in jt.MIMIC_JOINTS])
        self._driver = np.array([names.index(m.driver) for m in jt.MIMIC_JOINTS])
        self._k = np.array([physics.mimic[m.name].k for m in jt.MIMIC_JOINTS])
        self._b = np.array([physics.mimic[m.name].b for m in jt.MIMIC_JOINTS])
        self._sites = np.array([[model.site(ln.replace("_link", "")).id for ln in jt.FINGERTIP_LINKS[s]] for s in jt.SIDES])

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
