"""Camera models and rigid transforms: the pinhole + distortion model of ``sensor_msgs/CameraInfo``.

Pixel conventions are ROS's: (u, v) = (column, row), the principal point measured from the
top-left pixel corner, the optical frame x right, y down, z forward. Depth is planar (along z),
as RealSense publishes it and as the renderer produces it, so a pixel (u, v) with depth z
back-projects to ``z * ray(u, v)`` where ``ray`` has z = 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

#: Distortion models we undistort (names as in ``sensor_msgs/distortion_models``).
DISTORTION_MODELS = ("none", "plumb_bob", "rational_polynomial")


class CameraModelError(ValueError):
    """A camera model or image that cannot be used as given (bad size, unknown distortion)."""


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera stream, the fields of ``sensor_msgs/CameraInfo`` we use.

    ``distortion`` holds CameraInfo's D: (k1, k2, p1, p2, k3) for ``plumb_bob``, eight values
    for ``rational_polynomial``; all zeros is the same as ``none``. RealSense publishes its
    colour stream as ``plumb_bob`` (near-zero) and its aligned depth in the colour camera's model.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = "none"
    distortion: tuple[float, ...] = ()
    frame_id: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise CameraModelError(f"camera {self.frame_id!r}: image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0 and np.isfinite(self.fx) and np.isfinite(self.fy)):
            raise CameraModelError(f"camera {self.frame_id!r}: focal lengths must be finite and > 0, got fx={self.fx}, fy={self.fy}")
        if not (0 <= self.cx <= self.width and 0 <= self.cy <= self.height):
            raise CameraModelError(
                f"camera {self.frame_id!r}: principal point ({self.cx}, {self.cy}) lies outside the {self.width}x{self.height} image"
            )
        model = self.distortion_model or "none"
        if model not in DISTORTION_MODELS:
            raise CameraModelError(f"camera {self.frame_id!r}: distortion model {model!r} not supported; supported: {DISTORTION_MODELS}")
        need = {"none": (0,), "plumb_bob": (5,), "rational_polynomial": (8,)}[model]
        if model != "none" and len(self.distortion) not in need:
            raise CameraModelError(
                f"camera {self.frame_id!r}: {model} needs {need[0]} distortion coefficients, got {len(self.distortion)}"
            )

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_intrinsics(cls, intr, frame_id: str = "") -> CameraModel:
        """From any object with width, height, fx, fy, cx, cy (e.g. ``gr1_sim.cameras.Intrinsics``)."""
        return cls(int(intr.width), int(intr.height), float(intr.fx), float(intr.fy), float(intr.cx), float(intr.cy), frame_id=frame_id)

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same field of view at another resolution (distortion is resolution-free). Integer
        coordinates are pixel centres, so the principal point scales about the image corner at -0.5."""
        sx, sy = width / self.width, height / self.height
        return CameraModel(width, height, self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                           self.distortion_model, self.distortion, self.frame_id)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def has_distortion(self) -> bool:
        return (self.distortion_model or "none") != "none" and any(abs(c) > 0 for c in self.distortion)

    def check_image(self, shape: tuple[int, ...], what: str = "image") -> None:
        """Refuse an image whose size is not this model's: intrinsics of another resolution
        would put every back-projected point in the wrong place, silently."""
        if tuple(shape[:2]) != (self.height, self.width):
            raise CameraModelError(
                f"{what} is {shape[1]}x{shape[0]} (width x height) but the camera model {self.frame_id!r} is "
                f"{self.width}x{self.height}; scale the intrinsics (CameraModel.scaled) or resize the image"
            )

    # --- distortion ----------------------------------------------------------------------
    def _distort_normalized(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.zeros(8)
        d[: len(self.distortion)] = self.distortion
        k1, k2, p1, p2, k3, k4, k5, k6 = d
        r2 = x * x + y * y
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd

    def _undistort_normalized(self, xd: np.ndarray, yd: np.ndarray, iterations: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Invert the distortion by fixed-point iteration (converges for the mild lens
        distortion of depth cameras; the residual is checked by the tests)."""
        x, y = xd.copy(), yd.copy()
        for _ in range(iterations):
            xe, ye = self._distort_normalized(x, y)
            x, y = x + (xd - xe), y + (yd - ye)
        return x, y

    # --- projection ----------------------------------------------------------------------
    def pixel_rays(self, u, v) -> np.ndarray:
        """Rays with z = 1 through pixel coordinates (u, v) (arrays of any shape) → (..., 3)."""
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        x = (u - self.cx) / self.fx
        y = (v - self.cy) / self.fy
        if self.has_distortion:
            x, y = self._undistort_normalized(x, y)
        return np.stack([x, y, np.ones_like(x)], axis=-1)

    def back_project(self, u, v, z) -> np.ndarray:
        """Points in the optical frame of pixels (u, v) with planar depth z (metres)."""
        return self.pixel_rays(u, v) * np.asarray(z, dtype=np.float64)[..., None]

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of optical-frame points (..., 3) with z > 0."""
        p = np.asarray(points, dtype=np.float64)
        x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
        if self.has_distortion:
            x, y = self._distort_normalized(x, y)
        return np.stack([self.fx * x + self.cx, self.fy * y + self.cy], axis=-1)

    def ray_grid(self) -> np.ndarray:
        """(H, W, 3) float32 rays (z = 1) of all pixel centres, cached per camera model."""
        return _ray_grid(self)


@lru_cache(maxsize=16)
def _ray_grid(cam: CameraModel) -> np.ndarray:
    v, u = np.mgrid[0 : cam.height, 0 : cam.width]
    # ROS / OpenCV convention: integer coordinates are pixel centres.
    grid = cam.pixel_rays(u, v).astype(np.float32)
    grid.setflags(write=False)
    return grid


@dataclass
class RigidTransform:
    """``target_from_source``: maps points in the source frame to the target frame,
    p_target = rotation @ p_source + translation_m."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation_m: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        self.translation_m = np.asarray(self.translation_m, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(self.rotation)) or not np.all(np.isfinite(self.translation_m)):
            raise ValueError("transform has non-finite entries")
        err = np.abs(self.rotation @ self.rotation.T - np.eye(3)).max()
        if err > 1e-4 or np.linalg.det(self.rotation) < 0:
            raise ValueError(f"rotation is not a proper rotation matrix (|R R^T - I| = {err:.2g}, det = {np.linalg.det(self.rotation):.3f})")

    @classmethod
    def from_translation_quat_xyzw(cls, translation_m, quat_xyzw) -> RigidTransform:
        """From a translation and a ROS-order (x, y, z, w) quaternion, e.g. a TF transform."""
        x, y, z, w = np.asarray(quat_xyzw, dtype=np.float64)
        n = np.sqrt(x * x + y * y + z * z + w * w)
        if not n > 1e-9:
            raise ValueError(f"quaternion {quat_xyzw} has zero length")
        x, y, z, w = x / n, y / n, z / n, w / n
        rot = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ])
        return cls(rot, translation_m)

    def quat_xyzw(self) -> np.ndarray:
        m = self.rotation
        w = np.sqrt(max(0.0, 1 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
        x = np.copysign(np.sqrt(max(0.0, 1 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
        y = np.copysign(np.sqrt(max(0.0, 1 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
        z = np.copysign(np.sqrt(max(0.0, 1 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
        q = np.array([x, y, z, w])
        return q / np.linalg.norm(q)

    def apply(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation_m

    def inverse(self) -> RigidTransform:
        return RigidTransform(self.rotation.T, -self.rotation.T @ self.translation_m)

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        return RigidTransform(self.rotation @ other.rotation, self.rotation @ other.translation_m + self.translation_m)
