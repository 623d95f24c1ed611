"""The replay model and how a candidate's physics is written into it in place.

Autotune evaluates thousands of candidates; compiling the model for each (≈0.4 s) would cost
more than simulating it. :func:`apply_physics` writes a :class:`PhysicsParams` into an existing
``MjModel`` exactly where ``gr1_description.mjcf`` puts it when it builds the model — actuator
gains (``set_to_position``: gainprm[0] = kp, biasprm[1:3] = −kp, −kd), actuator force range
(± effort), dof armature / damping / frictionloss, and the mimic equality ``eq_data[:2] = (b, k)``
— then recomputes the constants MuJoCo derives from them at compile time (``mj_setConst``).
A test checks the result equals a model compiled from the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from gr1_description.mjcf import ModelConfig, build_robot_model
from gr1_description.physics import PhysicsParams

from gr1_description import joints as jt


@dataclass(frozen=True)
class ModelTables:
    """Canonical joint order → ids/addresses in the robot model."""

    actuator_ids: np.ndarray  # (26,)
    qpos_adr: np.ndarray  # (26,)
    dof_adr: np.ndarray  # (26,)
    mimic_qpos_adr: np.ndarray  # (10,)
    mimic_dof_adr: np.ndarray  # (10,)
    mimic_eq_ids: np.ndarray  # (10,)
    mimic_driver: np.ndarray  # (10,) canonical index of each mimic joint's driver

    @classmethod
    def of(cls, model: mujoco.MjModel) -> ModelTables:
        names = jt.joint_names()
        return cls(
            actuator_ids=np.array([model.actuator(n).id for n in names]),
            qpos_adr=np.array([model.jnt_qposadr[model.joint(n).id] for n in names]),
            dof_adr=np.array([model.jnt_dofadr[model.joint(n).id] for n in names]),
            mimic_qpos_adr=np.array([model.jnt_qposadr[model.joint(n).id] for n in jt.mimic_names()]),
            mimic_dof_adr=np.array([model.jnt_dofadr[model.joint(n).id] for n in jt.mimic_names()]),
            mimic_eq_ids=np.array([model.equality(f"mimic_{n}").id for n in jt.mimic_names()]),
            mimic_driver=np.array([names.index(s.driver) for s in jt.MIMIC_JOINTS]),
        )


def build_replay_model(physics: PhysicsParams | None = None, timestep_s: float = 0.005,
                       model_cfg: ModelConfig | None = None) -> mujoco.MjModel:
    """The robot alone (no table, no object), as the training scenes build it."""
    model = build_robot_model(model_cfg, physics)
    model.opt.timestep = timestep_s
    return model


def physics_arrays(physics: PhysicsParams) -> dict[str, np.ndarray]:
    """The parameters of ``physics`` as arrays in canonical joint / mimic order."""
    names = jt.joint_names()
    out = {k: np.array([getattr(physics.joints[n], k) for n in names]) for k in ("kp", "kd", "armature", "damping", "frictionloss", "effort")}
    out["mimic_k"] = np.array([physics.mimic[n].k for n in jt.mimic_names()])
    out["mimic_b"] = np.array([physics.mimic[n].b for n in jt.mimic_names()])
    return out


def apply_physics(model: mujoco.MjModel, physics: PhysicsParams, tables: ModelTables | None = None,
                  data: mujoco.MjData | None = None) -> None:
    """Write ``physics`` into ``model`` in place, as if the model had been compiled with it.

    ``latency_s`` is not a model property; the replay applies it to the command stream.
    """
    t = tables or ModelTables.of(model)
    a = physics_arrays(physics)
    act = t.actuator_ids
    model.actuator_gainprm[act, 0] = a["kp"]
    model.actuator_biasprm[act, 1] = -a["kp"]
    model.actuator_biasprm[act, 2] = -a["kd"]
    model.actuator_forcerange[act, 0] = -a["effort"]
    model.actuator_forcerange[act, 1] = a["effort"]
    model.dof_armature[t.dof_adr] = a["armature"]
    model.dof_damping[t.dof_adr] = a["damping"]
    model.dof_frictionloss[t.dof_adr] = a["frictionloss"]
    model.eq_data[t.mimic_eq_ids, 0] = a["mimic_b"]
    model.eq_data[t.mimic_eq_ids, 1] = a["mimic_k"]
    # Constants derived at compile time from armature (dof_invweight0, actuator_acc0, ...).
    mujoco.mj_setConst(model, data if data is not None else mujoco.MjData(model))
