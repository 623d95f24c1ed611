"""Helpers shared by the autotune tests: known hidden physics and bag writers.

(In a module of its own, not conftest.py, so that ``import`` finds it whichever other test
folders also have a conftest.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dexmani_training.autotune.bagwrite import (
    DEFAULT_START_TIME_NS,
    joint_state_msg,
    typestore_for,
    write_joint_bag,
)
from gr1_description.physics import PhysicsParams

from gr1_description import joints as jt

HIDDEN_LATENCY_S = 0.03


def hidden_physics() -> PhysicsParams:
    """Known physics inside the default search ranges: arm gains and armature changed per joint."""
    p = PhysicsParams.default()
    for i, spec in enumerate(jt.CONTROLLED_JOINTS):
        j = p.joints[spec.name]
        if spec.group == "arm":
            j.kp *= (1.45, 0.7, 1.3, 0.75)[i % 4]
            j.kd *= (0.7, 1.4, 1.3, 0.8)[i % 4]
            j.armature *= (1.8, 0.6, 2.0, 1.5)[i % 4]
        else:
            j.kp *= 1.3
    p.latency_s = HIDDEN_LATENCY_S
    return p


def write_recording(path: Path, rec, **kw) -> Path:
    return write_joint_bag(
        path, state_t_s=rec.state_t_s, state_names=rec.state_names, position=rec.position_rad,
        velocity=rec.velocity_rad_s, effort=rec.effort_nm, command_t_s=rec.command_t_s,
        command_names=rec.command_names, command=rec.command_rad, **kw)


def write_custom_bag(path: Path, states, commands, *, state_topic="/joint_states", command_topic="/joint_commands",
                     storage="sqlite3", distro="jazzy", extra_topics=()) -> Path:
    """A bag from explicit message lists, for bad-input tests.

    ``states``/``commands``: lists of (log_time_s, stamp_s, names, positions); messages are
    written in the given order (so log times may be out of order as well).
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = typestore_for(distro)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as w:
        cs = w.add_connection(state_topic, "sensor_msgs/msg/JointState", typestore=ts)
        cc = w.add_connection(command_topic, "sensor_msgs/msg/JointState", typestore=ts) if commands is not None else None
        for topic, msgtype in extra_topics:
            w.add_connection(topic, msgtype, typestore=ts)
        for conn, msgs in ((cs, states), (cc, commands or [])):
            for log_s, stamp_s, names, pos in msgs:
                msg = joint_state_msg(ts, DEFAULT_START_TIME_NS + round(stamp_s * 1e9), names, pos)
                w.write(conn, DEFAULT_START_TIME_NS + round(log_s * 1e9),
                        ts.serialize_cdr(msg, "sensor_msgs/msg/JointState"))
    return path


def simple_streams(duration_s: float = 8.0, state_hz: float = 100.0, cmd_hz: float = 50.0):
    """Synthetic, well-formed state and command message lists (sine motion of every joint)."""
    names = list(jt.joint_names())
    lo, hi = jt.lower_limits(), jt.upper_limits()
    mid = 0.5 * (lo + hi)

    def q(t):
        return mid + 0.1 * np.sin(2 * np.pi * 0.5 * t + np.arange(26))

    states = [(t + 0.0005, t, names, q(t - 0.03)) for t in np.arange(0, duration_s, 1 / state_hz)]
    commands = [(t + 0.0005, t, names, q(t)) for t in np.arange(0, duration_s, 1 / cmd_hz)]
    return states, commands
