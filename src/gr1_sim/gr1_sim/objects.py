"""The object library: training primitives, boxes for box lift, and a held-out novel set.

Each object is a named spec: a shape made of MuJoCo primitives (or one convex mesh), its
nominal size, and the ranges domain randomization draws from (paper Table 4: mass
[0.03, 0.1] kg, friction [0.5, 1.5], scale ×U(0.95, 1.05)). Boxes for box lift are too wide for
one hand and heavier. The "handover" group holds objects made to be handed over (a bar with
one end for each hand). The "novel" group is never used in training: shapes the policy has not
seen (ellipsoids, capsules, prisms, composites).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

OBJECT_BODY = "object"
OBJECT_JOINT = "object_joint"


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    shape: str  # box | cylinder | sphere | ellipsoid | capsule | prism | dumbbell | lblock
    size_m: tuple[float, ...]  # shape-specific, documented in ``add_object_geoms``
    groups: tuple[str, ...]
    mass_range_kg: tuple[float, float] = (0.03, 0.1)
    friction_range: tuple[float, float] = (0.5, 1.5)
    scale_range: tuple[float, float] = (0.95, 1.05)
    rgba: tuple[float, float, float, float] = (0.85, 0.35, 0.2, 1.0)

    @property
    def nominal_mass_kg(self) -> float:
        return 0.5 * (self.mass_range_kg[0] + self.mass_range_kg[1])

    @property
    def nominal_friction(self) -> float:
        return 0.5 * (self.friction_range[0] + self.friction_range[1])

    def long_axis(self) -> tuple[np.ndarray, float] | None:
        """The object's long axis in its own frame (a unit vector) and its half length, for a box
        or a cylinder whose longest dimension is at least 1.5 times the others; None otherwise."""
        if self.shape == "box":
            dims = np.asarray(self.size_m, dtype=float)
        elif self.shape == "cylinder":  # (radius, height), axis along z
            dims = np.array([2 * self.size_m[0], 2 * self.size_m[0], self.size_m[1]])
        else:
            return None
        k = int(np.argmax(dims))
        if dims[k] < 1.5 * np.max(np.delete(dims, k)):
            return None
        return np.eye(3)[k], float(dims[k] / 2)

    def half_height_m(self, scale: float = 1.0) -> float:
        """Height of the object's centre above the table when resting in its default pose."""
        s = self.size_m
        if self.shape in ("box", "ellipsoid", "lblock"):
            h = s[2] / 2 if self.shape != "ellipsoid" else s[2]
        elif self.shape in ("cylinder", "prism"):
            h = s[1] / 2
        elif self.shape in ("sphere", "capsule"):  # a capsule lies on its side
            h = s[0]
        elif self.shape == "dumbbell":  # lying on its side: the end spheres touch the table
            h = s[1]
        else:
            raise ValueError(f"object {self.name}: unknown shape {self.shape!r}")
        return h * scale


_RED, _GREEN, _BLUE, _YELLOW, _PURPLE, _CYAN = (
    (0.85, 0.25, 0.2, 1),
    (0.25, 0.7, 0.3, 1),
    (0.2, 0.4, 0.85, 1),
    (0.9, 0.8, 0.2, 1),
    (0.6, 0.3, 0.75, 1),
    (0.2, 0.75, 0.8, 1),
)

