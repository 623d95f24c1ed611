"""The search space: which physics parameters are searched, per joint or shared, in which range.

The search works on a vector ``u`` in the unit cube. Each coordinate sets one parameter for a
set of joints (one joint, a left/right pair, or a side group) as a multiple of the joints'
initial values (log-uniform in the configured range), as an offset (mimic b), or as a value
(latency). Each coordinate also names the *channels* (measured joints) whose tracking error it
mainly drives: a joint's own parameters drive that joint and the finger joints it carries, a mimic
coupling drives its finger joint, the latency drives all. The search exploits that structure:
coordinates with the same channels form a block, and blocks are scored on their own channels.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from gr1_description.physics import PhysicsParams

from gr1_description import joints as jt

from .config import JOINT_PARAMETERS, SearchConfig


@dataclass(frozen=True)
class Coordinate:
    param: str  # kp ... effort, mimic_k, mimic_b, latency_s
    joints: tuple[str, ...]  # controlled or mimic joint names it sets; () for latency
    lo: float
    hi: float
    log: bool  # log-uniform scale factor (True) or a linear offset/value (False)
    channels: tuple[int, ...]  # indices of the measured channels it drives

    @property
    def label(self) -> str:
        if not self.joints:
            return self.param
        if len(self.joints) == 1:
            return f"{self.param}[{self.joints[0]}]"
        return f"{self.param}[{self.joints[0]}+{len(self.joints) - 1}]"


def _pair_key(name: str) -> str:
    for prefix in ("left_", "right_", "L_", "R_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _partition(names: tuple[str, ...], scope: str, side_group) -> list[tuple[str, ...]]:
    if scope == "fixed":
        return []
    if scope == "joint":
        return [(n,) for n in names]
    key = _pair_key if scope == "pair" else side_group
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(key(n), []).append(n)
    return [tuple(v) for v in groups.values()]


def _hand_side(name: str) -> str:
    return "left" if name.startswith("L_") else "right"


class ParamSpace:
    """Maps unit-cube vectors to :class:`PhysicsParams` around an initial parameter set."""

    def __init__(self, initial: PhysicsParams, search: SearchConfig, mimic_measured: bool, latency_offsets_s: float = 0.0):
        self.initial = initial
        self.mimic_measured = mimic_measured
        names = jt.joint_names()
        mimic_names = jt.mimic_names()
        self.num_channels = len(names) + (len(mimic_names) if mimic_measured else 0)
        spec_of = {j.name: j for j in jt.CONTROLLED_JOINTS}
        driven: dict[str, list[int]] = {n: [] for n in names}
        if mimic_measured:
            for k, m in enumerate(jt.MIMIC_JOINTS):
                driven[m.driver].append(len(names) + k)
        self.notes: list[str] = []
        coords: list[Coordinate] = []
        for param, rng in search.parameters.items():
            lo, hi = map(float, rng.range)
            if param in JOINT_PARAMETERS:
                parts = _partition(names, rng.scope, lambda n: f"{spec_of[n].side}_{spec_of[n].group}")
                for part in parts:
                    ch = tuple(sorted(c for n in part for c in [names.index(n)] + driven[n]))
                    coords.append(Coordinate(param, part, lo, hi, True, ch))
                    if all(getattr(initial.joints[n], param) == 0 for n in part):
                        self.notes.append(f"{param} of {part[0]}{' (+others)' if len(part) > 1 else ''} is 0 initially; "
                                          "a scale range keeps it 0")
            elif param in ("mimic_k", "mimic_b"):
                if rng.scope == "fixed":
                    continue
                if not mimic_measured:
                    self.notes.append(f"{param}: the bag has no measurements of the underactuated finger joints; kept at the initial values")
                    continue
                for part in _partition(mimic_names, rng.scope, _hand_side):
                    ch = tuple(sorted(len(names) + mimic_names.index(n) for n in part))
                    coords.append(Coordinate(param, part, lo, hi, param == "mimic_k", ch))
            elif param == "latency_s" and rng.scope == "global":
                coords.append(Coordinate(param, (), lo, hi, False, tuple(range(self.num_channels))))
        latency_searched = any(c.param == "latency_s" for c in coords)
        self.base_dim = len(coords)
        if latency_offsets_s > 0 and latency_searched:
            # Per-joint latency offsets, in the joint's block: lets each joint trade its latency
            # against its inertia on its own before the global latency is updated (see search.py).
            for n in names:
                ch = tuple(sorted([names.index(n)] + driven[n]))
                coords.append(Coordinate("latency_offset_s", (n,), -latency_offsets_s, latency_offsets_s, False, ch))
        self.coords = coords
        self.dim = len(coords)
        self.latency_index = next((i for i, c in enumerate(coords) if c.param == "latency_s"), None)
        self.offset_indices = np.array([i for i, c in enumerate(coords) if c.param == "latency_offset_s"], dtype=int)
        u0 = self.encode(initial)
        outside = [coords[i].label for i in range(self.dim) if not -1e-9 <= u0[i] <= 1 + 1e-9]
        if outside:
            raise ValueError(f"the initial parameters lie outside the search ranges for {outside[:6]}{' ...' if len(outside) > 6 else ''}")
        self.u0 = np.clip(u0, 0.0, 1.0)
        # Blocks: coordinates that drive the same channels.
        by_channels: dict[tuple[int, ...], list[int]] = {}
        for i, c in enumerate(coords):
            if c.param != "latency_s":
                by_channels.setdefault(c.channels, []).append(i)
        self.blocks = [(np.array(ix), np.array(ch)) for ch, ix in by_channels.items()]

    # --- mapping ------------------------------------------------------------------------------
    def _value(self, c: Coordinate, u: float) -> float:
        return c.lo * (c.hi / c.lo) ** u if c.log else c.lo + u * (c.hi - c.lo)

    def _unit(self, c: Coordinate, v: float) -> float:
        if c.log:
            return float(np.log(v / c.lo) / np.log(c.hi / c.lo))
        return float((v - c.lo) / (c.hi - c.lo))

    def decode(self, u: np.ndarray) -> PhysicsParams:
        """The physics at ``u`` (the initial physics with the searched coordinates replaced)."""
        p = copy.deepcopy(self.initial)
        p.fit = {}
        for c, x in zip(self.coords, np.clip(np.asarray(u, dtype=float), 0.0, 1.0)):
            v = float(self._value(c, x))
            if c.param in JOINT_PARAMETERS:
                for n in c.joints:
                    setattr(p.joints[n], c.param, float(getattr(self.initial.joints[n], c.param) * v))
            elif c.param == "mimic_k":
                for n in c.joints:
                    p.mimic[n].k = float(self.initial.mimic[n].k * v)
            elif c.param == "mimic_b":
                for n in c.joints:
                    p.mimic[n].b = float(self.initial.mimic[n].b + v)
            elif c.param == "latency_s":
                p.latency_s = v
        return p

    def latency_offsets(self, u: np.ndarray) -> np.ndarray | None:
        """Per-joint latency offsets (26,) in s at ``u``, or None if the space has none."""
        if self.offset_indices.size == 0:
            return None
        out = np.zeros(jt.NUM_CONTROLLED)
        for k, i in enumerate(self.offset_indices):
            out[k] = self._value(self.coords[i], float(np.clip(u[i], 0.0, 1.0)))
        return out

    def encode(self, physics: PhysicsParams) -> np.ndarray:
        """Unit coordinates of ``physics`` (scale factors read from the first joint of each set)."""
        u = np.zeros(self.dim)
        for i, c in enumerate(self.coords):
            if c.param in JOINT_PARAMETERS:
                n = c.joints[0]
                init = getattr(self.initial.joints[n], c.param)
                v = getattr(physics.joints[n], c.param) / init if init else 1.0
            elif c.param == "mimic_k":
                v = physics.mimic[c.joints[0]].k / self.initial.mimic[c.joints[0]].k
            elif c.param == "mimic_b":
                v = physics.mimic[c.joints[0]].b - self.initial.mimic[c.joints[0]].b
            elif c.param == "latency_offset_s":
                v = 0.0
            else:
                v = physics.latency_s
            u[i] = self._unit(c, v)
        return u

    def with_latency(self, u: np.ndarray, latency_s: float) -> np.ndarray:
        u = np.array(u, dtype=float)
        if self.latency_index is not None:
            c = self.coords[self.latency_index]
            u[self.latency_index] = np.clip(self._unit(c, latency_s), 0.0, 1.0)
        return u

    def searched(self) -> list[str]:
        return sorted({c.param for c in self.coords if c.param != "latency_offset_s"},
                      key=lambda s: (s not in JOINT_PARAMETERS, s))
