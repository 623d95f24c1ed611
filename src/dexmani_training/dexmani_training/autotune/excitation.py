"""Calibration motions: joint target sequences that make the physics parameters identifiable.

The robot follows these targets while ``ros2 bag record`` records it; autotune replays the
same targets in simulation. What each kind of motion is for:

* **steps** (one joint at a time, both arms together, around a gravity-loaded pose): the settled
  error under gravity gives the position gain kp; the transient gives kd and the armature;
* **chirps** (sine sweeps, 0.2 → 5 Hz, amplitude capped by the speed limit): the frequency
  response separates inertia (armature), damping (kd) and stiffness (kp), and the phase at
  high frequency exposes the latency;
* **sweeps** (slow multi-sines of all joints at once): friction at low speed, coupling between
  joints, gravity load over the workspace;
* **poses** (random gravity-loaded poses reached by minimum-jerk moves, held, with a small step
  at each): kp under many different gravity torques.

Every target stays ``position_margin_frac`` of the range inside the joint limits; smooth
motions stay under ``arm_speed_frac`` of the URDF velocity limit (``hand_speed_limit_rad_s`` for
the hands); commanded poses keep hands and forearms ``min_clearance_m`` from each other and from
the torso and head. The file is a CSV: ``time_s`` then the 26 joint names, one row per target,
with ``# key: value`` header lines (rate, segments).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from gr1_description import joints as jt

from .config import ExcitationConfig

#: The gravity-loaded base pose (left side; the right side mirrors the roll and yaw joints):
#: upper arm slightly forward and out, forearm horizontal, hands half closed.
_ARM_BASE = {
    "shoulder_pitch": -0.45,
    "shoulder_roll": 0.3,
    "shoulder_yaw": 0.0,
    "elbow_pitch": -1.2,
    "wrist_yaw": 0.0,
    "wrist_roll": 0.0,
    "wrist_pitch": 0.0,
}
#: Half-widths of the random pose box around the base pose, rad.
_ARM_POSE_HALF_WIDTH = {
    "shoulder_pitch": 0.6,
    "shoulder_roll": 0.3,
    "shoulder_yaw": 0.5,
    "elbow_pitch": 0.5,
    "wrist_yaw": 0.8,
    "wrist_roll": 0.4,
    "wrist_pitch": 0.3,
}
_MIRRORED = ("shoulder_roll", "shoulder_yaw", "wrist_yaw", "wrist_roll")
HOLD_S = 2.0  # hold at the base pose at the start and the end


@dataclass
class Excitation:
    """Joint targets at a fixed rate, in canonical joint order (``names``)."""

    rate_hz: float
    targets_rad: np.ndarray  # (N, 26)
    names: tuple[str, ...] = field(default_factory=jt.joint_names)
    segments: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, start_s, end_s)

    @property
    def times_s(self) -> np.ndarray:
        return np.arange(self.targets_rad.shape[0]) / self.rate_hz

    @property
    def duration_s(self) -> float:
        return self.targets_rad.shape[0] / self.rate_hz


def _suffix(spec: jt.JointSpec) -> str:
    return spec.name.split("_", 1)[1].rsplit("_joint", 1)[0]


class _Limits:
    def __init__(self, cfg: ExcitationConfig):
        lo, hi = jt.lower_limits(), jt.upper_limits()
        margin = cfg.position_margin_frac * (hi - lo)
        self.lo, self.hi = lo + margin, hi - margin
        vel = np.array([j.velocity_limit_rad_s for j in jt.CONTROLLED_JOINTS])
        self.is_arm = np.array([j.group == "arm" for j in jt.CONTROLLED_JOINTS])
        self.vmax = np.where(self.is_arm, cfg.arm_speed_frac * vel, cfg.hand_speed_limit_rad_s)


def base_pose() -> np.ndarray:
    """The gravity-loaded base pose of the calibration motions (26, rad)."""
    q = np.zeros(jt.NUM_CONTROLLED)
    for i, spec in enumerate(jt.CONTROLLED_JOINTS):
        if spec.group == "arm":
            s = _suffix(spec)
            v = _ARM_BASE[s]
            q[i] = -v if (spec.side == "right" and s in _MIRRORED) else v
        else:
            q[i] = 0.4 * spec.lower_rad + 0.4 * spec.upper_rad  # a little past half open
    return q


def _pose_half_width() -> np.ndarray:
    w = np.zeros(jt.NUM_CONTROLLED)
    for i, spec in enumerate(jt.CONTROLLED_JOINTS):
        w[i] = _ARM_POSE_HALF_WIDTH[_suffix(spec)] if spec.group == "arm" else 0.5 * (spec.upper_rad - spec.lower_rad)
    return w


def _taper(n: int, ramp: int) -> np.ndarray:
    """1 in the middle, a raised-cosine ramp of ``ramp`` samples at both ends."""
    w = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp > 0:
        r = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, ramp))
        w[:ramp] = r
        w[n - ramp :] = r[::-1]
    return w


def _min_jerk(q0: np.ndarray, q1: np.ndarray, n: int) -> np.ndarray:
    s = np.linspace(0.0, 1.0, n + 1)[1:, None]
    return q0 + (q1 - q0) * (10 * s**3 - 15 * s**4 + 6 * s**5)


class ClearanceChecker:
    """Distances between hands/forearms and each other, the torso and the head, at given poses."""

    def __init__(self):
        from gr1_description.mjcf import build_robot_model

        m = build_robot_model()
        self.model, self.data = m, mujoco.MjData(m)
        self.qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in jt.joint_names()])
        self.madr = np.array([m.jnt_qposadr[m.joint(n).id] for n in jt.mimic_names()])
        names = jt.joint_names()
        self._driver = np.array([names.index(s.driver) for s in jt.MIMIC_JOINTS])
        self._k = np.array([s.k for s in jt.MIMIC_JOINTS])
        self._b = np.array([s.b for s in jt.MIMIC_JOINTS])

        def geoms(pred) -> list[int]:
            return [g for g in range(m.ngeom) if pred(m.body(m.geom_bodyid[g]).name)]

        left = geoms(lambda b: b.startswith("L_") or b == "left_hand_yaw_link")
        right = geoms(lambda b: b.startswith("R_") or b == "right_hand_yaw_link")
        body = geoms(lambda b: b in ("base_link", "torso_link", "head_yaw_link"))
        self.pairs = [(a, b) for a in left for b in right] + [(a, b) for a in left + right for b in body]

    def min_distance_m(self, q: np.ndarray, cutoff_m: float = 0.2) -> float:
        d, m = self.data, self.model
        d.qpos[self.qadr] = q
        d.qpos[self.madr] = self._k * q[self._driver] + self._b
        mujoco.mj_kinematics(m, d)
        best = cutoff_m
        for a, b in self.pairs:
            best = min(best, mujoco.mj_geomDistance(m, d, a, b, cutoff_m, None))
        return best


def generate_excitation(cfg: ExcitationConfig | None = None, checker: ClearanceChecker | None = None) -> Excitation:
    """Calibration targets for the 26 joints; deterministic for a given config (seed)."""
    cfg = cfg or ExcitationConfig()
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    lim = _Limits(cfg)
    checker = checker or ClearanceChecker()
    rate = cfg.rate_hz
    n_total = round(cfg.duration_s * rate)
    n_hold = round(HOLD_S * rate)
    n_body = n_total - 2 * n_hold
    p0 = np.clip(base_pose(), lim.lo, lim.hi)
    arm = np.flatnonzero(lim.is_arm)
    hand = np.flatnonzero(~lim.is_arm)
    arm_by_suffix = [[i for i in arm if _suffix(jt.CONTROLLED_JOINTS[i]) == s] for s in _ARM_BASE]
    hand_by_index = [hand[k::6] for k in range(6)]  # the same finger joint on both hands

    blocks: list[tuple[str, np.ndarray]] = [("hold", np.tile(p0, (n_hold, 1)))]
    counts = [round(f * n_body) for f in (cfg.steps_frac, cfg.chirps_frac, cfg.sweeps_frac)]
    counts.append(n_body - sum(counts))
    blocks.append(("steps", _steps(p0, lim, cfg, counts[0], arm_by_suffix, hand_by_index)))
    blocks.append(("chirps", _chirps(p0, lim, cfg, counts[1], arm_by_suffix, hand_by_index)))
    blocks.append(("sweeps", _sweeps(p0, lim, cfg, counts[2], rng, checker)))
    blocks.append(("poses", _poses(p0, lim, cfg, counts[3], rng, checker)))
    blocks.append(("hold", np.tile(p0, (n_hold, 1))))

    segments, t = [], 0.0
    for kind, b in blocks:
        segments.append((kind, round(t, 6), round(t + b.shape[0] / rate, 6)))
        t += b.shape[0] / rate
    targets = np.clip(np.concatenate([b for _, b in blocks]), lim.lo, lim.hi)
    return Excitation(rate, targets, jt.joint_names(), segments)


def _split(n: int, parts: int) -> list[int]:
    bounds = np.linspace(0, n, parts + 1).astype(int)
    return list(np.diff(bounds))


def _steps(p0, lim: _Limits, cfg: ExcitationConfig, n: int, arm_groups, hand_groups) -> np.ndarray:
    """One joint (per side) at a time: +step, back, -step, back, each held equally long."""
    out = np.tile(p0, (n, 1))
    for groups, size in ((arm_groups, cfg.arm_step_rad), (hand_groups, cfg.hand_step_rad)):
        start = 0
        for idx, length in zip(groups, _split(n, len(groups))):
            phases = _split(length, 4)
            offsets = (size, 0.0, -size, 0.0)
            s = start
            for ph, off in zip(phases, offsets):
                out[s : s + ph, idx] = np.clip(p0[idx] + off, lim.lo[idx], lim.hi[idx])
                s += ph
            start += length
    return out


def _chirps(p0, lim: _Limits, cfg: ExcitationConfig, n: int, arm_groups, hand_groups) -> np.ndarray:
    """One joint (per side) at a time: a linear chirp, its amplitude capped by the speed limit."""
    out = np.tile(p0, (n, 1))
    rate = cfg.rate_hz
    for groups, amp0 in ((arm_groups, cfg.arm_chirp_amplitude_rad), (hand_groups, cfg.hand_chirp_amplitude_rad)):
        start = 0
        for idx, length in zip(groups, _split(n, len(groups))):
            t = np.arange(length) / rate
            dur = max(length / rate, 1e-9)
            f = cfg.chirp_start_hz + (cfg.chirp_end_hz - cfg.chirp_start_hz) * t / dur
            phase = 2 * np.pi * (cfg.chirp_start_hz * t + 0.5 * (cfg.chirp_end_hz - cfg.chirp_start_hz) * t**2 / dur)
            for i in idx:
                room = min(p0[i] - lim.lo[i], lim.hi[i] - p0[i])
                amp = np.minimum(np.minimum(amp0, room), 0.9 * lim.vmax[i] / (2 * np.pi * f))
                out[start : start + length, i] = p0[i] + amp * np.sin(phase) * _taper(length, int(rate))
            start += length
    return out


def _sweeps(p0, lim: _Limits, cfg: ExcitationConfig, n: int, rng, checker: ClearanceChecker) -> np.ndarray:
    """All joints at once: two slow sines per joint with distinct frequencies and random phases."""
    rate = cfg.rate_hz
    t = np.arange(n) / rate
    half = 0.8 * _pose_half_width()
    freqs = rng.uniform(0.08, 0.45, size=(2, jt.NUM_CONTROLLED))
    phases = rng.uniform(0, 2 * np.pi, size=(2, jt.NUM_CONTROLLED))
    shape = 0.6 * np.sin(2 * np.pi * freqs[0] * t[:, None] + phases[0]) + 0.4 * np.sin(2 * np.pi * freqs[1] * t[:, None] + phases[1])
    peak_speed = 2 * np.pi * (0.6 * freqs[0] + 0.4 * freqs[1])  # per unit amplitude
    room = np.minimum(p0 - lim.lo, lim.hi - p0)
    amp = np.minimum(np.minimum(half, room), 0.9 * lim.vmax / peak_speed)
    window = _taper(n, int(2 * rate))[:, None]
    for _ in range(8):  # shrink until every sampled pose keeps its clearance
        out = np.clip(p0 + amp * shape * window, lim.lo, lim.hi)
        if all(checker.min_distance_m(q) >= cfg.min_clearance_m for q in out[:: max(1, int(rate / 5))]):
            return out
        amp = amp * 0.8
    raise RuntimeError("could not find clear sweep amplitudes; lower min_clearance_m or check the base pose")


def _poses(p0, lim: _Limits, cfg: ExcitationConfig, n: int, rng, checker: ClearanceChecker) -> np.ndarray:
    """Random gravity-loaded poses: min-jerk move, hold, a small arm step, hold; back to the base."""
    rate = cfg.rate_hz
    half = _pose_half_width()
    rows: list[np.ndarray] = []
    used = 0
    current = p0.copy()

    def move(q1: np.ndarray) -> np.ndarray:
        # Minimum-jerk peak speed is 1.875 × the mean speed.
        dur = max(0.5, float(np.max(1.875 * np.abs(q1 - current) / (0.9 * lim.vmax))))
        return _min_jerk(current, q1, int(np.ceil(dur * rate)))

    hold = int(1.5 * rate)
    while True:
        for _ in range(50):
            q = np.clip(p0 + rng.uniform(-half, half), lim.lo, lim.hi)
            if checker.min_distance_m(q) >= cfg.min_clearance_m:
                break
        else:
            raise RuntimeError("could not sample a pose with enough clearance; lower min_clearance_m")
        stepped = q.copy()
        sign = rng.choice([-1.0, 1.0], size=int(lim.is_arm.sum()))
        stepped[lim.is_arm] = np.clip(q[lim.is_arm] + sign * 0.5 * cfg.arm_step_rad, lim.lo[lim.is_arm], lim.hi[lim.is_arm])
        block = np.concatenate([move(q), np.tile(q, (hold, 1)), np.tile(stepped, (hold, 1))])
        previous, current = current, stepped
        if used + block.shape[0] + move(p0).shape[0] > n:  # no time left to come back: stop
            current = previous
            break
        rows.append(block)
        used += block.shape[0]
    home = move(p0)
    rows.append(home)
    used += home.shape[0]
    rows.append(np.tile(p0, (max(0, n - used), 1)))
    return np.concatenate(rows)[:n]


# --- checks -------------------------------------------------------------------------------------
def check_excitation(exc: Excitation, cfg: ExcitationConfig, checker: ClearanceChecker | None = None) -> dict:
    """Measure what makes a file safe: limit margins, smooth-motion speed, clearance."""
    lim = _Limits(cfg)
    q = exc.targets_rad
    dq = np.abs(np.diff(q, axis=0)) * exc.rate_hz
    # Deliberate step commands: a one-sample jump between two holds (counted separately).
    pad = np.vstack([np.zeros((1, q.shape[1])), dq, np.zeros((1, q.shape[1]))])
    steps = (dq > lim.vmax) & (pad[:-2] < 0.25 * dq) & (pad[2:] < 0.25 * dq)
    smooth_speed = np.where(steps, 0.0, dq).max(axis=0)
    checker = checker or ClearanceChecker()
    every = max(1, int(exc.rate_hz / 5))
    clearance = min(checker.min_distance_m(p) for p in q[::every])
    return {
        "duration_s": exc.duration_s,
        "within_margins": bool(np.all(q >= lim.lo - 1e-9) and np.all(q <= lim.hi + 1e-9)),
        "max_smooth_speed_frac": float(np.max(smooth_speed / lim.vmax)),
        "max_step_rad": float(np.max(np.where(steps, np.abs(np.diff(q, axis=0)), 0.0))),
        "min_clearance_m": float(clearance),
    }


# --- file format ------------------------------------------------------------------------------
def save_excitation(exc: Excitation, path: str | Path, force: bool = False) -> None:
    """Write the CSV atomically (temp file + rename); refuse to replace a file without ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# dexmani autotune excitation: joint position targets (rad), canonical joint order",
        f"# rate_hz: {exc.rate_hz:g}",
        "# segments: " + ", ".join(f"{k} {a:g}-{b:g}" for k, a, b in exc.segments),
        "time_s," + ",".join(exc.names),
    ]
    t = exc.times_s
    body = "\n".join(f"{t[i]:.4f}," + ",".join(f"{v:.5f}" for v in exc.targets_rad[i]) for i in range(len(t)))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n" + body + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_excitation(path: str | Path) -> Excitation:
    """Read an excitation CSV; any joint order, all 26 controlled joints required."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"excitation file not found: {path}")
    meta: dict[str, str] = {}
    header: list[str] | None = None
    rows: list[list[float]] = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                if ":" in line:
                    k, v = line[1:].split(":", 1)
                    meta[k.strip()] = v.strip()
                continue
            if header is None:
                header = [c.strip() for c in line.split(",")]
                continue
            try:
                rows.append([float(x) for x in line.split(",")])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: not a row of numbers: {line[:60]!r}") from None
            if len(rows[-1]) != len(header):
                raise ValueError(f"{path}:{lineno}: {len(rows[-1])} values, header has {len(header)} columns")
    if header is None or not rows:
        raise ValueError(f"{path}: no header or no rows; expected 'time_s,<joint names>' then targets")
    if header[0] != "time_s":
        raise ValueError(f"{path}: first column must be time_s, got {header[0]!r}")
    names = header[1:]
    unknown = [n for n in names if n not in jt.joint_names()]
    if unknown:
        raise ValueError(f"{path}: joints not in the GR1 joint table: {unknown}")
    missing = [n for n in jt.joint_names() if n not in names]
    if missing:
        raise ValueError(f"{path}: missing controlled joints: {missing}")
    data = np.asarray(rows)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: contains NaN or inf")
    t = data[:, 0]
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise ValueError(f"{path}: time_s must increase strictly")
    if "rate_hz" in meta:
        rate = float(meta["rate_hz"])
    elif len(t) > 1:
        rate = 1.0 / float(np.median(np.diff(t)))
    else:
        raise ValueError(f"{path}: one row and no '# rate_hz:' line; cannot tell the rate")
    if len(t) > 1 and np.max(np.abs(np.diff(t) - 1.0 / rate)) > 0.25 / rate:
        raise ValueError(f"{path}: rows are not evenly spaced at {rate:g} Hz")
    targets = jt.reorder(data[0, 1:], names)[None, :] if len(t) == 1 else np.stack([jt.reorder(r, names) for r in data[:, 1:]])
    lo, hi = jt.lower_limits(), jt.upper_limits()
    outside = [jt.joint_names()[i] for i in range(jt.NUM_CONTROLLED) if targets[:, i].min() < lo[i] - 1e-6 or targets[:, i].max() > hi[i] + 1e-6]
    if outside:
        raise ValueError(f"{path}: targets outside the joint limits for {outside}")
    segments = []
    for part in meta.get("segments", "").split(","):
        bits = part.split()
        if len(bits) == 2 and "-" in bits[1]:
            a, b = bits[1].split("-", 1)
            segments.append((bits[0], float(a), float(b)))
    return Excitation(rate, targets, jt.joint_names(), segments)
