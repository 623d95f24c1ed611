"""ROS 2 node that plays an excitation file as joint commands (Humble and Jazzy).

    ros2 bag record -o calib /joint_states /joint_commands        (first, in another terminal)
    ros2 run dexmani_training excitation_player --ros-args -p file:=excitation.csv

Waits for one ``/joint_states`` message to know where the robot is, ramps to the file's first
target over ``ramp_s``, then publishes ``sensor_msgs/JointState`` (names + positions, header
stamp = now) on ``/joint_commands`` at the file's rate, and exits when the file is done. The
logic lives in :mod:`.player` (ROS-free, tested); this module only converts and publishes. The
driver's safety layer and emergency stop stay in charge: this node only sends targets.
"""

from __future__ import annotations

import sys

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import JointState

from .excitation import load_excitation
from .player import ExcitationPlayer, fill_joint_command, joint_state_positions


class ExcitationPlayerNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__("excitation_player", **node_kwargs)
        self.declare_parameter("file", "", ParameterDescriptor(description="excitation CSV (dexmani autotune excite)"))
        self.declare_parameter("command_topic", "/joint_commands", ParameterDescriptor(description="where targets go"))
        self.declare_parameter("state_topic", "/joint_states", ParameterDescriptor(description="measured joints (start pose)"))
        self.declare_parameter("ramp_s", 3.0, ParameterDescriptor(description="ramp from the current pose to the first target, s"))
        self.declare_parameter("start_timeout_s", 10.0, ParameterDescriptor(description="give up without a joint state, s"))
        path = self.get_parameter("file").value
        if not path:
            raise ValueError("parameter 'file' (the excitation CSV) is required")
        self.excitation = load_excitation(path)
        self.ramp_s = float(self.get_parameter("ramp_s").value)
        self.timeout_s = float(self.get_parameter("start_timeout_s").value)
        self.pub = self.create_publisher(JointState, self.get_parameter("command_topic").value, 10)
        self.sub = self.create_subscription(JointState, self.get_parameter("state_topic").value, self._on_state, 10)
        self.start_pose = None
        self.player: ExcitationPlayer | None = None
        self.t0_ns = 0
        self.created_ns = self.get_clock().now().nanoseconds
        self.done = False
        self.timer = self.create_timer(1.0 / self.excitation.rate_hz, self._tick)
        self.get_logger().info(f"loaded {path}: {self.excitation.duration_s:.1f} s at {self.excitation.rate_hz:g} Hz; "
                               "waiting for a joint state")

    def _on_state(self, msg: JointState) -> None:
        if self.start_pose is None:
            try:
                self.start_pose = joint_state_positions(msg)
            except (KeyError, ValueError) as e:
                self.get_logger().error(f"joint state unusable: {e}")

    def _tick(self) -> None:
        now_ns = self.get_clock().now().nanoseconds
        if self.player is None:
            if self.start_pose is None:
                if (now_ns - self.created_ns) * 1e-9 > self.timeout_s:
                    self.get_logger().error("no joint state received; not moving")
                    self.done = True
                return
            self.player = ExcitationPlayer(self.excitation, self.start_pose, self.ramp_s)
            self.t0_ns = now_ns
            self.get_logger().info(f"playing for {self.player.duration_s:.1f} s")
        target = self.player.target((now_ns - self.t0_ns) * 1e-9)
        if target is None:
            self.get_logger().info("excitation finished")
            self.done = True
            return
        self.pub.publish(fill_joint_command(JointState(), now_ns, target))


def main(args=None) -> int:
    rclpy.init(args=args)
    node = None
    try:
        node = ExcitationPlayerNode()
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
        return 0
    except KeyboardInterrupt:
        return 0
    except (ValueError, FileNotFoundError) as e:
        print(f"excitation_player: error: {e}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    sys.exit(main())
