"""Init-state libraries from a rosbag2 of any teleoperation.

Reads ``sensor_msgs/msg/JointState`` on the joint topic (names matched to the canonical joint
table; extra joints such as legs or mimic joints are ignored) and, if given, the object's
``geometry_msgs/msg/PoseStamped`` in the world frame. One state is kept every ``every_s``
seconds of bag time; each state's object pose is the latest pose at or before it. Without an
object topic the object pose is the task scene's nominal pose (the object at rest on the
table), which suits recordings made before the object was touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gr1_description import joints as jt
from gr1_sim.objects import get_object
from gr1_sim.scene import scene_config

from .init_library import InitLibrary, InitLibraryError
from .tasks import task_config


def _stamp_ns(msg, fallback_ns: int) -> int:
    h = getattr(msg, "header", None)
    if h is None:
        return fallback_ns
    ns = int(h.stamp.sec) * 1_000_000_000 + int(h.stamp.nanosec)
    return ns if ns > 0 else fallback_ns


def library_from_bag(bag: str | Path, task: str, joint_topic: str = "/joint_states", object_topic: str | None = None,
                     every_s: float = 0.25) -> InitLibrary:
    from rosbags.highlevel import AnyReader

    bag = Path(bag)
    if not bag.exists():
        raise FileNotFoundError(f"bag {bag} does not exist")
    if every_s <= 0:
        raise ValueError(f"--every-s must be > 0, got {every_s}")
    cfg = task_config(task)
    names = jt.joint_names()
    times, rows, obj_t, obj_pose = [], [], [], []
    try:
        reader = AnyReader([bag])
        reader.open()
    except Exception as e:  # rosbags raises its own error types for unreadable bags
        raise ValueError(f"cannot read bag {bag}: {e}") from e
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        if joint_topic not in topics:
            raise ValueError(f"bag {bag} has no topic {joint_topic!r}; topics: " + ", ".join(f"{t} ({ty})" for t, ty in sorted(topics.items())))
        if topics[joint_topic] != "sensor_msgs/msg/JointState":
            raise ValueError(f"{joint_topic} is {topics[joint_topic]}, expected sensor_msgs/msg/JointState")
        if object_topic is not None:
            if object_topic not in topics:
                raise ValueError(f"bag {bag} has no topic {object_topic!r}; topics: " + ", ".join(f"{t} ({ty})" for t, ty in sorted(topics.items())))
            if topics[object_topic] != "geometry_msgs/msg/PoseStamped":
                raise ValueError(f"{object_topic} is {topics[object_topic]}, expected geometry_msgs/msg/PoseStamped")
        wanted = [joint_topic] + ([object_topic] if object_topic else [])
        conns = [c for c in reader.connections if c.topic in wanted]
        index: dict[tuple[str, ...], np.ndarray] = {}
        for conn, t_ns, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == joint_topic:
                key = tuple(msg.name)
                if key not in index:
                    missing = [n for n in names if n not in key]
                    if missing:
                        raise InitLibraryError(f"{joint_topic}: joint names do not match the joint table; missing {missing}")
                    index[key] = np.array([key.index(n) for n in names])
                pos = np.asarray(msg.position, dtype=float)
                if pos.size != len(key):
                    continue
                times.append(_stamp_ns(msg, t_ns))
                rows.append(pos[index[key]])
            else:
                p, q = msg.pose.position, msg.pose.orientation
                obj_t.append(_stamp_ns(msg, t_ns))
                obj_pose.append([p.x, p.y, p.z, q.w, q.x, q.y, q.z])
    finally:
        reader.close()
    if not rows:
        raise ValueError(f"{joint_topic} in {bag} has no usable messages")
    order = np.argsort(times, kind="stable")
    t = np.asarray(times, dtype=np.int64)[order]
    q = np.asarray(rows)[order]
    finite = np.all(np.isfinite(q), axis=1)
    t, q = t[finite], q[finite]
    # One state per grid cell of every_s from the first message (no drift with the rate).
    step = int(every_s * 1e9)
    cell = (t - t[0]) // step
    keep = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    t, q = t[keep], q[keep]
    if object_topic:
        if not obj_pose:
            raise ValueError(f"{object_topic} in {bag} has no messages")
        ot = np.asarray(obj_t, dtype=np.int64)
        oo = np.asarray(obj_pose)[np.argsort(ot, kind="stable")]
        ot = np.sort(ot)
        idx = np.clip(np.searchsorted(ot, t, side="right") - 1, 0, len(ot) - 1)
        object_pose = oo[idx]
    else:
        sc = scene_config(cfg.scene)
        obj = get_object(sc.object)
        z = sc.table_height_m + obj.half_height_m()
        object_pose = np.tile([sc.object_xy_m[0], sc.object_xy_m[1], z, 1.0, 0.0, 0.0, 0.0], (len(t), 1))
    meta = {"task": task, "source": {"kind": "rosbag2", "bag": str(bag), "joint_topic": joint_topic, "object_topic": object_topic},
            "messages": len(rows), "every_s": every_s}
    return InitLibrary(q, object_pose, meta)
