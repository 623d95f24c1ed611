"""Assemble the MuJoCo model of the GR1T2 upper body with two Fourier 6-DoF hands.

The model is built with ``mujoco.MjSpec`` straight from the URDF in site-packages:

* legs are removed and the pelvis (``base_link``) is welded to the world at ``base_pos_m``;
* waist and head joints are welded at ``fixed_joint_positions_rad`` unless listed in
  ``movable_joints`` (then they are hinge joints held by position actuators);
* the 26 controlled joints get position actuators (kp, kd, effort from the physics params);
* the 10 underactuated finger joints are coupled to their driver by joint equality constraints
  q_u = k·q_a + b;
* hand collision meshes are replaced by fitted primitives (a box for the palm, one capsule per
  finger link) so contacts are cheap and stable; visual meshes are optional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import mujoco
import numpy as np

from . import joints as jt
from .physics import PhysicsParams
from .transforms import quat_from_matrix
from .urdf import (
    DEFAULT_VARIANT,
    UrdfGeometry,
    UrdfModel,
    axis_angle_matrix,
    check_joint_table,
    load_urdf,
    rpy_to_matrix,
)

# Collision bits: robot links (2) and hands (4, 8) touch the world (1) but not themselves; the
# two hands touch each other so a handover cannot pass one hand through the other.
CONTACT_WORLD, CONTACT_ARM, CONTACT_LEFT_HAND, CONTACT_RIGHT_HAND = 1, 2, 4, 8
ALL_CONTACT_BITS = CONTACT_WORLD | CONTACT_ARM | CONTACT_LEFT_HAND | CONTACT_RIGHT_HAND

ROBOT_RGBA = (0.75, 0.75, 0.78, 1.0)
HAND_RGBA = (0.92, 0.92, 0.92, 1.0)


@dataclass
class ModelConfig:
    """What the robot model looks like. Units: metres and radians."""

    variant: str = DEFAULT_VARIANT
    base_pos_m: tuple[float, float, float] = (0.0, 0.0, 0.95)
    # Uncontrolled joints are welded at these positions (missing ones at 0). A downward head
    # pitch points the egocentric camera at the table.
    fixed_joint_positions_rad: dict[str, float] = field(default_factory=lambda: {"head_pitch_joint": 0.7})
    # Waist/head joints to keep as actuated hinges (held at their fixed position by PD).
    movable_joints: tuple[str, ...] = ()
    visual_meshes: bool = False
    hand_friction: float = 1.0
    # Fraction of vertex radii inside a fitted finger capsule (robust to mesh outliers).
    capsule_radius_percentile: float = 90.0

    def validate(self) -> None:
        allowed = set(jt.WAIST_JOINTS + jt.HEAD_JOINTS)
        bad = [n for n in list(self.fixed_joint_positions_rad) + list(self.movable_joints) if n not in allowed]
        if bad:
            raise ValueError(f"not a waist/head joint: {bad}; allowed: {sorted(allowed)}")


def _is_leg(joint_name: str) -> bool:
    return joint_name.startswith(("left_hip", "right_hip"))


def _side_of_link(link: str) -> str | None:
    if link.startswith("L_"):
        return "left"
    if link.startswith("R_"):
        return "right"
    return None


@lru_cache(maxsize=64)
def read_stl_vertices(path: str) -> np.ndarray:
    """Vertices (n×3, metres) of a binary STL file."""
    data = Path(path).read_bytes()
    if len(data) < 84:
        raise ValueError(f"{path}: too short for a binary STL")
    n = int(np.frombuffer(data, dtype="<u4", count=1, offset=80)[0])
    if 84 + 50 * n != len(data):
        raise ValueError(f"{path}: not a binary STL ({n} triangles but {len(data)} bytes)")
    rec = np.dtype([("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    tris = np.frombuffer(data, dtype=rec, count=n, offset=84)
    return np.unique(tris["v"].reshape(-1, 3).astype(np.float64), axis=0)


def fit_capsule(vertices: np.ndarray, radius_percentile: float = 90.0) -> tuple[np.ndarray, np.ndarray, float]:
    """A capsule (end points a, b and radius) along the vertices' principal axis."""
    c = vertices.mean(axis=0)
    _, _, vt = np.linalg.svd(vertices - c, full_matrices=False)
    axis = vt[0]
    t = (vertices - c) @ axis
    radial = np.linalg.norm((vertices - c) - np.outer(t, axis), axis=1)
    r = float(np.percentile(radial, radius_percentile))
    lo, hi = float(t.min()) + r, float(t.max()) - r
    if hi <= lo:  # short link: a sphere-like capsule
        lo = hi = 0.5 * (float(t.min()) + float(t.max()))
    return c + lo * axis, c + hi * axis, r


