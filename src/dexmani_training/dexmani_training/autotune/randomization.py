"""Domain-randomization ranges around a (tuned) physics file, for training.

The paper randomizes the P and D gains multiplicatively (×U(0.8, 1.1) and ×U(0.7, 1.2), Table 4).
Applied to the gains of the physics file the simulator was built with (``--physics tuned.yaml``),
the ranges are centred on the tuned values rather than on hand-chosen defaults. A tuned file
carries its scale ranges in ``fit.randomization``; other files get the paper's.
"""

from __future__ import annotations

from gr1_description.physics import PhysicsParams

PAPER_SCALES = {"kp": (0.8, 1.1), "kd": (0.7, 1.2)}


def randomization_scales(physics: PhysicsParams) -> dict[str, tuple[float, float]]:
    """Multiplicative ranges per parameter: from ``fit.randomization`` if present, else the paper's."""
    scales = dict(PAPER_SCALES)
    for key, value in (physics.fit.get("randomization") or {}).items():
        if key.endswith("_scale") and isinstance(value, (list, tuple)) and len(value) == 2:
            lo, hi = float(value[0]), float(value[1])
            if not 0 < lo <= 1.0 <= hi:
                raise ValueError(f"fit.randomization.{key} must satisfy 0 < lo <= 1 <= hi, got {list(value)}")
            scales[key[: -len("_scale")]] = (lo, hi)
    return scales


def randomization_ranges(physics: PhysicsParams) -> dict[str, dict[str, tuple[float, float]]]:
    """Absolute ranges per joint and parameter, e.g. ``{"left_elbow_pitch_joint": {"kp": (lo, hi)}}``,
    each containing the file's own value."""
    scales = randomization_scales(physics)
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for name, joint in physics.joints.items():
        out[name] = {p: (getattr(joint, p) * lo, getattr(joint, p) * hi) for p, (lo, hi) in scales.items()}
    return out
