"""Per-joint physical parameters of the model: the knobs that autotune fits.

A physics file is YAML with per-joint parameters under ``joints:`` (keyed by joint name), the
mimic couplings under ``mimic:``, the command latency and, for tuned files, a ``fit:`` block with
provenance. The simulator takes such a file with one option (``--physics FILE``). The defaults
below are hand-chosen starting points (critically damped-ish PD on the nominal link inertias),
not measured values: run autotune on a bag of your robot to replace them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from . import joints as jt


@dataclass
class JointPhysics:
    kp: float  # position gain, N·m/rad
    kd: float  # velocity gain of the position actuator, N·m·s/rad
    armature: float  # reflected rotor inertia, kg·m²
    damping: float  # passive joint damping, N·m·s/rad
    frictionloss: float  # dry friction, N·m
    effort: float  # actuator torque limit, N·m


@dataclass
class MimicCoupling:
    k: float
    b: float


# Defaults by joint-name suffix. Arm efforts are the URDF's; the URDF gives no effort for the
# hand joints, so the hand's is a fingertip force of ~20 N at a ~5 cm lever.
_DEFAULTS = {
    "shoulder_pitch": JointPhysics(150.0, 8.0, 0.05, 0.2, 0.1, 38.46),
    "shoulder_roll": JointPhysics(150.0, 8.0, 0.05, 0.2, 0.1, 38.46),
    "shoulder_yaw": JointPhysics(100.0, 5.0, 0.03, 0.2, 0.1, 30.3),
    "elbow_pitch": JointPhysics(100.0, 5.0, 0.03, 0.2, 0.1, 30.3),
    "wrist_yaw": JointPhysics(30.0, 1.5, 0.01, 0.05, 0.05, 13.17),
    "wrist_roll": JointPhysics(20.0, 1.0, 0.01, 0.05, 0.05, 5.25),
    "wrist_pitch": JointPhysics(20.0, 1.0, 0.01, 0.05, 0.05, 5.25),
    "hand": JointPhysics(3.0, 0.1, 0.001, 0.01, 0.0, 1.0),
}

PARAMETER_NAMES = tuple(f.name for f in fields(JointPhysics))


def _default_for(spec: jt.JointSpec) -> JointPhysics:
    if spec.group == "hand":
        return replace(_DEFAULTS["hand"])
    suffix = spec.name.split("_", 1)[1].rsplit("_joint", 1)[0]
    return replace(_DEFAULTS[suffix])


@dataclass
class PhysicsParams:
    """Everything a physics file holds. ``joints`` and ``mimic`` are keyed by joint name."""

    joints: dict[str, JointPhysics]
    mimic: dict[str, MimicCoupling]
    latency_s: float = 0.0
    fit: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def default(cls) -> "PhysicsParams":
        return cls(
            joints={j.name: _default_for(j) for j in jt.CONTROLLED_JOINTS},
            mimic={m.name: MimicCoupling(m.k, m.b) for m in jt.MIMIC_JOINTS},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "joints": {n: asdict(p) for n, p in self.joints.items()},
            "mimic": {n: asdict(m) for n, m in self.mimic.items()},
            "latency_s": float(self.latency_s),
        }
        if self.fit:
            out["fit"] = self.fit
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "PhysicsParams":
        """Start from the defaults and override what ``data`` gives; reject unknown keys."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping, got {type(data).__name__}")
        unknown_top = set(data) - {"joints", "mimic", "latency_s", "fit"}
        if unknown_top:
            raise ValueError(f"{source}: unknown keys {sorted(unknown_top)}; expected joints, mimic, latency_s, fit")
        params = cls.default()
        joints = data.get("joints") or {}
        unknown = [n for n in joints if n not in params.joints]
        if unknown:
            raise ValueError(f"{source}: joints not in the GR1 joint table: {unknown}")
        for name, values in joints.items():
            bad = set(values) - set(PARAMETER_NAMES)
            if bad:
                raise ValueError(f"{source}: joint {name}: unknown parameters {sorted(bad)}; known: {PARAMETER_NAMES}")
            try:
                params.joints[name] = replace(params.joints[name], **{k: float(v) for k, v in values.items()})
            except (TypeError, ValueError) as e:
                raise ValueError(f"{source}: joint {name}: parameters must be numbers ({e})") from None
        mimic = data.get("mimic") or {}
        unknown = [n for n in mimic if n not in params.mimic]
        if unknown:
            raise ValueError(f"{source}: mimic joints not in the GR1 joint table: {unknown}")
        for name, values in mimic.items():
            bad = set(values) - {"k", "b"}
            if bad:
                raise ValueError(f"{source}: mimic joint {name}: unknown parameters {sorted(bad)}; known: ['b', 'k']")
            params.mimic[name] = replace(params.mimic[name], **{k: float(v) for k, v in values.items()})
        params.latency_s = float(data.get("latency_s", 0.0))
        if params.latency_s < 0:
            raise ValueError(f"{source}: latency_s must be >= 0, got {params.latency_s}")
        params.fit = dict(data.get("fit") or {})
        for name, p in params.joints.items():
            for k in PARAMETER_NAMES:
                if getattr(p, k) < 0:
                    raise ValueError(f"{source}: joint {name}: {k} must be >= 0, got {getattr(p, k)}")
        return params

    @classmethod
    def load(cls, path: str | Path) -> "PhysicsParams":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"physics file not found: {path}")
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f) or {}, source=str(path))

    def save(self, path: str | Path, force: bool = False) -> None:
        write_yaml_atomic(path, self.to_dict(), force=force)


def write_yaml_atomic(path: str | Path, data: Any, force: bool = False) -> None:
    """Write YAML via a temporary file and rename, refusing to replace a file unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(data, f, sort_keys=False)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a physics file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
