"""Everything after the mask: segmented depth for the policy and the object centroid.

These functions are the one code path shared by simulation (rendered depth + noise, a noised
ground-truth mask) and the robot (RealSense depth, a SAM2 or classical mask).

Segmented depth (the dense view, egocentric camera):
  * crop: a *fixed* region of the image (``crop_uv``, fractions of width and height; default the
    whole frame), never a crop around the object. The policy must see where the object is in the
    egocentric view relative to its hands; an object-centred crop would throw that away and
    change the object's apparent size with the mask's errors.
  * resize: area binning. Each output cell covers a block of input pixels; it shows the object
    when at least ``min_coverage`` of the block is mask, and then holds the mean of the block's
    valid object depths. Averaging valid depths (not nearest-neighbour sampling) keeps the
    depth noise of the 640x480 sensor from landing unfiltered in a 64x48 policy image.
  * background: every non-object cell is ``background_m`` (0.0 m, the same "no return" value a
    depth camera reports, so the policy sees one kind of "nothing"); object cells with no valid
    depth (holes) take the median object depth (``hole_fill="median"``), so holes do not change
    the silhouette.

Centroid (the sparse view, third-view camera): see :func:`estimate_centroid`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .camera import CameraModel, RigidTransform


class PerceptionInputError(ValueError):
    """Inputs that do not fit together (shapes, dtypes): a bug upstream, never a runtime condition."""


def depth_to_metres(depth: np.ndarray, depth_unit_m: float = 0.001) -> np.ndarray:
    """Depth in metres (float32, 0 = invalid) from metres (float) or integer units (16UC1 mm).

    NaN, inf and negative values become 0 (invalid), the RealSense convention.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise PerceptionInputError(f"depth must be a 2-D image, got shape {depth.shape}")
    if np.issubdtype(depth.dtype, np.integer):
        out = depth.astype(np.float32) * np.float32(depth_unit_m)
    elif np.issubdtype(depth.dtype, np.floating):
        out = depth.astype(np.float32, copy=True)
    else:
        raise PerceptionInputError(f"depth must be float (metres) or integer (units of {depth_unit_m} m), got dtype {depth.dtype}")
    out[~np.isfinite(out) | (out < 0)] = 0.0
    return out


def _check_mask(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != depth.shape:
        raise PerceptionInputError(f"mask shape {mask.shape} differs from depth shape {depth.shape}")
    if mask.dtype != bool:
        if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.bool_)):
            raise PerceptionInputError(f"mask must be boolean or integer (0 / non-zero), got dtype {mask.dtype}")
        mask = mask != 0
    return mask


# --- segmented depth ------------------------------------------------------------------------
@dataclass
class SegmentedDepthConfig:
    """How the policy's segmented depth image is made (the deployment contract records it)."""

    out_width: int = 64
    out_height: int = 48
    crop_uv: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # u0, v0, u1, v1 as fractions
    background_m: float = 0.0  # value of every non-object pixel (0 = "no return", like the sensor)
    min_depth_m: float = 0.1  # object depths outside [min, max] are treated as holes
    max_depth_m: float = 2.0
    min_coverage: float = 0.5  # fraction of a cell's pixels that must be mask for the cell to be object
    max_object_depth_spread_m: float = 0.3  # mask pixels farther than this from the median: holes
    hole_fill: str = "median"  # "median": holes inside the mask get the median object depth; "background"

    def validate(self) -> None:
        if self.out_width <= 0 or self.out_height <= 0:
            raise ValueError(f"segmented_depth: output size must be positive, got {self.out_width}x{self.out_height}")
        u0, v0, u1, v1 = self.crop_uv
        if not (0 <= u0 < u1 <= 1 and 0 <= v0 < v1 <= 1):
            raise ValueError(f"segmented_depth.crop_uv must be 0 <= u0 < u1 <= 1 and 0 <= v0 < v1 <= 1, got {self.crop_uv}")
        if not 0 < self.min_coverage <= 1:
            raise ValueError(f"segmented_depth.min_coverage must be in (0, 1], got {self.min_coverage}")
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError(f"segmented_depth: need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")
        if self.hole_fill not in ("median", "background"):
            raise ValueError(f"segmented_depth.hole_fill must be 'median' or 'background', got {self.hole_fill!r}")