_OBJECTS = [
    # Training primitives. box: (x, y, z) full lengths; cylinder: (radius, height); sphere: (radius,)
    ObjectSpec("cube_4cm", "box", (0.04, 0.04, 0.04), ("train", "cubes"), rgba=_RED),
    ObjectSpec("cube_5cm", "box", (0.05, 0.05, 0.05), ("train", "cubes"), rgba=_RED),
    ObjectSpec("cube_6cm", "box", (0.06, 0.06, 0.06), ("train", "cubes"), rgba=_RED),
    ObjectSpec("cuboid_4x4x8cm", "box", (0.04, 0.04, 0.08), ("train", "cubes"), rgba=_YELLOW),
    ObjectSpec("cylinder_r2.5_h8cm", "cylinder", (0.025, 0.08), ("train", "cylinders"), rgba=_GREEN),
    ObjectSpec("cylinder_r3_h10cm", "cylinder", (0.03, 0.10), ("train", "cylinders"), rgba=_GREEN),
    ObjectSpec("cylinder_r2_h12cm", "cylinder", (0.02, 0.12), ("train", "cylinders"), rgba=_CYAN),
    ObjectSpec("sphere_r2.5cm", "sphere", (0.025,), ("train", "spheres"), rgba=_BLUE),
    ObjectSpec("sphere_r3cm", "sphere", (0.03,), ("train", "spheres"), rgba=_BLUE),
    ObjectSpec("sphere_r3.5cm", "sphere", (0.035,), ("train", "spheres"), rgba=_PURPLE),
    # Boxes for box lift: too wide for one hand, heavier.
    ObjectSpec("box_24x16x12cm", "box", (0.16, 0.24, 0.12), ("box_lift",), (0.2, 0.6), rgba=(0.7, 0.55, 0.35, 1)),
    ObjectSpec("box_30x18x14cm", "box", (0.18, 0.30, 0.14), ("box_lift",), (0.3, 0.8), rgba=(0.5, 0.6, 0.75, 1)),
    ObjectSpec("box_36x20x16cm", "box", (0.20, 0.36, 0.16), ("box_lift",), (0.4, 1.0), rgba=(0.75, 0.4, 0.45, 1)),
    # For handover: a bar lying across the table (along y), long enough that hand A can hold one
    # end while hand B takes the other, each end about the size of a training cube.
    ObjectSpec("bar_5x18x5cm", "box", (0.05, 0.18, 0.05), ("handover",), rgba=_YELLOW),
    # Held-out novel shapes. ellipsoid: semi-axes; capsule: (radius, half length of the segment);
    # prism: (circumradius, height, number of sides); dumbbell: (bar radius, end radius, half
    # length); lblock: (x, y, z) of the bounding box, the L cut from one corner.
    # Distinct semi-axes: an ellipsoid of revolution lying on its side rolls forever (no rolling friction).
    ObjectSpec("ellipsoid_6x5x4cm", "ellipsoid", (0.03, 0.025, 0.02), ("novel",), rgba=_YELLOW),
    ObjectSpec("capsule_r2_l6cm", "capsule", (0.02, 0.03), ("novel",), rgba=_CYAN),
    ObjectSpec("tri_prism_r3.5_h6cm", "prism", (0.035, 0.06, 3), ("novel",), rgba=_PURPLE),
    ObjectSpec("hex_prism_r3_h7cm", "prism", (0.03, 0.07, 6), ("novel",), rgba=_GREEN),
    ObjectSpec("dumbbell_12cm", "dumbbell", (0.012, 0.025, 0.05), ("novel",), rgba=_BLUE),
    ObjectSpec("lblock_6x6x4cm", "lblock", (0.06, 0.06, 0.04), ("novel",), rgba=_RED),
]

OBJECTS: dict[str, ObjectSpec] = {o.name: o for o in _OBJECTS}
OBJECT_GROUPS: dict[str, tuple[str, ...]] = {}
for _o in _OBJECTS:
    for _g in _o.groups:
        OBJECT_GROUPS.setdefault(_g, ())
        OBJECT_GROUPS[_g] = OBJECT_GROUPS[_g] + (_o.name,)


def get_object(name: str) -> ObjectSpec:
    if name not in OBJECTS:
        raise KeyError(f"unknown object {name!r}; valid objects: {sorted(OBJECTS)}")
    return OBJECTS[name]


def object_group(group: str) -> tuple[ObjectSpec, ...]:
    """Objects of a group (``train``, ``novel``, ``box_lift``, ``cubes``, ...) or one object by name."""
    if group in OBJECT_GROUPS:
        return tuple(OBJECTS[n] for n in OBJECT_GROUPS[group])
    if group in OBJECTS:
        return (OBJECTS[group],)
    raise KeyError(f"unknown object group {group!r}; valid groups: {sorted(OBJECT_GROUPS)} or an object name")


