"""GR1T2 robot model: the canonical joint table, physics parameters and the MuJoCo model."""

from .joints import CONTROLLED_JOINTS, MIMIC_JOINTS, NUM_CONTROLLED, JointSpec, MimicSpec, joint_names
from .physics import JointPhysics, MimicCoupling, PhysicsParams

__all__ = [
    "CONTROLLED_JOINTS",
    "MIMIC_JOINTS",
    "NUM_CONTROLLED",
    "JointSpec",
    "MimicSpec",
    "joint_names",
    "JointPhysics",
    "MimicCoupling",
    "PhysicsParams",
]