@dataclass
class SegmentedDepth:
    depth_m: np.ndarray  # (out_height, out_width) float32
    mask: np.ndarray  # (out_height, out_width) bool: cells that show the object
    object_pixels: int  # mask pixels in the crop at input resolution
    valid_object_pixels: int  # of those, with valid depth


def _crop_box(shape: tuple[int, int], crop_uv) -> tuple[int, int, int, int]:
    h, w = shape
    u0, v0, u1, v1 = crop_uv
    return round(u0 * w), round(v0 * h), round(u1 * w), round(v1 * h)


def _bin_edges(n_in: int, n_out: int) -> np.ndarray:
    return np.floor(np.linspace(0, n_in, n_out + 1)).astype(np.int64)


def segment_depth(depth_m: np.ndarray, mask: np.ndarray, cfg: SegmentedDepthConfig | None = None) -> SegmentedDepth:
    """The object's depth at the policy's resolution, everything else ``background_m``."""
    cfg = cfg or SegmentedDepthConfig()
    depth = depth_to_metres(depth_m)
    mask = _check_mask(depth, mask)
    x0, y0, x1, y1 = _crop_box(depth.shape, cfg.crop_uv)
    crop_w, crop_h = x1 - x0, y1 - y0
    if crop_w <= 0 or crop_h <= 0:
        raise PerceptionInputError(f"crop {cfg.crop_uv} of a {depth.shape[1]}x{depth.shape[0]} image is empty")
    in_aspect, out_aspect = crop_w / crop_h, cfg.out_width / cfg.out_height
    if abs(in_aspect / out_aspect - 1) > 0.02:
        raise PerceptionInputError(
            f"the crop is {crop_w}x{crop_h} (aspect {in_aspect:.3f}) but the output is {cfg.out_width}x{cfg.out_height} "
            f"(aspect {out_aspect:.3f}): resizing would stretch the image; change crop_uv or the output size"
        )
    d = depth[y0:y1, x0:x1]
    m = mask[y0:y1, x0:x1]
    bg = np.float32(cfg.background_m)
    out = np.full((cfg.out_height, cfg.out_width), bg, dtype=np.float32)
    out_mask = np.zeros((cfg.out_height, cfg.out_width), dtype=bool)
    rows_any, cols_any = m.any(axis=1), m.any(axis=0)
    if not rows_any.any():
        return SegmentedDepth(out, out_mask, 0, 0)
    rr, cc = np.flatnonzero(rows_any), np.flatnonzero(cols_any)
    # Only the mask's bounding box can hold object pixels: work there.
    mr0, mr1, mc0, mc1 = rr[0], rr[-1] + 1, cc[0], cc[-1] + 1
    dm, mm = d[mr0:mr1, mc0:mc1], m[mr0:mr1, mc0:mc1]
    valid = (dm >= cfg.min_depth_m) & (dm <= cfg.max_depth_m)
    obj = mm & valid
    n_obj = int(obj.sum())
    if n_obj:
        med = float(np.median(dm[obj]))
        obj &= np.abs(dm - med) <= cfg.max_object_depth_spread_m
        n_obj = int(obj.sum())
    fill = float(np.median(dm[obj])) if (n_obj and cfg.hole_fill == "median") else cfg.background_m
    if crop_w >= cfg.out_width and crop_h >= cfg.out_height:
        rows, cols = _bin_edges(crop_h, cfg.out_height), _bin_edges(crop_w, cfg.out_width)
        i0, i1 = np.searchsorted(rows, mr0, "right") - 1, np.searchsorted(rows, mr1 - 1, "right")
        j0, j1 = np.searchsorted(cols, mc0, "right") - 1, np.searchsorted(cols, mc1 - 1, "right")
        r_lo, r_hi, c_lo, c_hi = rows[i0], rows[i1], cols[j0], cols[j1]
        sub_d = d[r_lo:r_hi, c_lo:c_hi]
        sub_m = m[r_lo:r_hi, c_lo:c_hi]
        sub_obj = np.zeros(sub_m.shape, dtype=bool)
        sub_obj[mr0 - r_lo : mr1 - r_lo, mc0 - c_lo : mc1 - c_lo] = obj
        ro, co = rows[i0:i1] - r_lo, cols[j0:j1] - c_lo

        def binsum(a: np.ndarray) -> np.ndarray:
            return np.add.reduceat(np.add.reduceat(a, ro, axis=0), co, axis=1)

        s = binsum(np.where(sub_obj, sub_d, 0.0).astype(np.float64))
        c = binsum(sub_obj.astype(np.float64))
        area = np.diff(rows[i0 : i1 + 1])[:, None] * np.diff(cols[j0 : j1 + 1])[None, :]
        cell_mask = binsum(sub_m.astype(np.float64)) / area >= cfg.min_coverage
        mean = np.where(c > 0, s / np.maximum(c, 1), fill)
        out[i0:i1, j0:j1] = np.where(cell_mask, mean, bg)
        out_mask[i0:i1, j0:j1] = cell_mask
    else:
        # Upsampling (a crop smaller than the output): nearest neighbour, no new depth values.
        full_obj = np.zeros(m.shape, dtype=bool)
        full_obj[mr0:mr1, mc0:mc1] = obj
        ri = np.minimum((np.arange(cfg.out_height) + 0.5) * crop_h / cfg.out_height, crop_h - 1).astype(np.int64)
        ci = np.minimum((np.arange(cfg.out_width) + 0.5) * crop_w / cfg.out_width, crop_w - 1).astype(np.int64)
        out_mask = m[np.ix_(ri, ci)]
        vals = np.where(full_obj, d, np.float32(fill))[np.ix_(ri, ci)]
        out = np.where(out_mask, vals, bg).astype(np.float32)
    if cfg.hole_fill == "background":
        out_mask = out_mask & (out != bg) if n_obj else np.zeros_like(out_mask)
    return SegmentedDepth(out, out_mask, int(mm.sum()), n_obj)


