"""Reading the GR1T2 URDF shipped by ``fourier-robot-descriptions``.

The URDF and its meshes are read from site-packages at run time; nothing of them is copied into
this repository. This module also holds a small, independent forward-kinematics routine over
the parsed URDF, used to check the MuJoCo model against the URDF.
"""

from __future__ import annotations

import importlib.util
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import joints as jt

DEFAULT_VARIANT = "gr1t2_fourier_hand_6dof"
INSTALL_HINT = (
    "the GR1 robot model comes from the PyPI package 'fourier-robot-descriptions'; install it "
    "without its heavy dependencies: pip install --no-deps fourier-robot-descriptions==0.2.7"
)


class RobotDescriptionNotFound(RuntimeError):
    """``fourier-robot-descriptions`` (or the requested URDF in it) is not installed."""


class JointTableMismatch(ValueError):
    """The URDF does not have the joints (or limits) of the canonical joint table."""


def assets_dir() -> Path:
    """The ``assets`` folder of the installed ``fourier-robot-descriptions``."""
    override = os.environ.get("DEXMANI_ROBOT_ASSETS")
    if override:
        path = Path(override)
        if not (path / "urdf").is_dir():
            raise RobotDescriptionNotFound(f"DEXMANI_ROBOT_ASSETS={override} has no urdf/ folder; unset it or {INSTALL_HINT}")
        return path
    spec = importlib.util.find_spec("fourier_robot_descriptions")
    if spec is None or not spec.submodule_search_locations:
        raise RobotDescriptionNotFound(f"package 'fourier_robot_descriptions' not found: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "assets"
    if not (path / "urdf").is_dir():
        raise RobotDescriptionNotFound(f"{path} has no urdf/ folder: {INSTALL_HINT}")
    return path


def urdf_path(variant: str = DEFAULT_VARIANT) -> Path:
    path = assets_dir() / "urdf" / f"{variant}.urdf"
    if not path.is_file():
        have = sorted(p.stem for p in (assets_dir() / "urdf").glob("*.urdf"))
        raise RobotDescriptionNotFound(f"no URDF variant {variant!r}; installed variants: {have}")
    return path


@dataclass
class UrdfInertial:
    mass_kg: float
    pos: np.ndarray
    rpy: np.ndarray
    inertia: np.ndarray  # ixx iyy izz ixy ixz iyz


@dataclass
class UrdfGeometry:
    kind: str  # box | cylinder | sphere | mesh
    pos: np.ndarray
    rpy: np.ndarray
    size: tuple[float, ...] = ()
    mesh_path: Path | None = None


@dataclass
class UrdfLink:
    name: str
    inertial: UrdfInertial | None
    visuals: list[UrdfGeometry] = field(default_factory=list)
    collisions: list[UrdfGeometry] = field(default_factory=list)


@dataclass
class UrdfJoint:
    name: str
    type: str
    parent: str
    child: str
    pos: np.ndarray
    rpy: np.ndarray
    axis: np.ndarray
    lower: float = 0.0
    upper: float = 0.0
    effort: float = 0.0
    velocity: float = 0.0
    mimic: tuple[str, float, float] | None = None  # (driver, multiplier, offset)


@dataclass
class UrdfModel:
    path: Path
    links: dict[str, UrdfLink]
    joints: dict[str, UrdfJoint]

    def child_joints(self, link: str) -> list[UrdfJoint]:
        return [j for j in self.joints.values() if j.parent == link]

    def root(self) -> str:
        children = {j.child for j in self.joints.values()}
        roots = [n for n in self.links if n not in children]
        if len(roots) != 1:
            raise ValueError(f"URDF {self.path} has {len(roots)} root links: {roots}")
        return roots[0]


def _vec(text: str | None, default: tuple[float, ...] = (0.0, 0.0, 0.0)) -> np.ndarray:
    return np.array([float(v) for v in text.split()]) if text else np.array(default, dtype=float)


def _geometry(elem: ET.Element, base: Path) -> UrdfGeometry | None:
    origin = elem.find("origin")
    pos = _vec(origin.get("xyz") if origin is not None else None)
    rpy = _vec(origin.get("rpy") if origin is not None else None)
    geom = elem.find("geometry")
    if geom is None or len(geom) == 0:
        return None
    g = geom[0]
    if g.tag == "box":
        return UrdfGeometry("box", pos, rpy, tuple(_vec(g.get("size"))))
    if g.tag == "cylinder":
        return UrdfGeometry("cylinder", pos, rpy, (float(g.get("radius")), float(g.get("length"))))
    if g.tag == "sphere":
        return UrdfGeometry("sphere", pos, rpy, (float(g.get("radius")),))
    if g.tag == "mesh":
        return UrdfGeometry("mesh", pos, rpy, mesh_path=(base / g.get("filename")).resolve())
    raise ValueError(f"unsupported URDF geometry <{g.tag}>")


def parse_urdf(path: Path | str) -> UrdfModel:
    path = Path(path)
    root = ET.parse(path).getroot()
    base = path.parent
    links: dict[str, UrdfLink] = {}
    for le in root.findall("link"):
        inertial = None
        ie = le.find("inertial")
        if ie is not None:
            o = ie.find("origin")
            i = ie.find("inertia")
            inertial = UrdfInertial(
                mass_kg=float(ie.find("mass").get("value")),
                pos=_vec(o.get("xyz") if o is not None else None),
                rpy=_vec(o.get("rpy") if o is not None else None),
                inertia=np.array([float(i.get(k, 0.0)) for k in ("ixx", "iyy", "izz", "ixy", "ixz", "iyz")]),
            )
        link = UrdfLink(le.get("name"), inertial)
        link.visuals = [g for g in (_geometry(v, base) for v in le.findall("visual")) if g is not None]
        link.collisions = [g for g in (_geometry(c, base) for c in le.findall("collision")) if g is not None]
        links[link.name] = link
    joints: dict[str, UrdfJoint] = {}
    for je in root.findall("joint"):
        o = je.find("origin")
        ax = je.find("axis")
        lim = je.find("limit")
        mim = je.find("mimic")
        j = UrdfJoint(
            name=je.get("name"),
            type=je.get("type"),
            parent=je.find("parent").get("link"),
            child=je.find("child").get("link"),
            pos=_vec(o.get("xyz") if o is not None else None),
            rpy=_vec(o.get("rpy") if o is not None else None),
            axis=_vec(ax.get("xyz") if ax is not None else None, (1.0, 0.0, 0.0)),
        )
        if lim is not None:
            j.lower = float(lim.get("lower", 0.0))
            j.upper = float(lim.get("upper", 0.0))
            j.effort = float(lim.get("effort", 0.0))
            j.velocity = float(lim.get("velocity", 0.0))
        if mim is not None:
            j.mimic = (mim.get("joint"), float(mim.get("multiplier", 1.0)), float(mim.get("offset", 0.0)))
        joints[j.name] = j
    return UrdfModel(path, links, joints)


def load_urdf(variant: str = DEFAULT_VARIANT) -> UrdfModel:
    return parse_urdf(urdf_path(variant))


def check_joint_table(model: UrdfModel, tol: float = 1e-6) -> None:
    """Raise :class:`JointTableMismatch` naming every table joint the URDF lacks or disagrees on."""
    problems: list[str] = []
    missing = [j.name for j in jt.CONTROLLED_JOINTS if j.name not in model.joints]
    missing += [m.name for m in jt.MIMIC_JOINTS if m.name not in model.joints]
    missing += [n for n in jt.WAIST_JOINTS + jt.HEAD_JOINTS if n not in model.joints]
    if missing:
        problems.append(f"joints missing from the URDF: {missing}")
    for j in jt.CONTROLLED_JOINTS:
        u = model.joints.get(j.name)
        if u is None:
            continue
        if abs(u.lower - j.lower_rad) > tol or abs(u.upper - j.upper_rad) > tol:
            problems.append(f"{j.name}: table limits [{j.lower_rad}, {j.upper_rad}] vs URDF [{u.lower}, {u.upper}]")
        if u.type != "revolute":
            problems.append(f"{j.name}: URDF type {u.type!r}, expected 'revolute'")
    for m in jt.MIMIC_JOINTS:
        u = model.joints.get(m.name)
        if u is None:
            continue
        if u.mimic is None or u.mimic[0] != m.driver:
            problems.append(f"{m.name}: URDF mimic {u.mimic}, table expects driver {m.driver}")
    links = [ln for side in jt.SIDES for ln in jt.FINGERTIP_LINKS[side]] + list(jt.PALM_LINKS.values())
    lost = [ln for ln in links if ln not in model.links]
    if lost:
        problems.append(f"links missing from the URDF: {lost}")
    if problems:
        raise JointTableMismatch(f"joint table does not match {model.path}:\n  " + "\n  ".join(problems))


def rpy_to_matrix(rpy: np.ndarray) -> np.ndarray:
    """URDF fixed-axis roll-pitch-yaw → rotation matrix (R = Rz(y) Ry(p) Rx(r))."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def forward_kinematics(model: UrdfModel, q: dict[str, float], root: str | None = None) -> dict[str, np.ndarray]:
    """4×4 pose of every link in the frame of ``root`` for joint angles ``q`` (missing → 0).

    Mimic joints follow their driver from ``q`` unless given explicitly.
    """
    root = root or model.root()
    poses = {root: np.eye(4)}
    stack = [root]
    while stack:
        link = stack.pop()
        for j in model.child_joints(link):
            t = np.eye(4)
            t[:3, :3] = rpy_to_matrix(j.rpy)
            t[:3, 3] = j.pos
            angle = q.get(j.name)
            if angle is None and j.mimic is not None:
                angle = j.mimic[1] * q.get(j.mimic[0], 0.0) + j.mimic[2]
            if j.type in ("revolute", "continuous") and angle:
                r = np.eye(4)
                r[:3, :3] = axis_angle_matrix(j.axis, angle)
                t = t @ r
            poses[j.child] = poses[link] @ t
            stack.append(j.child)
    return poses
