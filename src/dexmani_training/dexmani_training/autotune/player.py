"""Playing an excitation file on a robot: the logic behind the excitation player node, ROS-free.

The node (``node.py``) only converts messages and calls this. The robot starts wherever it is:
the player first moves from the measured start pose to the file's first target with a smooth
(raised-cosine) ramp of ``ramp_s``, then sends the file's targets at the file's rate; after the
last target it reports that it is done.
"""

from __future__ import annotations

import numpy as np

from gr1_description import joints as jt

from .excitation import Excitation


class ExcitationPlayer:
    """Target positions (canonical order) at time ``t_s`` since the start of playback."""

    def __init__(self, excitation: Excitation, start_rad: np.ndarray, ramp_s: float = 3.0):
        start = np.asarray(start_rad, dtype=float)
        if start.shape != (jt.NUM_CONTROLLED,):
            raise ValueError(f"start pose must have {jt.NUM_CONTROLLED} values, got shape {start.shape}")
        if not np.all(np.isfinite(start)):
            raise ValueError("start pose contains NaN or inf")
        if ramp_s < 0:
            raise ValueError(f"ramp_s must be >= 0, got {ramp_s}")
        self.exc = excitation
        self.start = np.clip(start, jt.lower_limits(), jt.upper_limits())
        self.ramp_s = float(ramp_s)

    @property
    def duration_s(self) -> float:
        return self.ramp_s + self.exc.duration_s

    def target(self, t_s: float) -> np.ndarray | None:
        """The target to send at ``t_s``; None once the file has been played."""
        if t_s < 0:
            return self.start.copy()
        first = self.exc.targets_rad[0]
        if t_s < self.ramp_s:
            s = 0.5 - 0.5 * np.cos(np.pi * t_s / self.ramp_s)
            return self.start + s * (first - self.start)
        i = int(np.floor((t_s - self.ramp_s) * self.exc.rate_hz + 1e-9))
        if i >= self.exc.targets_rad.shape[0]:
            return None
        return self.exc.targets_rad[i].copy()


def joint_state_positions(msg) -> np.ndarray:
    """Positions of the 26 controlled joints (canonical order) from a ``sensor_msgs/JointState``;
    raises naming the controlled joints the message lacks."""
    names = list(msg.name)
    pos = list(msg.position)
    if len(pos) != len(names):
        raise ValueError(f"JointState with {len(names)} names but {len(pos)} positions")
    return jt.reorder(pos, names)


def fill_joint_command(msg, stamp_ns: int, positions: np.ndarray, names: tuple[str, ...] | None = None):
    """Fill a ``sensor_msgs/JointState`` command (names, positions, header stamp) and return it."""
    names = names or jt.joint_names()
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(names),):
        raise ValueError(f"{len(names)} names but positions of shape {positions.shape}")
    msg.header.stamp.sec = int(stamp_ns // 1_000_000_000)
    msg.header.stamp.nanosec = int(stamp_ns % 1_000_000_000)
    msg.header.frame_id = ""
    msg.name = list(names)
    msg.position = [float(x) for x in positions]
    msg.velocity = []
    msg.effort = []
    return msg
