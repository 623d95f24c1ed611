"""Bag ingestion: a rosbag2 directory → measured and commanded joint arrays on one time grid.

Reads sqlite3 and mcap bags of Humble (metadata version 5, no stored message definitions) and
Jazzy (version 8/9) with ``rosbags``. Measured joints come from ``sensor_msgs/JointState``;
commands from ``sensor_msgs/JointState`` (positions), ``std_msgs/Float64MultiArray`` (joint
order from the config) or ``trajectory_msgs/JointTrajectory`` (each point at stamp +
time_from_start).

Times: header stamps where the message has one and it is on the recorder's clock (within
50 ms of the log time, median), else the log (receive) time. Measured positions are linearly
interpolated onto a grid at the control rate; commands are kept as events (a command holds
until the next one), so the replay can shift them by any latency. Bad data is handled and
counted in ``Recording.quality``: out-of-order and duplicate stamps are sorted and dropped, rows
with NaN are dropped, grid points inside state gaps longer than ``max_gap_s`` are left out of
the metric; a bag where that covers more than ``max_invalid_frac`` of the time is refused.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gr1_description import joints as jt

from .bagwrite import COMMAND_TYPES
from .config import IngestConfig

STATE_TYPE = "sensor_msgs/msg/JointState"
CLOCK_MISMATCH_S = 0.05  # header stamps further than this (median) from the log time: another clock


class BagError(ValueError):
    """A bag that cannot be used: unreadable, truncated, wrong topics, joints or data."""


class MissingTopicError(BagError):
    pass


class JointNameError(BagError):
    pass


class DataQualityError(BagError):
    pass


@lru_cache(maxsize=1)
def robot_joint_names() -> frozenset[str]:
    """Every joint of the GR1T2 URDF (legs, waist, head, ...): names a full /joint_states may carry."""
    try:
        from gr1_description.urdf import load_urdf

        return frozenset(load_urdf().joints)
    except Exception:  # noqa: BLE001 -- the URDF package is missing: accept the table's own names only
        return frozenset(jt.joint_names() + jt.mimic_names() + jt.WAIST_JOINTS + jt.HEAD_JOINTS)


@dataclass
class Recording:
    """Measured joints on a uniform grid plus the command events, times in s from ``t_s[0]``."""

    rate_hz: float
    t_s: np.ndarray  # (T,) grid, starting at 0
    q_rad: np.ndarray  # (T, 26) measured positions, canonical order
    qd_rad_s: np.ndarray  # (T, 26) measured (or differentiated) velocities
    mimic_q_rad: np.ndarray | None  # (T, 10) measured underactuated joints, if the bag has them
    valid: np.ndarray  # (T,) grid points that count in the metric
    cmd_t_s: np.ndarray  # (M,) command times (same clock), may start before t_s[0]
    cmd_rad: np.ndarray  # (M, 26)
    source: dict[str, Any] = field(default_factory=dict)  # bag path, topics, types, counts

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] - self.t_s[0]) if self.t_s.size else 0.0

    def segment(self, start: int, stop: int) -> Recording:
        """Grid points [start, stop), re-zeroed in time; commands shifted with it."""
        t0 = self.t_s[start]
        return replace(
            self,
            t_s=self.t_s[start:stop] - t0,
            q_rad=self.q_rad[start:stop],
            qd_rad_s=self.qd_rad_s[start:stop],
            mimic_q_rad=None if self.mimic_q_rad is None else self.mimic_q_rad[start:stop],
            valid=self.valid[start:stop],
            cmd_t_s=self.cmd_t_s - t0,
        )

    def split(self, validation_frac: float) -> tuple[Recording, Recording]:
        """Train on the first part, validate on the held-out last ``validation_frac``."""
        n = self.t_s.size
        cut = round(n * (1.0 - validation_frac))
        if cut < 2 or n - cut < 2:
            raise DataQualityError(f"recording of {n} grid points is too short to split off {validation_frac:.0%} for validation")
        return self.segment(0, cut + 1), self.segment(cut, n)


def _topic_table(connections) -> str:
    rows = sorted({(c.topic, c.msgtype, c.msgcount) for c in connections})
    return "; ".join(f"{t} [{ty}] ({n} msgs)" for t, ty, n in rows) or "(none)"


def _open_reader(path: Path):
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    meta = path / "metadata.yaml"
    distro = ""
    with contextlib.suppress(OSError, ValueError, AttributeError, yaml.YAMLError):
        distro = str((yaml.safe_load(meta.read_text()) or {}).get("rosbag2_bagfile_information", {}).get("ros_distro") or "")
    store = Stores.ROS2_HUMBLE if distro.startswith("humble") else Stores.ROS2_JAZZY
    reader = AnyReader([path], default_typestore=get_typestore(store))
    reader.open()
    return reader


def _resolve_bag_path(bag: str | Path) -> Path:
    path = Path(bag)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    if path.is_file():
        if (path.parent / "metadata.yaml").is_file():
            return path.parent
        raise BagError(f"{path} is a file; expected a rosbag2 directory (with metadata.yaml and .db3/.mcap files)")
    if not (path / "metadata.yaml").is_file():
        raise BagError(
            f"{path} has no metadata.yaml: not a rosbag2 directory, or a recording that was cut off "
            "(`ros2 bag reindex` rebuilds the metadata)"
        )
    return path


def read_bag(bag: str | Path, cfg: IngestConfig | None = None) -> Recording:
    """Read ``bag`` and return its measured and commanded joints on the control-rate grid."""
    cfg = cfg or IngestConfig()
    cfg.validate()
    path = _resolve_bag_path(bag)
    try:
        reader = _open_reader(path)
    except BagError:
        raise
    except Exception as e:  # noqa: BLE001 -- rosbags, apsw, zstd, struct: all mean "unreadable"
        raise BagError(f"cannot read bag {path}: {type(e).__name__}: {e}") from None
    try:
        return _ingest(reader, path, cfg)
    finally:
        with contextlib.suppress(Exception):
            reader.close()


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _ingest(reader, path: Path, cfg: IngestConfig) -> Recording:
    conns = reader.connections
    by_topic = {}
    for c in conns:
        by_topic.setdefault(c.topic, []).append(c)
    table = _topic_table(conns)
    missing = [t for t in (cfg.state_topic, cfg.command_topic) if t not in by_topic]
    if missing:
        raise MissingTopicError(
            f"bag {path} lacks topic(s) {missing}; it has: {table}. "
            "Pick others with --state-topic / --command-topic."
        )
    state_conns = by_topic[cfg.state_topic]
    bad = [c.msgtype for c in state_conns if c.msgtype != STATE_TYPE]
    if bad:
        raise MissingTopicError(f"state topic {cfg.state_topic} has type {bad[0]}, expected {STATE_TYPE}; the bag has: {table}")
    cmd_conns = by_topic[cfg.command_topic]
    cmd_type = cmd_conns[0].msgtype
    if cmd_type not in COMMAND_TYPES.values() or any(c.msgtype != cmd_type for c in cmd_conns):
        raise MissingTopicError(
            f"command topic {cfg.command_topic} has type {cmd_type}, expected one of {sorted(COMMAND_TYPES.values())}; "
            f"the bag has: {table}"
        )
    if sum(c.msgcount for c in state_conns) == 0 or sum(c.msgcount for c in cmd_conns) == 0:
        raise DataQualityError(f"bag {path}: no messages on {cfg.state_topic} or {cfg.command_topic}; it has: {table}")

    names = jt.joint_names()
    mimic = jt.mimic_names()
    known = robot_joint_names()
    state_map: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray | None]] = {}
    ignored: set[str] = set()
    st_t, st_log, st_q, st_qd, st_m = [], [], [], [], []
    cmd_t, cmd_log, cmd_q = [], [], []
    has_velocity = True
    float_order = tuple(cfg.command_joint_order) or names
    if cmd_type == COMMAND_TYPES["float64_multi_array"]:
        unknown = [n for n in float_order if n not in names]
        if unknown:
            raise JointNameError(f"command_joint_order names joints not in the GR1 joint table: {unknown}")
        missing_j = [n for n in names if n not in float_order]
        if missing_j:
            raise JointNameError(f"command_joint_order lacks controlled joints: {missing_j}")
    float_idx = np.array([float_order.index(n) for n in names])

    def state_index(msg_names: tuple[str, ...]):
        hit = state_map.get(msg_names)
        if hit is None:
            unknown = [n for n in msg_names if n not in known]
            if unknown:
                raise JointNameError(
                    f"{cfg.state_topic}: joint names not in the GR1 joint table or robot model: {unknown}"
                )
            lacking = [n for n in names if n not in msg_names]
            if lacking:
                raise JointNameError(f"{cfg.state_topic}: messages lack controlled joints: {lacking}")
            pos = {n: i for i, n in enumerate(msg_names)}
            ignored.update(n for n in msg_names if n not in names and n not in mimic)
            midx = np.array([pos[n] for n in mimic]) if all(n in pos for n in mimic) else None
            hit = (np.array([pos[n] for n in names]), midx)
            state_map[msg_names] = hit
        return hit

    cmd_map: dict[tuple[str, ...], np.ndarray] = {}

    def command_index(msg_names: tuple[str, ...]) -> np.ndarray:
        hit = cmd_map.get(msg_names)
        if hit is None:
            unknown = [n for n in msg_names if n not in known]
            if unknown:
                raise JointNameError(f"{cfg.command_topic}: joint names not in the GR1 joint table or robot model: {unknown}")
            lacking = [n for n in names if n not in msg_names]
            if lacking:
                raise JointNameError(f"{cfg.command_topic}: commands lack controlled joints: {lacking}")
            pos = {n: i for i, n in enumerate(msg_names)}
            hit = np.array([pos[n] for n in names])
            cmd_map[msg_names] = hit
        return hit

    n_malformed = 0
    try:
        for conn, log_ns, raw in reader.messages(connections=state_conns + cmd_conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == cfg.state_topic:
                idx, midx = state_index(tuple(msg.name))
                pos = np.asarray(msg.position, dtype=float)
                if pos.size != len(msg.name):
                    n_malformed += 1
                    continue
                vel = np.asarray(msg.velocity, dtype=float)
                st_t.append(_stamp_ns(msg.header))
                st_log.append(log_ns)
                st_q.append(pos[idx])
                if vel.size == len(msg.name):
                    st_qd.append(vel[idx])
                else:
                    has_velocity = False
                    st_qd.append(np.full(len(idx), np.nan))
                st_m.append(pos[midx] if midx is not None else None)
            elif cmd_type == COMMAND_TYPES["joint_state"]:
                idx = command_index(tuple(msg.name))
                pos = np.asarray(msg.position, dtype=float)
                if pos.size != len(msg.name):
                    n_malformed += 1
                    continue
                cmd_t.append(_stamp_ns(msg.header))
                cmd_log.append(log_ns)
                cmd_q.append(pos[idx])
            elif cmd_type == COMMAND_TYPES["float64_multi_array"]:
                data = np.asarray(msg.data, dtype=float)[msg.layout.data_offset :]
                if data.size != len(float_order):
                    raise JointNameError(
                        f"{cfg.command_topic}: Float64MultiArray with {data.size} values, expected "
                        f"{len(float_order)} (command_joint_order)"
                    )
                cmd_t.append(0)
                cmd_log.append(log_ns)
                cmd_q.append(data[float_idx])
            else:  # JointTrajectory: every point, at stamp + time_from_start
                idx = command_index(tuple(msg.joint_names))
                base = _stamp_ns(msg.header)
                for pt in msg.points:
                    pos = np.asarray(pt.positions, dtype=float)
                    if pos.size != len(msg.joint_names):
                        n_malformed += 1
                        continue
                    off = int(pt.time_from_start.sec) * 1_000_000_000 + int(pt.time_from_start.nanosec)
                    cmd_t.append(base + off if base else 0)
                    cmd_log.append(log_ns + off)
                    cmd_q.append(pos[idx])
    except BagError:
        raise
    except Exception as e:  # noqa: BLE001 -- any failure while decoding means a damaged bag
        raise BagError(f"cannot read bag {path} (truncated or corrupt?): {type(e).__name__}: {e}") from None

    quality: dict[str, Any] = {"malformed_messages": n_malformed, "ignored_joints": sorted(ignored)}
    if not st_q or not cmd_q:
        raise DataQualityError(f"bag {path}: no usable messages on {cfg.state_topic} or {cfg.command_topic}")
    st_ns, st_clock = _choose_times(np.array(st_t, np.int64), np.array(st_log, np.int64), cfg.use_header_stamps)
    cmd_ns, cmd_clock = _choose_times(np.array(cmd_t, np.int64), np.array(cmd_log, np.int64), cfg.use_header_stamps)
    quality["state_clock"], quality["command_clock"] = st_clock, cmd_clock
    q = np.asarray(st_q)
    qd = np.asarray(st_qd)
    mim = np.asarray(st_m, dtype=float) if all(m is not None for m in st_m) else None
    cq = np.asarray(cmd_q)

    # Order, duplicates, NaN.
    st_ns, (q, qd, mim), st_stats = _clean(st_ns, (q, qd, mim), nan_cols=q.shape[1])
    cmd_ns, (cq,), cmd_stats = _clean(cmd_ns, (cq,), nan_cols=cq.shape[1])
    for k, v in st_stats.items():
        quality[f"state_{k}"] = v
    for k, v in cmd_stats.items():
        quality[f"command_{k}"] = v
    if st_ns.size < 2 or cmd_ns.size < 1:
        raise DataQualityError(f"bag {path}: fewer than 2 usable state messages or no usable command ({quality})")

    t0_ns = max(int(st_ns[0]), int(cmd_ns[0]))
    t_end_ns = int(st_ns[-1])
    duration = (t_end_ns - t0_ns) * 1e-9
    if duration < cfg.min_duration_s:
        raise DataQualityError(
            f"bag {path}: states and commands overlap for {duration:.2f} s, need at least {cfg.min_duration_s} s"
        )
    st_s = (st_ns - t0_ns) * 1e-9
    c_s = (cmd_ns - t0_ns) * 1e-9
    n_grid = int(np.floor(duration * cfg.rate_hz + 1e-9)) + 1
    grid = np.arange(n_grid) / cfg.rate_hz

    q_grid = np.stack([np.interp(grid, st_s, q[:, j]) for j in range(q.shape[1])], axis=1)
    # A grid point is valid if both state samples around it are at most max_gap_s apart.
    right = np.clip(np.searchsorted(st_s, grid, side="left"), 1, st_s.size - 1)
    span = st_s[right] - st_s[right - 1]
    valid = span <= cfg.max_gap_s + 1e-9
    gaps = np.diff(st_s) > cfg.max_gap_s
    quality["state_gaps"] = int(gaps.sum())
    quality["state_gap_time_s"] = float(np.diff(st_s)[gaps].sum())
    quality["invalid_grid_points"] = int((~valid).sum())
    invalid_frac = 1.0 - valid.mean()
    if invalid_frac > cfg.max_invalid_frac:
        raise DataQualityError(
            f"bag {path}: {invalid_frac:.0%} of the recording lies in state gaps longer than {cfg.max_gap_s} s "
            f"({quality['state_gaps']} gaps, {quality['state_gap_time_s']:.2f} s); at most {cfg.max_invalid_frac:.0%} allowed"
        )
    if has_velocity and np.all(np.isfinite(qd)):
        qd_grid = np.stack([np.interp(grid, st_s, qd[:, j]) for j in range(qd.shape[1])], axis=1)
        quality["velocity"] = "measured"
    else:
        qd_grid = np.gradient(q_grid, 1.0 / cfg.rate_hz, axis=0)
        quality["velocity"] = "differentiated"
    mim_grid = None
    if mim is not None:
        mim_grid = np.stack([np.interp(grid, st_s, mim[:, j]) for j in range(mim.shape[1])], axis=1)
    state_rate = (st_s.size - 1) / max(st_s[-1] - st_s[0], 1e-9)
    quality["state_rate_hz"] = float(state_rate)
    quality["command_rate_hz"] = float((c_s.size - 1) / max(c_s[-1] - c_s[0], 1e-9)) if c_s.size > 1 else 0.0
    quality["state_messages"] = int(st_s.size)
    quality["command_messages"] = int(c_s.size)
    source = {
        "bag": str(path.resolve()),
        "state_topic": cfg.state_topic,
        "command_topic": cfg.command_topic,
        "command_type": cmd_type,
        "start_time_ns": int(t0_ns),
        "duration_s": float(grid[-1]),
        "mimic_measured": mim_grid is not None,
        "quality": quality,
    }
    return Recording(cfg.rate_hz, grid, q_grid, qd_grid, mim_grid, valid, c_s, cq, source)


def _choose_times(stamp_ns: np.ndarray, log_ns: np.ndarray, use_header: bool) -> tuple[np.ndarray, str]:
    """Header stamps if present and on the recorder's clock, else log times."""
    if not use_header or np.any(stamp_ns == 0):
        return log_ns, "log time"
    offset = np.median((stamp_ns - log_ns) * 1e-9)
    if abs(offset) > CLOCK_MISMATCH_S:
        return log_ns, f"log time (header stamps {offset:+.3f} s off the recorder clock)"
    return stamp_ns, "header stamps"


