"""D435-like camera models and their placement in the scene.

Intrinsics follow ``sensor_msgs/CameraInfo`` conventions (pixels, principal point from the
top-left pixel corner). Poses are given in the frame of a parent body as a position and a
look-at point; the MuJoCo camera looks along its −z axis with +y up, the ROS optical frame
looks along +z with +y down (x right in both): :func:`optical_from_mujoco` converts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gr1_description.transforms import look_at_matrix, quat_from_matrix


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def scaled(self, width: int, height: int) -> "Intrinsics":
        """The same field of view at another resolution."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @property
    def fovy_deg(self) -> float:
        return float(np.degrees(2 * np.arctan(self.height / (2 * self.fy))))


@dataclass(frozen=True)
class CameraConfig:
    """A camera: intrinsics at full resolution, a low training resolution, and a pose."""

    name: str
    parent_body: str  # "world" or a body of the model (e.g. "head_yaw_link")
    pos_m: tuple[float, float, float]
    look_at_m: tuple[float, float, float]  # in the parent frame
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    width: int = 640
    height: int = 480
    fx: float = 615.0
    fy: float = 615.0
    cx: float = 320.0
    cy: float = 240.0
    train_width: int = 64
    train_height: int = 48
    near_m: float = 0.05
    far_m: float = 4.0

    def validate(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.train_width <= 0 or self.train_height <= 0:
            raise ValueError(f"camera {self.name}: resolutions must be positive")
        if not (0 < self.cx < self.width and 0 < self.cy < self.height):
            raise ValueError(f"camera {self.name}: principal point ({self.cx}, {self.cy}) outside {self.width}x{self.height}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"camera {self.name}: focal lengths must be > 0, got fx={self.fx}, fy={self.fy}")
        if not 0 < self.near_m < self.far_m:
            raise ValueError(f"camera {self.name}: need 0 < near_m < far_m, got {self.near_m}, {self.far_m}")

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics(self.width, self.height, self.fx, self.fy, self.cx, self.cy)

    def intrinsics_at(self, width: int, height: int) -> Intrinsics:
        return self.intrinsics.scaled(width, height)

    def quat(self) -> np.ndarray:
        """MuJoCo camera orientation (w, x, y, z) in the parent frame."""
        return quat_from_matrix(look_at_matrix(np.array(self.pos_m), np.array(self.look_at_m), np.array(self.up)))

    def with_pose(self, pos_m, look_at_m) -> "CameraConfig":
        return replace(self, pos_m=tuple(pos_m), look_at_m=tuple(look_at_m))


#: Rotation from the MuJoCo camera frame to the ROS optical frame (x right, y down, z forward).
OPTICAL_FROM_MUJOCO = np.diag([1.0, -1.0, -1.0])


def optical_from_mujoco(rot_world_cam: np.ndarray) -> np.ndarray:
    """World rotation of the optical frame given the world rotation of a MuJoCo camera."""
    return rot_world_cam @ OPTICAL_FROM_MUJOCO


def default_cameras() -> dict[str, CameraConfig]:
    """The egocentric head camera and the third-view tripod camera, D435-like at 640×480.

    The head camera sits in front of the head, tilted down a further 0.46 rad on its mount so
    that, with the head pitched down 0.7 rad, it sees the table in front of the robot. The
    tripod stands 1.1 m in front of the robot, above table height, looking back at the
    workspace.
    """
    return {
        "head": CameraConfig("head", "head_yaw_link", (0.10, 0.0, 0.06), (1.10, 0.0, -0.44)),
        "third_view": CameraConfig("third_view", "world", (1.15, 0.0, 1.30), (0.30, 0.0, 0.85)),
    }