def fit_box(vertices: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box (centre, half sizes) in the link frame over percentile extents."""
    lo = np.percentile(vertices, lo_pct, axis=0)
    hi = np.percentile(vertices, hi_pct, axis=0)
    return 0.5 * (lo + hi), 0.5 * (hi - lo)


def _quat_rpy(rpy: np.ndarray) -> np.ndarray:
    return quat_from_matrix(rpy_to_matrix(rpy))


def _contact_bits(link: str) -> tuple[int, int]:
    side = _side_of_link(link)
    if side == "left":
        return CONTACT_LEFT_HAND, CONTACT_WORLD | CONTACT_RIGHT_HAND
    if side == "right":
        return CONTACT_RIGHT_HAND, CONTACT_WORLD | CONTACT_LEFT_HAND
    return CONTACT_ARM, CONTACT_WORLD


class _Builder:
    def __init__(self, urdf: UrdfModel, cfg: ModelConfig, physics: PhysicsParams):
        self.urdf, self.cfg, self.physics = urdf, cfg, physics
        self.spec = mujoco.MjSpec()
        self.spec.modelname = "gr1t2_fourier_hand_6dof"
        self.controlled = {j.name for j in jt.CONTROLLED_JOINTS}
        self.mimic = {m.name for m in jt.MIMIC_JOINTS}
        self.meshes_added: set[str] = set()

    def build(self) -> mujoco.MjSpec:
        root = self.urdf.root()
        base = self.spec.worldbody.add_body(name=root, pos=list(self.cfg.base_pos_m))
        self._add_link(base, root)
        self._add_actuators()
        self._add_mimic()
        return self.spec

    def _add_link(self, body: mujoco.MjsBody, link_name: str) -> None:
        link = self.urdf.links[link_name]
        if link.inertial is not None and link.inertial.mass_kg > 0:
            body.explicitinertial = True
            body.mass = link.inertial.mass_kg
            body.ipos = link.inertial.pos
            i = link.inertial.inertia
            body.fullinertia = [i[0], i[1], i[2], i[3], i[4], i[5]]
            if np.any(link.inertial.rpy):
                # fullinertia is expressed in the body frame; rotate it there.
                r = rpy_to_matrix(link.inertial.rpy)
                m = np.array([[i[0], i[3], i[4]], [i[3], i[1], i[5]], [i[4], i[5], i[2]]])
                m = r @ m @ r.T
                body.fullinertia = [m[0, 0], m[1, 1], m[2, 2], m[0, 1], m[0, 2], m[1, 2]]
        self._add_collision(body, link_name)
        if self.cfg.visual_meshes:
            self._add_visual(body, link_name)
        if link_name.endswith("_tip_link"):  # fingertip frames of both hands
            body.add_site(name=link_name.replace("_link", ""), size=[0.006, 0, 0], rgba=[1, 0.2, 0.2, 1], group=4)
        for j in self.urdf.child_joints(link_name):
            if _is_leg(j.name):
                continue
            rot = rpy_to_matrix(j.rpy)
            hinge = j.type == "revolute" and (
                j.name in self.controlled or j.name in self.mimic or j.name in self.cfg.movable_joints
            )
            if j.type == "revolute" and not hinge:
                angle = self.cfg.fixed_joint_positions_rad.get(j.name, 0.0)
                rot = rot @ axis_angle_matrix(j.axis, angle)
            child = body.add_body(name=j.child, pos=j.pos, quat=quat_from_matrix(rot))
            if hinge:
                self._add_hinge(child, j)
            self._add_link(child, j.child)

    def _add_hinge(self, body: mujoco.MjsBody, j) -> None:
        hinge = body.add_joint(name=j.name, type=mujoco.mjtJoint.mjJNT_HINGE, axis=j.axis)
        hinge.range = [j.lower, j.upper]
        hinge.limited = mujoco.mjtLimited.mjLIMITED_TRUE
        if j.name in self.physics.joints:
            p = self.physics.joints[j.name]
            hinge.armature, hinge.frictionloss = p.armature, p.frictionloss
            hinge.damping = [p.damping, 0.0, 0.0]
        elif j.name in self.mimic:
            hinge.armature, hinge.damping = 1e-4, [0.005, 0.0, 0.0]
        else:  # a movable waist/head joint
            hinge.armature, hinge.damping = 0.05, [1.0, 0.0, 0.0]

    def _add_collision(self, body: mujoco.MjsBody, link_name: str) -> None:
        link = self.urdf.links[link_name]
        contype, conaffinity = _contact_bits(link_name)
        group = 3 if self.cfg.visual_meshes else 0
        hand = _side_of_link(link_name) is not None
        rgba = HAND_RGBA if hand else ROBOT_RGBA
        friction = [self.cfg.hand_friction, 0.005, 0.0001] if hand else [0.8, 0.005, 0.0001]
        for k, g in enumerate(link.collisions):
            name = f"{link_name}_col{k}"
            common = dict(name=name, contype=contype, conaffinity=conaffinity, group=group, rgba=rgba, friction=friction)
            if g.kind == "mesh":
                self._add_fitted(body, g, common, palm=link_name.endswith("hand_base_link"))
                continue
            quat = _quat_rpy(g.rpy)
            if g.kind == "cylinder":
                body.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[g.size[0], g.size[1] / 2, 0], pos=g.pos, quat=quat, **common)
            elif g.kind == "sphere":
                body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[g.size[0], 0, 0], pos=g.pos, quat=quat, **common)
            elif g.kind == "box":
                body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[s / 2 for s in g.size], pos=g.pos, quat=quat, **common)
        # Collision geoms carry no mass: bodies use the URDF inertials (explicitinertial).

    def _add_fitted(self, body: mujoco.MjsBody, g: UrdfGeometry, common: dict, palm: bool) -> None:
        v = read_stl_vertices(str(g.mesh_path))
        rot = rpy_to_matrix(g.rpy)
        v = v @ rot.T + g.pos
        if palm:
            centre, half = fit_box(v)
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=half, pos=centre, **common)
        else:
            a, b, r = fit_capsule(v, self.cfg.capsule_radius_percentile)
            if np.allclose(a, b):
                body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[r, 0, 0], pos=a, **common)
            else:
                geom = body.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, **common)
                geom.fromto = np.concatenate([a, b])
                geom.size = [r, 0, 0]

    def _add_visual(self, body: mujoco.MjsBody, link_name: str) -> None:
        for k, g in enumerate(self.urdf.links[link_name].visuals):
            if g.kind != "mesh":
                continue
            mesh_name = f"{link_name}_vis{k}"
            if mesh_name not in self.meshes_added:
                self.spec.add_mesh(name=mesh_name, file=str(g.mesh_path))
                self.meshes_added.add(mesh_name)
            body.add_geom(
                name=f"{link_name}_visual{k}",
                type=mujoco.mjtGeom.mjGEOM_MESH,
                meshname=mesh_name,
                pos=g.pos,
                quat=_quat_rpy(g.rpy),
                contype=0,
                conaffinity=0,
                group=2,
                density=0,
                rgba=HAND_RGBA if _side_of_link(link_name) else ROBOT_RGBA,
            )

    def _add_actuators(self) -> None:
        for spec in jt.CONTROLLED_JOINTS:
            p = self.physics.joints[spec.name]
            self._position_actuator(spec.name, p.kp, p.kd, p.effort, (spec.lower_rad, spec.upper_rad))
        for name in self.cfg.movable_joints:
            j = self.urdf.joints[name]
            self._position_actuator(name, 200.0, 10.0, max(j.effort, 1.0), (j.lower, j.upper))

    def _position_actuator(self, joint: str, kp: float, kd: float, effort: float, ctrlrange) -> None:
        act = self.spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=kp, kv=kd)
        act.ctrlrange = list(ctrlrange)
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-effort, effort]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE

    def _add_mimic(self) -> None:
        for m in jt.MIMIC_JOINTS:
            c = self.physics.mimic[m.name]
            eq = self.spec.add_equality(
                name=f"mimic_{m.name}", type=mujoco.mjtEq.mjEQ_JOINT, name1=m.name, name2=m.driver
            )
            eq.data[:5] = [c.b, c.k, 0.0, 0.0, 0.0]
            eq.solref = [0.01, 1.0]


def build_robot_spec(cfg: ModelConfig | None = None, physics: PhysicsParams | None = None) -> mujoco.MjSpec:
    """The robot alone as an ``MjSpec`` (scenes attach it; see ``gr1_sim.scene``)."""
    cfg = cfg or ModelConfig()
    cfg.validate()
    physics = physics or PhysicsParams.default()
    urdf = load_urdf(cfg.variant)
    check_joint_table(urdf)
    spec = _Builder(urdf, cfg, physics).build()
    spec.compiler.autolimits = True
    spec.compiler.degree = False  # every angle in this project is in radians
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    return spec


def apply_home_pose(model: mujoco.MjModel, cfg: ModelConfig) -> None:
    """Start movable waist/head joints at their configured position (``qpos0``).

    Their actuators must be given the same target; ``movable_actuator_targets`` lists them.
    """
    for name in cfg.movable_joints:
        model.qpos0[model.jnt_qposadr[model.joint(name).id]] = cfg.fixed_joint_positions_rad.get(name, 0.0)


def movable_actuator_targets(model: mujoco.MjModel, cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Actuator ids and hold targets of the movable waist/head joints."""
    ids = np.array([model.actuator(n).id for n in cfg.movable_joints], dtype=int)
    targets = np.array([cfg.fixed_joint_positions_rad.get(n, 0.0) for n in cfg.movable_joints])
    return ids, targets


def build_robot_model(cfg: ModelConfig | None = None, physics: PhysicsParams | None = None) -> mujoco.MjModel:
    cfg = cfg or ModelConfig()
    model = build_robot_spec(cfg, physics).compile()
    apply_home_pose(model, cfg)
    return model


def check_model_joints(model: mujoco.MjModel) -> None:
    """Raise naming every controlled or mimic joint the compiled model lacks."""
    names = {model.joint(i).name for i in range(model.njnt)}
    missing = [n for n in jt.joint_names() + jt.mimic_names() if n not in names]
    if missing:
        raise ValueError(f"compiled model lacks joints of the GR1 joint table: {missing}")