def _clean(t_ns: np.ndarray, arrays: tuple, nan_cols: int):
    """Sort by time, drop duplicate stamps and rows with NaN in the first array; count each."""
    unsorted = int(np.sum(np.diff(t_ns) < 0))
    order = np.argsort(t_ns, kind="stable")
    t_ns = t_ns[order]
    arrays = tuple(None if a is None else a[order] for a in arrays)
    keep = np.ones(t_ns.size, dtype=bool)
    keep[1:] = np.diff(t_ns) > 0  # keep the first of equal stamps
    duplicates = int((~keep).sum())
    main = arrays[0]
    finite = np.all(np.isfinite(main), axis=1)
    if arrays[-1] is not None and len(arrays) > 2:
        finite &= np.all(np.isfinite(arrays[-1]), axis=1)
    nan_rows = int((~finite & keep).sum())
    keep &= finite
    stats = {"unsorted": unsorted, "duplicates": duplicates, "nan_rows": nan_rows}
    return t_ns[keep], tuple(None if a is None else a[keep] for a in arrays), stats


def list_topics(bag: str | Path) -> dict[str, str]:
    """Topic → message type of a bag (for messages and tools)."""
    path = _resolve_bag_path(bag)
    try:
        reader = _open_reader(path)
    except Exception as e:  # noqa: BLE001 -- rosbags, apsw, zstd, struct: all mean "unreadable"
        raise BagError(f"cannot read bag {path}: {type(e).__name__}: {e}") from None
    try:
        return {c.topic: c.msgtype for c in reader.connections}
    finally:
        reader.close()
