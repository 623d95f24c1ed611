"""Left–right mirror symmetry of the robot and the scene (reflection in the robot's x–z plane).

The GR1 is left–right symmetric: the mirror image of a state swaps the left and right joints,
flips the sign of every arm roll and yaw joint (pitch joints and the hand joints keep theirs),
and reflects positions (y → −y), quaternions ((w, x, y, z) → (w, −x, y, −z)), linear velocities
(v_y → −v_y) and angular velocities (ω → (−ω_x, ω_y, −ω_z), a pseudo-vector).

Tasks with a left and a right version (grasp-and-reach with the left or the right hand, handover
in either direction) use it to let one policy see every episode as its right-handed version: the
environment mirrors the observations of a left-handed episode and mirrors the policy's action
back before applying it (``TaskConfig.mirror_symmetry``), so both sides train the same weights
on twice the data. A deployed policy does the same: see ``ManipulationEnv`` and the README.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gr1_description import joints as jt


def mirror_joint_name(name: str) -> str:
    for a, b in (("left_", "right_"), ("right_", "left_"), ("L_", "R_"), ("R_", "L_")):
        if name.startswith(a):
            return b + name[len(a):]
    raise ValueError(f"joint {name} has no side prefix")


@lru_cache(maxsize=1)
def joint_mirror_map() -> tuple[np.ndarray, np.ndarray]:
    """(source index, sign) per canonical joint: ``mirrored[:, j] = q[:, src[j]] * sign[j]``."""
    names = jt.joint_names()
    src = np.array([names.index(mirror_joint_name(n)) for n in names])
    sign = np.array([-1.0 if ("_roll_" in n or "_yaw_" in n) and n[:2] not in ("L_", "R_") else 1.0 for n in names])
    return src, sign


def mirror_joints(q: np.ndarray) -> np.ndarray:
    """Mirror joint-space arrays (…×26: positions, velocities, actions). An involution."""
    src, sign = joint_mirror_map()
    return q[..., src] * sign


def mirror_points(p: np.ndarray) -> np.ndarray:
    """Reflect positions or linear velocities (…×3) in the x–z plane."""
    out = np.array(p, dtype=float, copy=True)
    out[..., 1] *= -1.0
    return out


def mirror_quat(q: np.ndarray) -> np.ndarray:
    """Reflect orientations (…×4, w first): (w, x, y, z) → (w, −x, y, −z)."""
    out = np.array(q, dtype=float, copy=True)
    out[..., 1] *= -1.0
    out[..., 3] *= -1.0
    return out


def mirror_angular(w: np.ndarray) -> np.ndarray:
    """Reflect angular velocities (…×3, a pseudo-vector): (−ω_x, ω_y, −ω_z)."""
    out = np.array(w, dtype=float, copy=True)
    out[..., 0] *= -1.0
    out[..., 2] *= -1.0
    return out


def mirror_fingertips(tips: np.ndarray) -> np.ndarray:
    """Fingertip positions (N×2×4×3, hand axis left, right): swap the hands and reflect."""
    return mirror_points(tips[:, ::-1])
