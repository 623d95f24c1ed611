"""Depth realism for training: a RealSense-D435-like noise model and camera pose / FoV jitter.

The D435 is an active stereo camera: it measures disparity d = f·B / z between two imagers a
baseline B apart, then reports depth in millimetres from the left imager's view. Each term below
follows from that, and each can be switched off:

* ``axial_noise``: Gaussian noise on the *disparity* (``disparity_noise_px``, sub-pixel matching
  error), so depth noise grows with z² (σ_z = z²·σ_d / (f·B): 1.3 mm at 0.7 m, 2.6 mm at 1 m);
* ``quantization``: disparity in steps of ``disparity_step_px`` (the matcher's sub-pixel
  resolution) and depth in ``depth_unit_m`` steps (the 16UC1 millimetre output);
* ``occlusion_shadow``: pixels the right imager cannot see because a nearer surface hides them
  have no depth: an invalid band on the left of each foreground edge, as wide as the disparity
  jump (computed exactly per row, not drawn at random);
* ``edge_holes``: random dropout of pixels at depth discontinuities (matching fails there);
* ``flying_pixels``: some edge pixels get a depth between foreground and background (a window
  straddling the edge matches a mix of both);
* ``grazing_holes``: surfaces seen at incidence above ``max_incidence_deg`` return nothing;
* ``random_holes``: smooth random blobs covering ``hole_fraction`` of the image (low texture,
  specular or dark surfaces, IR interference);
* ``range_limits``: no depth nearer than ``min_range_m`` or beyond ``max_range_m``.

Pixel-sized parameters are given for the 640x480 sensor (``sensor_width_px``); at another image
width they scale with it, and the disparity terms use the sensor's focal length, so a 64x48
training image gets the noise of a single sensor pixel per cell (a conservative choice: stereo
noise is spatially correlated, so block-averaging would not remove it either).

Camera jitter (paper Table 4): position noise 5 mm, rotation noise 5°, field-of-view noise 5°.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .camera import CameraModel, RigidTransform
from .geometry import depth_to_metres


@dataclass
class DepthNoiseConfig:
    """D435-like depth noise. Every term has a switch; parameters are at the sensor resolution."""

    enabled: bool = True
    sensor_width_px: int = 640
    baseline_m: float = 0.05
    axial_noise: bool = True
    disparity_noise_px: float = 0.08
    quantization: bool = True
    disparity_step_px: float = 0.03125  # 1/32 px sub-pixel matching
    depth_unit_m: float = 0.001  # 16UC1 millimetres
    occlusion_shadow: bool = True
    edge_holes: bool = True
    edge_jump_rel: float = 0.03  # a neighbour differing by more than 3% of the depth is a discontinuity
    edge_hole_prob: float = 0.4
    edge_band_px: int = 1  # discontinuities are widened by this many pixels
    flying_pixels: bool = True
    flying_pixel_prob: float = 0.3
    grazing_holes: bool = True
    max_incidence_deg: float = 82.0
    random_holes: bool = True
    hole_fraction: float = 0.01
    hole_scale_px: float = 12.0  # blob size
    range_limits: bool = True
    min_range_m: float = 0.17
    max_range_m: float = 3.0

    def validate(self) -> None:
        for name in ("edge_hole_prob", "flying_pixel_prob", "hole_fraction"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"depth_noise.{name} must be in [0, 1], got {v}")
        for name in ("baseline_m", "sensor_width_px", "hole_scale_px", "depth_unit_m", "disparity_step_px"):
            if getattr(self, name) <= 0:
                raise ValueError(f"depth_noise.{name} must be > 0, got {getattr(self, name)}")
        if self.disparity_noise_px < 0 or not 0 <= self.min_range_m < self.max_range_m:
            raise ValueError("depth_noise: need disparity_noise_px >= 0 and 0 <= min_range_m < max_range_m")


def _shift(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """a shifted so that out[y, x] = a[y + dy, x + dx] (``fill`` outside)."""
    out = np.full_like(a, fill)
    h, w = a.shape
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[yd, xd] = a[ys, xs]
    return out


def depth_discontinuities(depth_m: np.ndarray, jump_rel: float) -> np.ndarray:
    """Pixels with a 4-neighbour whose depth differs by more than ``jump_rel`` x depth (or that
    border invalid depth)."""
    d = depth_m
    valid = d > 0
    edge = np.zeros(d.shape, dtype=bool)
    for dy, dx in ((0, 1), (1, 0)):
        nb = _shift(d, dy, dx, 0.0)
        nb_valid = _shift(valid, dy, dx, False)
        jump = np.abs(d - nb) > jump_rel * np.maximum(d, nb)
        inside = _shift(np.ones_like(valid), dy, dx, False)  # the neighbour exists
        e = (valid & nb_valid & jump) | ((valid ^ nb_valid) & inside)
        edge |= e
        edge |= _shift(e, -dy, -dx, False)
    return edge & valid


def stereo_occlusion(depth_m: np.ndarray, focal_px: float, baseline_m: float) -> np.ndarray:
    """Pixels of the left (reference) view that the right imager cannot see.

    A left pixel x with disparity d lands at x − d in the right image. It is hidden if some pixel
    to its right lands at or left of that spot (it is necessarily nearer): x − d >= min over
    x' > x of (x' − d'). One reversed running minimum per row does it.
    """
    h, w = depth_m.shape
    with np.errstate(divide="ignore"):
        disp = np.where(depth_m > 0, focal_px * baseline_m / np.maximum(depth_m, 1e-6), 0.0)
    r = np.arange(w, dtype=np.float64)[None, :] - disp
    suffix_min = np.minimum.accumulate(r[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([suffix_min[:, 1:], np.full((h, 1), np.inf)], axis=1)
    return (r >= right_min - 1e-9) & (depth_m > 0)


def grazing_mask(depth_m: np.ndarray, camera: CameraModel, max_incidence_deg: float, jump_rel: float = 0.03) -> np.ndarray:
    """Pixels whose surface normal is more than ``max_incidence_deg`` from the viewing ray.
    Pixels at depth discontinuities are left out: finite differences across an edge are no normal."""
    pts = camera.ray_grid() * depth_m[..., None]
    dx = np.concatenate([pts[:, 1:] - pts[:, :-1], np.zeros_like(pts[:, :1])], axis=1)
    dy = np.concatenate([pts[1:] - pts[:-1], np.zeros_like(pts[:1])], axis=0)
    n = np.cross(dx, dy)
    nn = np.linalg.norm(n, axis=-1)
    rn = np.linalg.norm(pts, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_inc = np.abs((n * pts).sum(-1)) / (nn * rn)
    ok = (nn > 0) & (rn > 0) & np.isfinite(cos_inc)
    ok &= ~depth_discontinuities(depth_m, jump_rel)
    return ok & (cos_inc < np.cos(np.radians(max_incidence_deg))) & (depth_m > 0)


def smooth_blobs(shape: tuple[int, int], fraction: float, scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """A random blob mask covering about ``fraction`` of the image, blobs ~``scale_px`` wide."""
    if fraction <= 0:
        return np.zeros(shape, dtype=bool)
    h, w = shape
    gh, gw = max(2, int(np.ceil(h / scale_px)) + 1), max(2, int(np.ceil(w / scale_px)) + 1)
    coarse = rng.standard_normal((gh, gw))
    field = ndimage.zoom(coarse, (h / gh, w / gw), order=1, mode="nearest", grid_mode=True)[:h, :w]
    if field.shape != shape:
        field = np.pad(field, ((0, h - field.shape[0]), (0, w - field.shape[1])), mode="edge")
    thresh = np.quantile(field, 1.0 - fraction)
    return field > thresh


class DepthNoiseModel:
    """Applies :class:`DepthNoiseConfig` to clean (rendered) depth; reproducible by the rng."""

    def __init__(self, cfg: DepthNoiseConfig | None = None):
        self.cfg = cfg or DepthNoiseConfig()
        self.cfg.validate()

    def apply(self, depth_m: np.ndarray, camera: CameraModel, rng: np.random.Generator) -> np.ndarray:
        """Noised float32 depth in metres (0 = invalid), same shape as ``depth_m``."""
        cfg = self.cfg
        clean = depth_to_metres(depth_m)
        camera.check_image(clean.shape, "depth image")
        if not cfg.enabled:
            return clean
        w = clean.shape[1]
        px_scale = w / cfg.sensor_width_px  # pixel-sized parameters are for the sensor resolution
        f_sensor = camera.fx / px_scale
        fb = f_sensor * cfg.baseline_m
        valid = clean > 0
        holes = np.zeros(clean.shape, dtype=bool)
        # Geometry-driven terms are computed on the clean depth.
        edges = depth_discontinuities(clean, cfg.edge_jump_rel) if (cfg.edge_holes or cfg.flying_pixels) else None
        if edges is not None and cfg.edge_band_px > 0:
            band = max(1, round(cfg.edge_band_px * px_scale))
            edges = ndimage.binary_dilation(edges, iterations=band) & valid
        if cfg.occlusion_shadow:
            holes |= stereo_occlusion(clean, camera.fx, cfg.baseline_m)
        if cfg.grazing_holes:
            holes |= grazing_mask(clean, camera, cfg.max_incidence_deg, cfg.edge_jump_rel)
        out = clean.astype(np.float64)
        if cfg.axial_noise or cfg.quantization:
            with np.errstate(divide="ignore"):
                disp = np.where(valid, fb / np.maximum(out, 1e-6), 0.0)
            if cfg.axial_noise and cfg.disparity_noise_px > 0:
                disp = disp + rng.standard_normal(disp.shape) * cfg.disparity_noise_px
            if cfg.quantization:
                disp = np.round(disp / cfg.disparity_step_px) * cfg.disparity_step_px
            with np.errstate(divide="ignore"):
                out = np.where(valid & (disp > 0), fb / np.maximum(disp, 1e-9), 0.0)
        if cfg.flying_pixels and edges is not None and cfg.flying_pixel_prob > 0:
            lo, hi = out.copy(), out.copy()
            big = np.where(valid, out, np.inf)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    lo = np.minimum(lo, _shift(big, dy, dx, np.inf))
                    hi = np.maximum(hi, _shift(out, dy, dx, 0.0))
            fly = edges & (rng.random(out.shape) < cfg.flying_pixel_prob) & np.isfinite(lo)
            t = rng.random(out.shape)
            out = np.where(fly, lo + t * (hi - lo), out)
        if cfg.edge_holes and edges is not None and cfg.edge_hole_prob > 0:
            holes |= edges & (rng.random(out.shape) < cfg.edge_hole_prob)
        if cfg.random_holes:
            holes |= smooth_blobs(out.shape, cfg.hole_fraction, cfg.hole_scale_px * px_scale, rng)
        if cfg.range_limits:
            holes |= (out < cfg.min_range_m) | (out > cfg.max_range_m)
        out[holes | ~valid] = 0.0
        if cfg.quantization:
            out = np.round(out / cfg.depth_unit_m) * cfg.depth_unit_m
        return out.astype(np.float32)


# --- camera jitter --------------------------------------------------------------------------
@dataclass
class CameraJitterConfig:
    """Per-episode camera pose and field-of-view noise (paper Table 4). Values are the bounds of
    uniform distributions: each position axis U(−p, p); a rotation of angle U(0, r) about a
    uniformly random axis; vertical FoV + U(−v, v), the horizontal following at a fixed aspect."""

    enabled: bool = True
    position_noise_m: float = 0.005
    rotation_noise_deg: float = 5.0
    fov_noise_deg: float = 5.0

    def validate(self) -> None:
        if min(self.position_noise_m, self.rotation_noise_deg, self.fov_noise_deg) < 0:
            raise ValueError("camera_jitter: noise bounds must be >= 0")


@dataclass
class CameraJitter:
    """One draw: applied as camera_new = camera ∘ (delta_rotation, delta_translation) in the
    camera's own frame for rotation; translation is added in the parent frame."""

    translation_m: np.ndarray
    rotation: np.ndarray
    fov_delta_deg: float


