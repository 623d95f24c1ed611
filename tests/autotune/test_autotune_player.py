"""The excitation player (the node's logic, ROS-free), its message conversion with the ROS 2
message classes of the rosbags typestore, and the rule that only node.py imports rclpy."""

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from dexmani_training.autotune.bagwrite import joint_state_msg, typestore_for
from dexmani_training.autotune.excitation import Excitation
from dexmani_training.autotune.player import (
    ExcitationPlayer,
    fill_joint_command,
    joint_state_positions,
)

from gr1_description import joints as jt

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "dexmani_training" / "dexmani_training" / "autotune"


def _excitation():
    mid = 0.5 * (jt.lower_limits() + jt.upper_limits())
    targets = np.stack([mid + 0.01 * k for k in range(10)])
    return Excitation(10.0, targets)


def test_player_ramps_then_plays_then_stops():
    exc = _excitation()
    start = exc.targets_rad[0] + 0.2 * np.sign(-exc.targets_rad[0] + 0.01)
    start = np.clip(start, jt.lower_limits(), jt.upper_limits())
    player = ExcitationPlayer(exc, start, ramp_s=2.0)
    assert player.duration_s == pytest.approx(3.0)
    np.testing.assert_allclose(player.target(0.0), start)
    np.testing.assert_allclose(player.target(1.0), 0.5 * (start + exc.targets_rad[0]))
    np.testing.assert_allclose(player.target(2.0), exc.targets_rad[0])
    np.testing.assert_allclose(player.target(2.0 + 0.35), exc.targets_rad[3])
    np.testing.assert_allclose(player.target(2.99), exc.targets_rad[9])
    assert player.target(3.0) is None
    with pytest.raises(ValueError, match="26 values"):
        ExcitationPlayer(exc, np.zeros(5))


def test_joint_state_conversion_with_typestore_messages():
    ts = typestore_for("jazzy")
    names = list(reversed(jt.joint_names())) + ["head_yaw_joint"]
    values = np.arange(27, dtype=float) * 0.01
    msg = joint_state_msg(ts, 5, names, values)
    q = joint_state_positions(msg)
    assert q[0] == pytest.approx(values[names.index(jt.joint_names()[0])])
    with pytest.raises(KeyError, match="missing controlled joints"):
        joint_state_positions(joint_state_msg(ts, 5, names[1:], values[1:]))
    # Fill a command into a message object and send it through CDR (what the node publishes).
    cmd = fill_joint_command(joint_state_msg(ts, 0, [], []), 1_700_000_000_123_456_789, np.linspace(-1, 0, 26))
    assert cmd.header.stamp.sec == 1_700_000_000 and cmd.header.stamp.nanosec == 123_456_789
    assert list(cmd.name) == list(jt.joint_names())
    cmd.position = np.asarray(cmd.position)
    cmd.velocity, cmd.effort = np.zeros(0), np.zeros(0)
    back = ts.deserialize_cdr(ts.serialize_cdr(cmd, "sensor_msgs/msg/JointState"), "sensor_msgs/msg/JointState")
    np.testing.assert_allclose(back.position, np.linspace(-1, 0, 26))


def test_only_node_modules_import_rclpy():
    offenders = []
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            if any(m.split(".")[0] in ("rclpy", "sensor_msgs", "rcl_interfaces") for m in mods) and path.name != "node.py":
                offenders.append(path.name)
    assert offenders == []
    assert "rclpy" in (PACKAGE / "node.py").read_text()


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is None, reason="rclpy not installed (runs in the ROS 2 docker image)")
def test_node_publishes_commands_after_a_joint_state(tmp_path):  # pragma: no cover - needs ROS 2
    import rclpy
    from dexmani_training.autotune.excitation import save_excitation
    from dexmani_training.autotune.node import ExcitationPlayerNode
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState

    path = tmp_path / "exc.csv"
    save_excitation(_excitation(), path)
    rclpy.init()
    try:
        node = ExcitationPlayerNode(parameter_overrides=[Parameter("file", value=str(path)), Parameter("ramp_s", value=0.2)])
        helper = rclpy.create_node("helper")
        got = []
        helper.create_subscription(JointState, "/joint_commands", got.append, 10)
        pub = helper.create_publisher(JointState, "/joint_states", 10)
        state = JointState(name=list(jt.joint_names()), position=[float(x) for x in _excitation().targets_rad[0]])
        for _ in range(100):
            pub.publish(state)
            rclpy.spin_once(node, timeout_sec=0.02)
            rclpy.spin_once(helper, timeout_sec=0.02)
            if node.done:
                break
        assert got and list(got[-1].name) == list(jt.joint_names())
    finally:
        rclpy.shutdown()
