"""Autotune: real-to-sim physics tuning from a recorded rosbag2.

Calibration motions (:mod:`.excitation`) → a recorded bag → ingestion (:mod:`.bag`) → open-loop
replay of the recorded commands in K simulators (:mod:`.replay`) → random search plus a
refinement stage (:mod:`.search`) → a tuned physics YAML and a report (:mod:`.tune`,
:mod:`.report`). ROS-free: only :mod:`.node` imports rclpy.
"""