def _prism_vertices(radius: float, height: float, sides: int) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)
    top = np.concatenate([ring, np.full((sides, 1), height / 2)], axis=1)
    bottom = np.concatenate([ring, np.full((sides, 1), -height / 2)], axis=1)
    return np.concatenate([top, bottom])


def add_object_geoms(
    spec: mujoco.MjSpec, body: mujoco.MjsBody, obj: ObjectSpec, scale: float = 1.0, friction: float | None = None
) -> list[mujoco.MjsGeom]:
    """Add the object's geoms to ``body`` (its frame at the object's centre)."""
    s = [v * scale for v in obj.size_m]
    mu = obj.nominal_friction if friction is None else friction
    # Curved shapes that rest on a curved face get rolling friction (condim 6) or they rock and
    # roll on indefinitely; the rest use torsional friction only (condim 4).
    rolls = obj.shape in ("ellipsoid",)
    common = dict(
        rgba=list(obj.rgba), friction=[mu, 0.005, 0.01 if rolls else 0.0001], condim=6 if rolls else 4,
        contype=1, conaffinity=15,
    )
    G = mujoco.mjtGeom
    geoms = []

    def add(**kw):
        g = body.add_geom(name=f"{OBJECT_BODY}_geom{len(geoms)}", **common, **kw)
        geoms.append(g)
        return g

    if obj.shape == "box":
        add(type=G.mjGEOM_BOX, size=[s[0] / 2, s[1] / 2, s[2] / 2])
    elif obj.shape == "cylinder":
        add(type=G.mjGEOM_CYLINDER, size=[s[0], s[1] / 2, 0])
    elif obj.shape == "sphere":
        add(type=G.mjGEOM_SPHERE, size=[s[0], 0, 0])
    elif obj.shape == "ellipsoid":
        add(type=G.mjGEOM_ELLIPSOID, size=[s[0], s[1], s[2]])
    elif obj.shape == "capsule":  # lying along x
        add(type=G.mjGEOM_CAPSULE, size=[s[0], s[1], 0], quat=[0.7071068, 0, 0.7071068, 0])
    elif obj.shape == "prism":
        sides = int(obj.size_m[2])
        mesh_name = f"{obj.name}_mesh_{scale:.4f}"
        spec.add_mesh(name=mesh_name, uservert=_prism_vertices(s[0], s[1], sides).ravel().tolist())
        add(type=G.mjGEOM_MESH, meshname=mesh_name)
    elif obj.shape == "dumbbell":  # bar along x, end spheres
        bar_r, end_r, half = s
        add(type=G.mjGEOM_CYLINDER, size=[bar_r, half, 0], quat=[0.7071068, 0, 0.7071068, 0])
        add(type=G.mjGEOM_SPHERE, size=[end_r, 0, 0], pos=[half, 0, 0])
        add(type=G.mjGEOM_SPHERE, size=[end_r, 0, 0], pos=[-half, 0, 0])
    elif obj.shape == "lblock":
        x, y, z = s
        add(type=G.mjGEOM_BOX, size=[x / 2, y / 4, z / 2], pos=[0, -y / 4, 0])
        add(type=G.mjGEOM_BOX, size=[x / 4, y / 4, z / 2], pos=[-x / 4, y / 4, 0])
    else:
        raise ValueError(f"object {obj.name}: unknown shape {obj.shape!r}")
    return geoms


def set_body_mass(model: mujoco.MjModel, body_id: int, mass_kg: float) -> None:
    """Scale a body's mass and inertia to ``mass_kg`` (shape unchanged) and refresh the
    model's derived constants."""
    if mass_kg <= 0:
        raise ValueError(f"mass must be > 0 kg, got {mass_kg}")
    ratio = mass_kg / model.body_mass[body_id]
    model.body_mass[body_id] = mass_kg
    model.body_inertia[body_id] *= ratio
    # Derived constants (subtree masses, the reference mass matrix) must follow, or gravity and
    # inertia disagree and the object falls at the wrong rate.
    mujoco.mj_setConst(model, mujoco.MjData(model))
