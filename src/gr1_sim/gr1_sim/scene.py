"""Scenes: the GR1 upper body, a table, one free object and the two cameras.

A scene is described by a :class:`SceneConfig` (defaults per scene name in :data:`SCENES`) and
compiled into a :class:`Scene`: the ``MjModel`` plus the index tables the simulator, tasks and
renderer read from (actuators and joints in canonical order, fingertip sites, object body,
geom categories). World frame: x forward from the robot, y to its left, z up, origin on the
floor below the pelvis; the robot base frame (``base_link``) is the world frame shifted by
``ModelConfig.base_pos_m``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import yaml

from gr1_description import joints as jt
from gr1_description.kinematics import fingertip_site_ids
from gr1_description.mjcf import ALL_CONTACT_BITS, ModelConfig, apply_home_pose, build_robot_spec, check_model_joints
from gr1_description.physics import PhysicsParams

from .cameras import CameraConfig, default_cameras
from .objects import OBJECT_BODY, OBJECT_JOINT, ObjectSpec, add_object_geoms, get_object, set_body_mass

TABLE_BODY = "table"

# Segmentation / contact categories of geoms.
CATEGORY_NONE, CATEGORY_TABLE, CATEGORY_ROBOT, CATEGORY_LEFT_HAND, CATEGORY_RIGHT_HAND, CATEGORY_OBJECT, CATEGORY_FLOOR = range(7)
CATEGORY_NAMES = ("none", "table", "robot", "left_hand", "right_hand", "object", "floor")


@dataclass
class SceneConfig:
    """A scene. Units: metres, seconds."""

    name: str = "tabletop"
    object: str = "cube_5cm"
    object_xy_m: tuple[float, float] = (0.33, -0.12)  # object centre on the table, world frame
    object_yaw_rad: float = 0.0
    object_scale: float = 1.0
    table_height_m: float = 0.82
    table_center_xy_m: tuple[float, float] = (0.45, 0.0)
    table_size_m: tuple[float, float] = (0.5, 1.0)  # depth (x), width (y)
    timestep_s: float = 0.005
    control_decimation: int = 10  # physics steps per control step (0.05 s = 20 Hz by default)
    cone: str = "pyramidal"  # friction cone: pyramidal | elliptic
    model: ModelConfig = field(default_factory=ModelConfig)
    cameras: dict[str, CameraConfig] = field(default_factory=default_cameras)

    @property
    def control_dt_s(self) -> float:
        return self.timestep_s * self.control_decimation

    def validate(self) -> None:
        get_object(self.object)
        if self.timestep_s <= 0 or self.control_decimation < 1:
            raise ValueError(f"need timestep_s > 0 and control_decimation >= 1, got {self.timestep_s}, {self.control_decimation}")
        if self.cone not in ("pyramidal", "elliptic"):
            raise ValueError(f"cone must be 'pyramidal' or 'elliptic', got {self.cone!r}")
        for cam in self.cameras.values():
            cam.validate()
        self.model.validate()

    # --- YAML -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cameras"] = {k: asdict(v) for k, v in self.cameras.items()}
        return _tuples_to_lists(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "SceneConfig | None" = None) -> "SceneConfig":
        """Override ``base`` (default: the scene named in ``data`` or 'tabletop') with ``data``."""
        data = dict(data)
        cfg = base or scene_config(data.get("name", "tabletop"))
        model = data.pop("model", None)
        cameras = data.pop("cameras", None)
        cfg = replace(cfg, **_coerce(cls, data, "scene"))
        if model:
            cfg.model = replace(cfg.model, **_coerce(ModelConfig, model, "scene.model"))
        if cameras:
            cams = dict(cfg.cameras)
            for name, values in cameras.items():
                if name in cams:
                    cams[name] = replace(cams[name], **_coerce(CameraConfig, values, f"scene.cameras.{name}"))
                else:
                    cams[name] = CameraConfig(name=name, **_coerce(CameraConfig, values, f"scene.cameras.{name}"))
            cfg.cameras = cams
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "SceneConfig":
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f) or {})


def _tuples_to_lists(x):
    if isinstance(x, dict):
        return {k: _tuples_to_lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_tuples_to_lists(v) for v in x]
    return x


def _coerce(cls, values: dict[str, Any], where: str) -> dict[str, Any]:
    names = {f.name: f for f in fields(cls)}
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    out = {}
    for k, v in values.items():
        out[k] = tuple(v) if isinstance(v, list) else v
    return out


SCENES: dict[str, SceneConfig] = {
    "tabletop": SceneConfig(),
    "box_lift": SceneConfig(name="box_lift", object="box_30x18x14cm", object_xy_m=(0.36, 0.0)),
    "handover": SceneConfig(name="handover", object="cylinder_r3_h10cm", object_xy_m=(0.33, -0.28), table_size_m=(0.5, 1.2)),
}


def scene_config(name: str, **overrides) -> SceneConfig:
    if name not in SCENES:
        raise KeyError(f"unknown scene {name!r}; valid scenes: {sorted(SCENES)}")
    cfg = SCENES[name]
    model = replace(cfg.model, fixed_joint_positions_rad=dict(cfg.model.fixed_joint_positions_rad))
    return replace(cfg, **{"model": model, "cameras": dict(cfg.cameras), **overrides})


def build_scene_spec(cfg: SceneConfig, physics: PhysicsParams | None = None) -> mujoco.MjSpec:
    cfg.validate()
    spec = build_robot_spec(cfg.model, physics)
    spec.modelname = f"gr1_{cfg.name}"
    spec.option.timestep = cfg.timestep_s
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC if cfg.cone == "elliptic" else mujoco.mjtCone.mjCONE_PYRAMIDAL
    spec.visual.global_.offwidth = max([640] + [c.width for c in cfg.cameras.values()])
    spec.visual.global_.offheight = max([480] + [c.height for c in cfg.cameras.values()])
    spec.visual.map.znear = 0.01
    spec.visual.quality.shadowsize = 1024  # 4096 costs ~50 ms per RGB frame on llvmpipe
    spec.stat.extent = 2.0
    spec.stat.center = [0.3, 0.0, 1.0]

    world = spec.worldbody
    world.add_light(name="key", pos=[0.8, 0.5, 2.5], dir=[-0.3, -0.2, -1.0], diffuse=[0.7, 0.7, 0.7])
    world.add_light(name="fill", pos=[0.5, -1.0, 2.0], dir=[0, 0.5, -1.0], diffuse=[0.3, 0.3, 0.3], castshadow=False)
    world.add_geom(
        name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.05], rgba=[0.35, 0.35, 0.38, 1],
        contype=1, conaffinity=ALL_CONTACT_BITS,
    )
    tx, ty = cfg.table_center_xy_m
    sx, sy = cfg.table_size_m
    table = world.add_body(name=TABLE_BODY, pos=[tx, ty, cfg.table_height_m / 2])
    table.add_geom(
        name="table_top", type=mujoco.mjtGeom.mjGEOM_BOX, size=[sx / 2, sy / 2, cfg.table_height_m / 2],
        rgba=[0.55, 0.42, 0.3, 1], friction=[0.8, 0.005, 0.0001], contype=1, conaffinity=ALL_CONTACT_BITS,
    )

    obj = get_object(cfg.object)
    ox, oy = cfg.object_xy_m
    z = cfg.table_height_m + obj.half_height_m(cfg.object_scale) + 0.002
    yaw = cfg.object_yaw_rad
    body = world.add_body(name=OBJECT_BODY, pos=[ox, oy, z], quat=[np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
    body.add_freejoint(name=OBJECT_JOINT)
    add_object_geoms(spec, body, obj, cfg.object_scale)

    for cam in cfg.cameras.values():
        parent = world if cam.parent_body == "world" else spec.body(cam.parent_body)
        if parent is None:
            bodies = sorted(b.name for b in spec.bodies if b.name)
            raise KeyError(f"camera {cam.name}: unknown parent body {cam.parent_body!r}; bodies: {bodies}")
        c = parent.add_camera(name=cam.name, pos=list(cam.pos_m), quat=cam.quat())
        c.resolution = [cam.width, cam.height]
        c.sensor_size = [cam.width * 1e-6, cam.height * 1e-6]  # 1 µm pixels; only ratios matter
        c.focal_pixel = [cam.fx, cam.fy]
        # MuJoCo's principal offset is measured from the image centre with the opposite sign.
        c.principal_pixel = [cam.width / 2 - cam.cx, cam.height / 2 - cam.cy]
    return spec


@dataclass
class Scene:
    """A compiled scene and the index tables into it."""

    config: SceneConfig
    model: mujoco.MjModel
    physics: PhysicsParams
    object_spec: ObjectSpec
    actuator_ids: np.ndarray  # canonical joint order → actuator id
    qpos_adr: np.ndarray  # canonical joint order → qpos address
    dof_adr: np.ndarray  # canonical joint order → dof address
    mimic_qpos_adr: np.ndarray
    fingertip_site_ids: np.ndarray  # (2 sides, 4 fingers): thumb, index, middle, ring
    object_body_id: int
    object_qpos_adr: int  # 7 values: position, quaternion (w, x, y, z)
    object_dof_adr: int  # 6 values: linear, angular velocity
    geom_category: np.ndarray  # per geom, one of the CATEGORY_* values
    camera_ids: dict[str, int]

    @property
    def base_pos_m(self) -> np.ndarray:
        return np.asarray(self.config.model.base_pos_m, dtype=float)


def build_scene(cfg: SceneConfig | str = "tabletop", physics: PhysicsParams | str | Path | None = None) -> Scene:
    """Compile a scene. ``physics`` is a ``PhysicsParams`` or the path of a physics YAML."""
    if isinstance(cfg, str):
        cfg = scene_config(cfg)
    if isinstance(physics, (str, Path)):
        physics = PhysicsParams.load(physics)
    physics = physics or PhysicsParams.default()
    spec = build_scene_spec(cfg, physics)
    model = spec.compile()
    apply_home_pose(model, cfg.model)
    check_model_joints(model)
    obj = get_object(cfg.object)
    object_body = model.body(OBJECT_BODY).id
    set_body_mass(model, object_body, obj.nominal_mass_kg)

    names = jt.joint_names()
    act = np.array([model.actuator(n).id for n in names])
    qadr = np.array([model.jnt_qposadr[model.joint(n).id] for n in names])
    dadr = np.array([model.jnt_dofadr[model.joint(n).id] for n in names])
    madr = np.array([model.jnt_qposadr[model.joint(n).id] for n in jt.mimic_names()])
    tips = fingertip_site_ids(model)
    ojnt = model.joint(OBJECT_JOINT).id

    category = np.full(model.ngeom, CATEGORY_ROBOT, dtype=np.int32)
    table_id = model.body(TABLE_BODY).id
    for g in range(model.ngeom):
        b = model.geom_bodyid[g]
        name = model.body(b).name
        if b == 0:
            category[g] = CATEGORY_FLOOR
        elif b == table_id:
            category[g] = CATEGORY_TABLE
        elif b == object_body:
            category[g] = CATEGORY_OBJECT
        elif name.startswith("L_"):
            category[g] = CATEGORY_LEFT_HAND
        elif name.startswith("R_"):
            category[g] = CATEGORY_RIGHT_HAND
    cams = {name: model.camera(name).id for name in cfg.cameras}
    return Scene(cfg, model, physics, obj, act, qadr, dadr, madr, tips, object_body,
                 int(model.jnt_qposadr[ojnt]), int(model.jnt_dofadr[ojnt]), category, cams)