# --- support plane --------------------------------------------------------------------------
class PlaneFitError(RuntimeError):
    """No plane could be fitted (too few points, none within the allowed tilt)."""


def fit_plane_ransac(
    points: np.ndarray, inlier_m: float, iterations: int, rng: np.random.Generator, up: np.ndarray | None = None,
    max_tilt_deg: float = 90.0,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Plane n·p + d = 0 with unit n oriented so that the camera origin is on the positive side
    (d > 0): heights n·p + d > 0 are between the plane and the camera. Returns n, d, inliers."""
    n_pts = len(points)
    if n_pts < 3:
        raise PlaneFitError(f"only {n_pts} valid depth points for the plane fit")
    idx = rng.integers(0, n_pts, size=(iterations, 3))
    a, b, c = points[idx[:, 0]], points[idx[:, 1]], points[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    good = norms > 1e-9
    normals = normals[good] / norms[good, None]
    a = a[good]
    if len(normals) == 0:
        raise PlaneFitError("degenerate plane samples (all points collinear)")
    ds = -(normals * a).sum(1)
    flip = ds < 0
    normals[flip] *= -1
    ds[flip] *= -1
    if up is not None:
        ok = normals @ up >= np.cos(np.radians(max_tilt_deg))
        if not ok.any():
            raise PlaneFitError(f"no plane within {max_tilt_deg} deg of horizontal near the object")
        normals, ds = normals[ok], ds[ok]
    resid = np.abs(points @ normals.T + ds[None, :])
    counts = (resid < inlier_m).sum(0)
    best = int(np.argmax(counts))
    inl = resid[:, best] < inlier_m
    if inl.sum() < 3:
        raise PlaneFitError("plane fit found fewer than 3 inliers")
    p = points[inl]
    centroid = p.mean(0)
    _, _, vt = np.linalg.svd(p - centroid, full_matrices=False)
    n = vt[-1]
    if n @ normals[best] < 0:
        n = -n
    d = -float(n @ centroid)
    if d < 0:
        n, d = -n, -d
    return n, d, inl


# --- centroid -------------------------------------------------------------------------------
@dataclass
class CentroidConfig:
    """Robust object centre from depth + mask (see :func:`estimate_centroid`)."""

    erosion_px: int = 2  # shrink the mask by this many pixels before using depth (edge pixels lie)
    min_points: int = 20  # fewer valid depth points than this: invalid result
    outlier_mad_k: float = 3.0  # depth inliers: |z - median| <= max(k * 1.4826 * MAD, floor)
    outlier_floor_m: float = 0.01
    min_depth_m: float = 0.1
    max_depth_m: float = 3.0
    surface_offset: str = "minor_axis"  # "minor_axis" | "equivalent_radius" | "none"
    surface_offset_factor: float = 0.9  # x the sphere model's push-back (0.9: chosen on eval seed 1, see README)
    max_surface_offset_m: float = 0.15
    # Support-plane model (see estimate_centroid, step 5): the height of a resting object's centre.
    support_plane: bool = True
    support_ring_px: tuple[int, int] = (4, 30)  # table depth: mask box grown by [1] px, minus the mask grown by [0] px (at 640 px width)
    support_sample_points: int = 600  # ring pixels used for the plane fit (evenly spread over the ring)
    support_ransac_iterations: int = 64
    support_plane_inlier_m: float = 0.004
    support_max_tilt_deg: float = 25.0  # plane normal vs the base frame's up axis
    support_min_inlier_fraction: float = 0.3  # of the sampled ring points; fewer: no plane
    support_top_percentile: float = 98.0  # the object's top height above the plane
    support_contact_m: tuple[float, float] = (0.010, 0.020)  # lowest visible height: resting at <= [0], not at >= [1], blended between
    support_depth_jump_rel: float = 0.03  # mask pixels on a depth jump this large (relative) are not contact evidence
    full_confidence_points: int = 200  # this many inliers or more: no penalty on confidence
    reject_truncated: bool = True  # a mask touching the image border: invalid (the object is cut off)

    def validate(self) -> None:
        if self.erosion_px < 0 or self.min_points < 1:
            raise ValueError(f"centroid: need erosion_px >= 0 and min_points >= 1, got {self.erosion_px}, {self.min_points}")
        if self.surface_offset not in ("minor_axis", "equivalent_radius", "none"):
            raise ValueError(f"centroid.surface_offset must be minor_axis, equivalent_radius or none, got {self.surface_offset!r}")
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError(f"centroid: need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")
        r_in, r_out = self.support_ring_px
        if not 0 <= r_in < r_out:
            raise ValueError(f"centroid.support_ring_px must be (inner, outer) with 0 <= inner < outer, got {self.support_ring_px}")
        c0, c1 = self.support_contact_m
        if not 0 <= c0 < c1:
            raise ValueError(f"centroid.support_contact_m must be (resting, not resting) with 0 <= a < b, got {self.support_contact_m}")
        if not 0 < self.support_top_percentile <= 100:
            raise ValueError(f"centroid.support_top_percentile must be in (0, 100], got {self.support_top_percentile}")
        if self.support_sample_points < 3 or self.support_ransac_iterations < 1 or self.support_plane_inlier_m <= 0:
            raise ValueError("centroid: need support_sample_points >= 3, support_ransac_iterations >= 1, support_plane_inlier_m > 0")
        if not 0 <= self.support_min_inlier_fraction <= 1:
            raise ValueError(f"centroid.support_min_inlier_fraction must be in [0, 1], got {self.support_min_inlier_fraction}")


@dataclass
class CentroidResult:
    """The object centre. When ``valid`` is False, ``reason`` says why and positions are NaN
    (``position_camera_m`` may still be set when only the transform to the base frame is missing)."""

    valid: bool
    reason: str
    position_m: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))  # base frame
    position_camera_m: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))  # optical frame
    surface_camera_m: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))  # visible-surface mean
    confidence: float = 0.0  # in [0, 1]: valid-depth fraction x inlier fraction x point-count factor
    num_points: int = 0
    mask_pixels: int = 0
    pixel_uv: tuple[float, float] = (float("nan"), float("nan"))  # image-plane centre of the mask
    support: SupportEstimate | None = None  # the support-plane model's evidence (None: not used / no plane)

    def to_dict(self) -> dict:
        return {
            "valid": self.valid, "reason": self.reason, "position_m": self.position_m.tolist(),
            "position_camera_m": self.position_camera_m.tolist(), "confidence": self.confidence,
            "num_points": self.num_points, "mask_pixels": self.mask_pixels,
            "support": None if self.support is None else self.support.to_dict(),
        }


@dataclass
class SupportEstimate:
    """The supporting plane under the object and what it says about the object's height.

    ``weight`` is how much the support-plane height replaced the sphere model's (1: resting, the
    visible surface reaches the plane; 0: lifted, or a rounded object whose lowest visible point
    is high above the plane; linear between the two ``support_contact_m`` heights)."""

    normal_camera: np.ndarray  # unit normal, optical frame, pointing to the camera's side
    offset_m: float  # plane: normal . p + offset_m = 0 (offset > 0: the camera is above it)
    inlier_fraction: float  # of the sampled ring points within support_plane_inlier_m
    top_height_m: float  # the object's top above the plane (support_top_percentile of its points)
    contact_height_m: float  # the lowest visible object height above the plane (1st percentile); NaN if unknown
    weight: float

    def to_dict(self) -> dict:
        return {"normal_camera": self.normal_camera.tolist(), "offset_m": self.offset_m, "inlier_fraction": self.inlier_fraction,
                "top_height_m": self.top_height_m, "contact_height_m": self.contact_height_m, "weight": self.weight}


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)), slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)))


def sphere_surface_offset(radius_px: float, eroded_px: float) -> float:
    """Mean depth of a sphere's visible surface in front of its centre, in radii, when the
    pixels within ``eroded_px`` of the silhouette are left out: uniform image-plane samples of
    the cap over the inner disc of radius ρ = 1 − eroded/radius give (2/3)(1 − (1 − ρ²)^1.5)/ρ²
    (2/3 for the full disc)."""
    if radius_px <= 0:
        return 2.0 / 3.0
    rho = float(np.clip((radius_px - eroded_px) / radius_px, 0.05, 1.0))
    return (2.0 / 3.0) * (1.0 - (1.0 - rho * rho) ** 1.5) / (rho * rho)


def _half_size_px(mask: np.ndarray, mode: str) -> float:
    """The object's half-size across the image, from the mask's shape."""
    if mode == "equivalent_radius":
        return float(np.sqrt(mask.sum() / np.pi))
    v, u = np.nonzero(mask)
    if u.size < 3:
        return 0.0
    cov = np.cov(np.stack([u, v]).astype(np.float64))
    lam_min = float(np.linalg.eigvalsh(cov)[0])
    # A filled ellipse of semi-axis a has variance a^2 / 4 along that axis; +1/12 undoes pixelation.
    return 2.0 * np.sqrt(max(lam_min - 1.0 / 12.0, 0.0) + 1e-12)


def _depth_jumps(d: np.ndarray, rel: float) -> np.ndarray:
    """Pixels with a 4-neighbour whose depth differs by more than ``rel`` of the larger one."""
    jump = np.zeros(d.shape, dtype=bool)
    dx = np.abs(d[:, 1:] - d[:, :-1]) > rel * np.maximum(d[:, 1:], d[:, :-1])
    dy = np.abs(d[1:] - d[:-1]) > rel * np.maximum(d[1:], d[:-1])
    jump[:, 1:] |= dx
    jump[:, :-1] |= dx
    jump[1:] |= dy
    jump[:-1] |= dy
    return jump


def estimate_support(
    depth: np.ndarray,
    mask: np.ndarray,
    camera: CameraModel,
    up_camera: np.ndarray,
    object_points: np.ndarray,
    cfg: CentroidConfig,
) -> SupportEstimate | None:
    """The plane the object stands on, its top height above it, and whether it rests on it.

    * Plane: RANSAC (fixed seed, so a frame always gives the same answer) on valid depth in a
      ring around the mask (the mask's box grown by ``support_ring_px[1]`` px, minus the mask
      grown by ``support_ring_px[0]``; pixel sizes for a 640-px-wide image), normals within
      ``support_max_tilt_deg`` of ``up_camera`` (the base frame's up axis in the optical frame),
      refined by least squares. None when no such plane holds ``support_min_inlier_fraction``.
    * Top: the ``support_top_percentile`` of the heights of ``object_points`` (the eroded,
      depth-inlier points) above the plane. None when the object is not above the plane.
    * Contact: the 1st percentile of the heights of all mask pixels with valid depth that are not
      on a depth jump. A resting flat-bottomed object shows its surface down to the table, and
      where it meets the table there is no depth jump, so this is ~0; a lifted object is
      separated from the table behind it by a depth jump all around, so its mixed (flying)
      edge pixels are not counted and this is its lift height or more.
    """
    scale = depth.shape[1] / 640.0
    # The ring and the contact pixels are taken on a grid of step ``s`` (2 px at 640 px width):
    # the plane needs a few hundred points, the contact height a 1st percentile; both are as good
    # from a quarter of the pixels, at a quarter of the cost.
    s = max(round(2 * scale), 1)
    r_in = max(int(np.ceil(cfg.support_ring_px[0] * scale / s)), 0)
    r_out = max(round(cfg.support_ring_px[1] * scale), s * (r_in + 1))
    rs, cs = _bbox(mask, pad=r_out)
    m, d = mask[rs, cs], depth[rs, cs]
    rays = camera.ray_grid()[rs, cs]
    hh, ww = (m.shape[0] // s) * s, (m.shape[1] // s) * s
    m_grid = np.zeros((hh // s, ww // s), dtype=bool)  # a grid cell touching the mask is mask
    for i in range(s):
        for j in range(s):
            m_grid |= m[i:hh:s, j:ww:s]
    d_grid = d[:hh:s, :ww:s]
    near = ndimage.binary_dilation(m_grid, iterations=r_in) if r_in > 0 else m_grid
    vv, uu = np.nonzero(~near & (d_grid >= cfg.min_depth_m) & (d_grid <= cfg.max_depth_m))
    if len(vv) < 3:
        return None
    if len(vv) > cfg.support_sample_points:  # evenly spread over the ring, the same for the same frame
        take = np.linspace(0, len(vv) - 1, cfg.support_sample_points).astype(np.int64)
        vv, uu = vv[take], uu[take]
    ring_pts = rays[vv * s, uu * s].astype(np.float64) * d_grid[vv, uu, None].astype(np.float64)
    try:
        n, off, inl = fit_plane_ransac(ring_pts, cfg.support_plane_inlier_m, cfg.support_ransac_iterations,
                                       np.random.default_rng(0), up_camera, cfg.support_max_tilt_deg)
    except PlaneFitError:
        return None
    inlier_fraction = float(inl.mean())
    if inlier_fraction < cfg.support_min_inlier_fraction:
        return None
    top = float(np.percentile(object_points @ n + off, cfg.support_top_percentile))
    if top <= cfg.support_plane_inlier_m:
        return None  # nothing of the object rises above this plane: it is not the object's support
    mr, mc = _bbox(m, pad=1)
    dm = d[mr, mc]
    contact_px = m[mr, mc] & (dm >= cfg.min_depth_m) & (dm <= cfg.max_depth_m) & ~_depth_jumps(dm, cfg.support_depth_jump_rel)
    cv, cu = np.nonzero(contact_px[::s, ::s])
    if len(cv) >= cfg.min_points:
        cv, cu = cv * s, cu * s
        heights = (rays[mr, mc][cv, cu].astype(np.float64) * dm[cv, cu, None]) @ n + off
        contact = float(np.percentile(heights, 1.0))
        c0, c1 = cfg.support_contact_m
        weight = float(np.clip((c1 - contact) / (c1 - c0), 0.0, 1.0))
    else:
        contact, weight = float("nan"), 0.0
    return SupportEstimate(n, float(off), inlier_fraction, top, contact, weight)


def estimate_centroid(
    depth_m: np.ndarray,
    mask: np.ndarray,
    camera: CameraModel,
    base_from_camera: RigidTransform | None,
    cfg: CentroidConfig | None = None,
) -> CentroidResult:
    """The object's 3-D centre in the base frame, from its mask and depth.

    1. Erode the mask by ``erosion_px`` (boundary pixels mix object and background depth:
       flying pixels, mask errors); fall back to the full mask when erosion leaves too few.
    2. Keep pixels with valid depth; reject depth outliers by the median absolute deviation.
    3. Back-project the inliers (with the lens model) and average: the visible-surface centroid.
    4. The camera only sees the near side, so that centroid is biased toward the camera by about
       the object's half-depth. Push it back along the viewing ray as if the object were a sphere
       whose radius is its half-size across the image (the mask's minor semi-axis, in metres at
       the centre's depth): a sphere's visible surface, sampled uniformly in the image, lies on
       average 2/3 of the radius in front of the centre (a bit more when the eroded rim is left
       out, see :func:`sphere_surface_offset`). ``surface_offset_factor`` scales that push.
    5. Support plane (``support_plane``, needs ``base_from_camera`` for the up direction): the
       sphere model's *height* is wrong for objects that are not as deep as they are wide, most
       of all for a tall object seen from above (the camera sees its top face; the centre is half
       the object's height below it). For an object resting on a plane, the height is observable
       instead: the centre of an object symmetric about its mid-height lies half its top height
       above the plane. :func:`estimate_support` fits the plane around the mask, measures the
       top height and whether the object rests on the plane; the centre's height above the plane
       is then replaced by half the top height, with ``weight`` 1 for a resting object, 0 for a
       lifted one (or a rounded one whose lowest visible point is well above the plane, where the
       sphere model is right anyway), linear between. The horizontal position stays the sphere
       model's. No plane (or no transform): step 4 alone.
    6. Transform to the base frame. Without a transform the result is invalid (reason says so).

    Confidence multiplies the fraction of mask pixels with valid depth, the inlier fraction,
    and min(1, inliers / ``full_confidence_points``).
    """
    cfg = cfg or CentroidConfig()
    depth = depth_to_metres(depth_m)
    mask = _check_mask(depth, mask)
    camera.check_image(depth.shape, "depth image")
    n_mask = int(mask.sum())
    if n_mask == 0:
        return CentroidResult(False, "empty mask: no object pixels")
    if cfg.reject_truncated and (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()):
        return CentroidResult(False, "mask touches the image border: the object is partly out of view", mask_pixels=n_mask)
    rs, cs = _bbox(mask, pad=1)
    m = mask[rs, cs]
    d = depth[rs, cs]
    v_c, u_c = np.nonzero(m)
    pixel_uv = (float(u_c.mean() + cs.start), float(v_c.mean() + rs.start))
    use = m
    if cfg.erosion_px > 0:
        eroded = ndimage.binary_erosion(m, iterations=cfg.erosion_px)
        in_range = (d >= cfg.min_depth_m) & (d <= cfg.max_depth_m)
        if int((eroded & in_range).sum()) >= cfg.min_points:
            use = eroded
    valid = use & (d >= cfg.min_depth_m) & (d <= cfg.max_depth_m)
    n_use, n_valid = int(use.sum()), int(valid.sum())
    if n_valid < cfg.min_points:
        return CentroidResult(
            False, f"only {n_valid} mask pixels with valid depth in [{cfg.min_depth_m}, {cfg.max_depth_m}] m (need {cfg.min_points})",
            mask_pixels=n_mask, pixel_uv=pixel_uv, num_points=n_valid,
        )
    vv, uu = np.nonzero(valid)
    z = d[vv, uu].astype(np.float64)
    med = np.median(z)
    mad = np.median(np.abs(z - med))
    keep = np.abs(z - med) <= max(cfg.outlier_mad_k * 1.4826 * mad, cfg.outlier_floor_m)
    n_in = int(keep.sum())
    if n_in < cfg.min_points:
        return CentroidResult(False, f"only {n_in} depth inliers (need {cfg.min_points})", mask_pixels=n_mask, pixel_uv=pixel_uv, num_points=n_in)
    rays = camera.ray_grid()[rs, cs][vv[keep], uu[keep]].astype(np.float64)
    pts = rays * z[keep, None]
    surface = pts.mean(axis=0)
    center = surface.copy()
    if cfg.surface_offset != "none":
        half_px = _half_size_px(m, cfg.surface_offset)
        eroded_px = cfg.erosion_px if use is not m else 0
        offset = cfg.surface_offset_factor * sphere_surface_offset(half_px, eroded_px)  # in units of half_px
        # The mask's half-size converts to metres at the object's centre depth, which is the
        # surface depth plus the offset itself: one fixed-point step settles it.
        f = np.sqrt(camera.fx * camera.fy)
        z_center = float(surface[2])
        for _ in range(3):
            half_m = half_px * z_center / f
            z_center = float(surface[2]) + offset * half_m
        push = min(offset * half_m, cfg.max_surface_offset_m)
        center = surface + surface / np.linalg.norm(surface) * push
    support = None
    if cfg.surface_offset != "none" and cfg.support_plane and base_from_camera is not None:
        up_camera = base_from_camera.rotation.T @ np.array([0.0, 0.0, 1.0])
        support = estimate_support(depth, mask, camera, up_camera, pts, cfg)
        if support is not None and support.weight > 0:
            height = float(support.normal_camera @ center + support.offset_m)
            center = center - support.weight * (height - 0.5 * support.top_height_m) * support.normal_camera
    confidence = (n_valid / max(n_use, 1)) * (n_in / n_valid) * min(1.0, n_in / cfg.full_confidence_points)
    if base_from_camera is None:
        return CentroidResult(False, "no transform from the camera frame to the base frame", position_camera_m=center,
                              surface_camera_m=surface, confidence=float(confidence), num_points=n_in, mask_pixels=n_mask,
                              pixel_uv=pixel_uv)
    return CentroidResult(True, "", base_from_camera.apply(center), center, surface, float(confidence), n_in, n_mask, pixel_uv,
                          support)