def sample_camera_jitter(cfg: CameraJitterConfig, rng: np.random.Generator) -> CameraJitter:
    if not cfg.enabled:
        return CameraJitter(np.zeros(3), np.eye(3), 0.0)
    t = rng.uniform(-cfg.position_noise_m, cfg.position_noise_m, size=3)
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(rng.uniform(0.0, cfg.rotation_noise_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    return CameraJitter(t, rot, float(rng.uniform(-cfg.fov_noise_deg, cfg.fov_noise_deg)))


def focal_scale_for_fov_delta(height_px: int, fy: float, fov_delta_deg: float) -> float:
    """Factor on fx, fy that changes the vertical field of view by ``fov_delta_deg``."""
    fovy = 2 * np.arctan(height_px / (2 * fy))
    new = np.clip(fovy + np.radians(fov_delta_deg), np.radians(1.0), np.radians(170.0))
    return float(np.tan(fovy / 2) / np.tan(new / 2))


def jitter_camera(camera: CameraModel, base_from_camera: RigidTransform, jitter: CameraJitter) -> tuple[CameraModel, RigidTransform]:
    """The jittered intrinsics and pose (what a miscalibrated real camera would be)."""
    s = focal_scale_for_fov_delta(camera.height, camera.fy, jitter.fov_delta_deg)
    cam = CameraModel(camera.width, camera.height, camera.fx * s, camera.fy * s, camera.cx, camera.cy,
                      camera.distortion_model, camera.distortion, camera.frame_id)
    pose = RigidTransform(base_from_camera.rotation @ jitter.rotation, base_from_camera.translation_m + jitter.translation_m)
    return cam, pose
