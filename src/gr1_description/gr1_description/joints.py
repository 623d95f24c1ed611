"""The canonical joint table of the GR1T2 upper body with two Fourier 6-DoF hands.

Every package takes joint order from here. The policy controls 26 joints: per side 7 arm
joints and 6 actuated hand joints, in the order left arm, left hand, right arm, right hand.
The 10 underactuated finger joints follow their driver as ``q_u = k * q_a + b``.

Names are the joint names of ``gr1t2_fourier_hand_6dof.urdf`` shipped by
``fourier-robot-descriptions``; limits are copied from it and checked against it whenever a
model is built (:func:`gr1_description.urdf.check_joint_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

SIDES = ("left", "right")
GROUPS = ("arm", "hand")


@dataclass(frozen=True)
class JointSpec:
    """One controlled joint: its name, where it sits, and its position limits."""

    name: str
    side: str  # "left" | "right"
    group: str  # "arm" | "hand"
    lower_rad: float
    upper_rad: float
    velocity_limit_rad_s: float  # from the URDF; 0 where the URDF gives none (hands)


@dataclass(frozen=True)
class MimicSpec:
    """An underactuated joint that follows ``driver`` as q = k * q_driver + b (URDF defaults)."""

    name: str
    driver: str
    k: float
    b: float
    lower_rad: float
    upper_rad: float


def _arm(side: str) -> list[JointSpec]:
    # (joint suffix, lower, upper, velocity). Roll limits are mirrored between the sides.
    rows = [
        ("shoulder_pitch", -2.79, 1.92, 6.28),
        ("shoulder_roll", -0.57, 2.53, 6.28),
        ("shoulder_yaw", -2.97, 2.97, 5.24),
        ("elbow_pitch", -2.27, 2.27, 5.24),
        ("wrist_yaw", -2.97, 2.97, 16.55),
        ("wrist_roll", -0.87, 0.96, 15.08),
        ("wrist_pitch", -0.61, 0.61, 15.08),
    ]
    out = []
    for suffix, lo, hi, vel in rows:
        if side == "right" and suffix in ("shoulder_roll", "wrist_roll"):
            lo, hi = -hi, -lo
        out.append(JointSpec(f"{side}_{suffix}_joint", side, "arm", lo, hi, vel))
    return out


def _hand(side: str) -> list[JointSpec]:
    p = "L" if side == "left" else "R"
    rows = [
        ("thumb_proximal_yaw", -1.696, 0.0),
        ("thumb_proximal_pitch", 0.0, 1.143),
        ("index_proximal", -1.592, 0.0),
        ("middle_proximal", -1.593, 0.0),
        ("ring_proximal", -1.593, 0.0),
        ("pinky_proximal", -1.592, 0.0),
    ]
    return [JointSpec(f"{p}_{s}_joint", side, "hand", lo, hi, 0.0) for s, lo, hi in rows]


def _mimic(side: str) -> list[MimicSpec]:
    p = "L" if side == "left" else "R"
    return [
        MimicSpec(f"{p}_thumb_distal_joint", f"{p}_thumb_proximal_pitch_joint", 1.06, 0.0, 0.0, 1.248),
        MimicSpec(f"{p}_index_intermediate_joint", f"{p}_index_proximal_joint", 0.975, 0.0, -1.791, 0.0),
        MimicSpec(f"{p}_middle_intermediate_joint", f"{p}_middle_proximal_joint", 0.975, 0.0, -1.792, 0.0),
        MimicSpec(f"{p}_ring_intermediate_joint", f"{p}_ring_proximal_joint", 0.975, 0.0, -1.791, 0.0),
        MimicSpec(f"{p}_pinky_intermediate_joint", f"{p}_pinky_proximal_joint", 0.975, 0.0, -1.791, 0.0),
    ]


CONTROLLED_JOINTS: tuple[JointSpec, ...] = tuple(_arm("left") + _hand("left") + _arm("right") + _hand("right"))
MIMIC_JOINTS: tuple[MimicSpec, ...] = tuple(_mimic("left") + _mimic("right"))

#: Joints of the full robot that are not controlled: legs are removed from the model, the
#: waist and head are welded at a configurable position (see ``ModelConfig``).
WAIST_JOINTS = ("waist_yaw_joint", "waist_pitch_joint", "waist_roll_joint")
HEAD_JOINTS = ("head_roll_joint", "head_pitch_joint", "head_yaw_joint")

#: Fingertip frames (URDF links). The contact reward uses four per hand (thumb, index, middle,
#: ring); the pinky tip is available too.
FINGERTIP_LINKS = {
    "left": ("L_thumb_tip_link", "L_index_tip_link", "L_middle_tip_link", "L_ring_tip_link"),
    "right": ("R_thumb_tip_link", "R_index_tip_link", "R_middle_tip_link", "R_ring_tip_link"),
}
PALM_LINKS = {"left": "L_hand_base_link", "right": "R_hand_base_link"}

NUM_CONTROLLED = len(CONTROLLED_JOINTS)
assert NUM_CONTROLLED == 26, NUM_CONTROLLED


def joint_names() -> tuple[str, ...]:
    """Canonical order of the 26 controlled joints."""
    return tuple(j.name for j in CONTROLLED_JOINTS)


def mimic_names() -> tuple[str, ...]:
    return tuple(m.name for m in MIMIC_JOINTS)


def select(side: str | None = None, group: str | None = None) -> tuple[JointSpec, ...]:
    """The controlled joints of one side and/or group, in canonical order."""
    if side is not None and side not in SIDES:
        raise ValueError(f"unknown side {side!r}; expected one of {SIDES}")
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    return tuple(
        j for j in CONTROLLED_JOINTS if (side is None or j.side == side) and (group is None or j.group == group)
    )


def indices(names: Iterable[str]) -> np.ndarray:
    """Canonical indices of ``names``; raises naming every unknown joint."""
    order = {n: i for i, n in enumerate(joint_names())}
    names = list(names)
    unknown = [n for n in names if n not in order]
    if unknown:
        raise KeyError(f"joints not in the GR1 joint table: {unknown}; known: {list(order)}")
    return np.array([order[n] for n in names], dtype=np.int64)


def lower_limits() -> np.ndarray:
    return np.array([j.lower_rad for j in CONTROLLED_JOINTS])


def upper_limits() -> np.ndarray:
    return np.array([j.upper_rad for j in CONTROLLED_JOINTS])


def reorder(values: Sequence[float], names: Sequence[str]) -> np.ndarray:
    """Values given for ``names`` (any order, a superset allowed) → canonical order.

    Raises naming the controlled joints that ``names`` lacks, so a message with missing joints
    is never silently padded.
    """
    if len(values) != len(names):
        raise ValueError(f"{len(values)} values for {len(names)} names")
    pos = {n: i for i, n in enumerate(names)}
    missing = [n for n in joint_names() if n not in pos]
    if missing:
        raise KeyError(f"missing controlled joints: {missing}")
    vals = np.asarray(values, dtype=float)
    return vals[[pos[n] for n in joint_names()]]
