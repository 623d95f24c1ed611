"""Write joint recordings into rosbag2 directories the way ``ros2 bag record`` does.

Used for proxy-real bags (tests, demos, the shipped example). Measured states go on the state
topic as ``sensor_msgs/JointState`` with header stamps at measurement time; commands go on the
command topic as ``sensor_msgs/JointState`` (positions, with names), ``std_msgs/Float64MultiArray``
or ``trajectory_msgs/JointTrajectory`` (one point, ``time_from_start`` 0). Each message is logged
a fraction of a millisecond after its stamp (transport delay), in receive order, as the recorder
would see it.

Formats: storage ``sqlite3`` or ``mcap``; ``distro`` ``jazzy`` (rosbag2 metadata version 8,
with type hashes and message definitions) or ``humble`` (version 5: no type hashes, no stored
message definitions; sqlite schema 3). The bag is written into a temporary directory next to
``path`` and renamed when complete, so ``path`` is never half-written.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import yaml

STORAGES = ("sqlite3", "mcap")
DISTROS = ("humble", "jazzy")
COMMAND_TYPES = {
    "joint_state": "sensor_msgs/msg/JointState",
    "float64_multi_array": "std_msgs/msg/Float64MultiArray",
    "joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
}
DEFAULT_START_TIME_NS = 1_700_000_000_000_000_000  # bag clock at t = 0 (2023-11-14)


def typestore_for(distro: str):
    from rosbags.typesys import Stores, get_typestore

    if distro not in DISTROS:
        raise ValueError(f"unknown ROS distro {distro!r}; expected one of {DISTROS}")
    return get_typestore(Stores.ROS2_HUMBLE if distro == "humble" else Stores.ROS2_JAZZY)


def _stamp(ts, t_ns: int):
    Time = ts.types["builtin_interfaces/msg/Time"]
    return Time(sec=int(t_ns // 1_000_000_000), nanosec=int(t_ns % 1_000_000_000))


def joint_state_msg(ts, t_ns: int, names, position, velocity=None, effort=None, frame_id: str = ""):
    """A ``sensor_msgs/JointState`` of the typestore ``ts`` (ROS field names)."""
    JointState = ts.types["sensor_msgs/msg/JointState"]
    Header = ts.types["std_msgs/msg/Header"]
    empty = np.zeros(0, dtype=np.float64)
    return JointState(
        header=Header(stamp=_stamp(ts, t_ns), frame_id=frame_id),
        name=list(names),
        position=np.ascontiguousarray(position, dtype=np.float64),
        velocity=empty if velocity is None else np.ascontiguousarray(velocity, dtype=np.float64),
        effort=empty if effort is None else np.ascontiguousarray(effort, dtype=np.float64),
    )


def float64_multi_array_msg(ts, values, label: str = "joints"):
    F64 = ts.types["std_msgs/msg/Float64MultiArray"]
    Layout = ts.types["std_msgs/msg/MultiArrayLayout"]
    Dim = ts.types["std_msgs/msg/MultiArrayDimension"]
    values = np.ascontiguousarray(values, dtype=np.float64)
    return F64(layout=Layout(dim=[Dim(label=label, size=values.size, stride=values.size)], data_offset=0), data=values)


def joint_trajectory_msg(ts, t_ns: int, names, positions):
    Traj = ts.types["trajectory_msgs/msg/JointTrajectory"]
    Point = ts.types["trajectory_msgs/msg/JointTrajectoryPoint"]
    Header = ts.types["std_msgs/msg/Header"]
    Duration = ts.types["builtin_interfaces/msg/Duration"]
    empty = np.zeros(0, dtype=np.float64)
    point = Point(positions=np.ascontiguousarray(positions, dtype=np.float64), velocities=empty, accelerations=empty,
                  effort=empty, time_from_start=Duration(sec=0, nanosec=0))
    return Traj(header=Header(stamp=_stamp(ts, t_ns), frame_id=""), joint_names=list(names), points=[point])


def write_joint_bag(
    path: str | Path,
    *,
    state_t_s: np.ndarray,
    state_names,
    position: np.ndarray,
    command_t_s: np.ndarray,
    command_names,
    command: np.ndarray,
    velocity: np.ndarray | None = None,
    effort: np.ndarray | None = None,
    storage: str = "mcap",
    distro: str = "jazzy",
    state_topic: str = "/joint_states",
    command_topic: str = "/joint_commands",
    command_type: str = "joint_state",
    start_time_ns: int = DEFAULT_START_TIME_NS,
    compress: bool = False,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Write a rosbag2 directory at ``path``; times in seconds from ``start_time_ns``."""
    from rosbags.rosbag2 import (
        CompressionFormat,
        CompressionMode,
        StoragePlugin,
        Writer,
    )

    path = Path(path)
    if storage not in STORAGES:
        raise ValueError(f"unknown storage {storage!r}; expected one of {STORAGES}")
    if command_type not in COMMAND_TYPES:
        raise ValueError(f"unknown command type {command_type!r}; expected one of {sorted(COMMAND_TYPES)}")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    if compress and distro == "humble" and storage == "sqlite3":
        raise ValueError("a compressed humble sqlite3 bag is not supported; use mcap or no compression")
    ts = typestore_for(distro)
    rng = np.random.default_rng(seed)
    state_ns = start_time_ns + np.round(np.asarray(state_t_s) * 1e9).astype(np.int64)
    cmd_ns = start_time_ns + np.round(np.asarray(command_t_s) * 1e9).astype(np.int64)
    # Receive (log) time: stamp + a transport delay of 0.2-1.5 ms.
    state_log = state_ns + rng.integers(200_000, 1_500_000, size=state_ns.size)
    cmd_log = cmd_ns + rng.integers(200_000, 1_500_000, size=cmd_ns.size)

    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a hidden folder next to ``path`` (the storage file takes the bag's name),
    # then moved into place in one rename.
    staging = path.parent / f".{path.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    tmp = staging / path.name
    msgtype = COMMAND_TYPES[command_type]
    try:
        writer = Writer(tmp, version=8, storage_plugin=StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3)
        if compress:
            mode = CompressionMode.STORAGE if storage == "mcap" else CompressionMode.FILE
            writer.set_compression(mode, CompressionFormat.ZSTD)
        with writer:
            state_conn = writer.add_connection(state_topic, "sensor_msgs/msg/JointState", typestore=ts)
            cmd_conn = writer.add_connection(command_topic, msgtype, typestore=ts)
            events = [(int(t), 0, i) for i, t in enumerate(state_log)] + [(int(t), 1, i) for i, t in enumerate(cmd_log)]
            events.sort()
            js_type = "sensor_msgs/msg/JointState"
            for log_ns, kind, i in events:
                if kind == 0:
                    msg = joint_state_msg(ts, int(state_ns[i]), state_names, position[i],
                                          None if velocity is None else velocity[i], None if effort is None else effort[i])
                    writer.write(state_conn, log_ns, ts.serialize_cdr(msg, js_type))
                else:
                    if command_type == "joint_state":
                        msg = joint_state_msg(ts, int(cmd_ns[i]), command_names, command[i])
                    elif command_type == "float64_multi_array":
                        msg = float64_multi_array_msg(ts, command[i])
                    else:
                        msg = joint_trajectory_msg(ts, int(cmd_ns[i]), command_names, command[i])
                    writer.write(cmd_conn, log_ns, ts.serialize_cdr(msg, msgtype))
        if distro == "humble":
            downgrade_to_humble_format(tmp)
        if path.exists():  # force: replace only once the new bag is complete
            trash = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, trash)
            os.replace(tmp, path)
            if trash.is_dir():
                shutil.rmtree(trash)
            else:
                trash.unlink()
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def downgrade_to_humble_format(bag: Path) -> None:
    """Turn a version-8 bag into what Humble's rosbag2 writes (metadata version 5).

    Humble has no type description hashes, stores no message definitions (sqlite schema 3) and
    no ``custom_data`` / ``ros_distro`` in ``metadata.yaml``; readers then rely on their own
    message definitions.
    """
    meta_path = bag / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    info = meta["rosbag2_bagfile_information"]
    info["version"] = 5
    info.pop("custom_data", None)
    info.pop("ros_distro", None)
    for topic in info["topics_with_message_count"]:
        topic["topic_metadata"].pop("type_description_hash", None)
        qos = topic["topic_metadata"].get("offered_qos_profiles")
        if isinstance(qos, list):
            topic["topic_metadata"]["offered_qos_profiles"] = yaml.safe_dump(qos) if qos else ""
    if info["storage_identifier"] == "sqlite3":
        for rel in info["relative_file_paths"]:
            con = sqlite3.connect(bag / rel)
            try:
                con.execute("DROP TABLE IF EXISTS message_definitions")
                con.execute("ALTER TABLE topics DROP COLUMN type_description_hash")
                con.execute("UPDATE schema SET schema_version = 3, ros_distro = 'humble'")
                con.commit()
            finally:
                con.close()
    tmp = meta_path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(meta, sort_keys=False))
    os.replace(tmp, meta_path)
