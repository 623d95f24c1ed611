"""Tabletop segmentation from depth alone: the fallback for a robot without a SAM2 checkpoint.

Per frame:
1. Fit the support plane by RANSAC on depth points in a window around the object (the prompt,
   then the last mask): a local fit finds the table, not the floor or a wall that may cover
   more of the image. If the camera pose is known, plane normals more than
   ``max_plane_tilt_deg`` from the base frame's up axis are rejected. The inlier set is refined
   by least squares.
2. Height of every pixel above the plane (one dot product per pixel with cached rays), on a
   grid subsampled by ``stride_px``; pixels higher than ``min_height_m`` and not on a depth
   discontinuity form candidate regions (connected components).
3. The object is the component at the prompt pixel (or the nearest within
   ``max_prompt_distance_px``); when tracking, the component overlapping the last mask most.
   It must rise at least ``seed_height_m`` above the table.
4. The mask is refined at full resolution inside the component's box, and holes (invalid depth
   inside the object) are filled.

Score: for a prompt, 1 at the prompt pixel, falling linearly to 0 at ``max_prompt_distance_px``;
when tracking, the IoU with the previous mask (low when the object jumps or merges with
something).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..geometry import PlaneFitError, depth_to_metres, fit_plane_ransac
from .base import Prompt, Segmenter, SegmenterFrame, TrackingConfig


@dataclass
class ClassicalSegmenterConfig:
    stride_px: int = 2  # coarse grid for plane heights and components (refined at full resolution)
    plane_window_px: int = 120  # half-size of the window around the object used for the plane fit
    plane_sample_points: int = 600
    ransac_iterations: int = 48
    plane_inlier_m: float = 0.006
    max_plane_tilt_deg: float = 25.0  # vs. the base frame's up axis, when the camera pose is known
    min_height_m: float = 0.006  # object pixels lie at least this far above the plane
    seed_height_m: float = 0.015  # the object must rise at least this high somewhere
    max_height_m: float = 0.6
    depth_jump_rel: float = 0.03  # neighbouring depths differing by more than this fraction: an edge
    max_prompt_distance_px: float = 40.0
    close_px: int = 2  # morphological closing of the full-resolution mask
    fill_holes: bool = True
    seed: int = 0

    def validate(self) -> None:
        if self.stride_px < 1 or self.plane_window_px < 8 or self.ransac_iterations < 1 or self.plane_sample_points < 3:
            raise ValueError("classical: need stride_px >= 1, plane_window_px >= 8, ransac_iterations >= 1, plane_sample_points >= 3")
        if not 0 < self.min_height_m <= self.seed_height_m < self.max_height_m:
            raise ValueError(
                f"classical: need 0 < min_height_m <= seed_height_m < max_height_m, got "
                f"{self.min_height_m}, {self.seed_height_m}, {self.max_height_m}"
            )


class ClassicalSegmenter(Segmenter):
    """Depth-only tabletop segmenter (plane fit, points above it, the component at the prompt)."""

    name = "classical"

    def __init__(self, cfg: ClassicalSegmenterConfig | None = None, tracking: TrackingConfig | None = None):
        super().__init__(tracking)
        self.cfg = cfg or ClassicalSegmenterConfig()
        self.cfg.validate()
        self.rng = np.random.default_rng(self.cfg.seed)
        self.last_plane: tuple[np.ndarray, float] | None = None
        self.last_height: np.ndarray | None = None

    # --- steps -------------------------------------------------------------------------------
    def _inputs(self, frame: SegmenterFrame) -> tuple[np.ndarray, np.ndarray]:
        if frame.depth_m is None or frame.camera is None:
            raise ValueError("the classical segmenter needs frame.depth_m and frame.camera")
        depth = depth_to_metres(frame.depth_m)
        frame.camera.check_image(depth.shape, "depth image")
        return depth, frame.camera.ray_grid()

    def _fit_plane(self, depth, rays, center_px, frame) -> tuple[np.ndarray, float]:
        cfg = self.cfg
        h, w = depth.shape
        half = cfg.plane_window_px * w / 640.0
        cx, cy = center_px
        r0, r1 = int(max(cy - half, 0)), int(min(cy + half, h))
        c0, c1 = int(max(cx - half, 0)), int(min(cx + half, w))
        win = depth[r0:r1, c0:c1]
        vv, uu = np.nonzero(win > 0)
        if len(vv) < 3:
            raise PlaneFitError(f"no valid depth around pixel ({cx:.0f}, {cy:.0f})")
        take = self.rng.choice(len(vv), size=min(cfg.plane_sample_points, len(vv)), replace=False)
        vv, uu = vv[take] + r0, uu[take] + c0
        pts = rays[vv, uu].astype(np.float64) * depth[vv, uu, None]
        up = None
        if frame.base_from_camera is not None:
            up = frame.base_from_camera.rotation.T @ np.array([0.0, 0.0, 1.0])
        n, d, _ = fit_plane_ransac(pts, cfg.plane_inlier_m, cfg.ransac_iterations, self.rng, up, cfg.max_plane_tilt_deg)
        return n, d

    def _candidates(self, depth, rays, plane) -> tuple[np.ndarray, int, np.ndarray, int]:
        """Component labels on the strided grid, and the strided heights."""
        s = self.cfg.stride_px
        n, d = plane
        z = depth[::s, ::s]
        r = rays[::s, ::s]
        height = z * (r[..., 0] * n[0] + r[..., 1] * n[1] + r[..., 2] * n[2]) + np.float32(d)
        valid = z > 0
        cand = valid & (height > self.cfg.min_height_m) & (height < self.cfg.max_height_m)
        jr = self.cfg.depth_jump_rel
        edge = np.zeros_like(cand)
        dz_x = np.abs(z[:, 1:] - z[:, :-1]) > jr * np.maximum(z[:, 1:], z[:, :-1])
        dz_y = np.abs(z[1:] - z[:-1]) > jr * np.maximum(z[1:], z[:-1])
        edge[:, 1:] |= dz_x
        edge[1:] |= dz_y
        labels, count = ndimage.label(cand & ~edge)
        return labels, count, np.where(valid, height, 0.0), s

    def _pick(self, labels, count, height, s, target_px=None, prev=None) -> tuple[int, float]:
        if count == 0:
            return 0, 0.0
        ok = np.zeros(count + 1, dtype=bool)  # components that rise above seed_height_m somewhere
        ok[np.unique(labels[height >= self.cfg.seed_height_m])] = True
        ok[0] = False
        if prev is not None and prev.any():
            ps = prev[::s, ::s]
            ps = ps[: labels.shape[0], : labels.shape[1]]
            overlap = np.bincount(labels[ps], minlength=count + 1).astype(float)
            overlap[0] = 0
            overlap[~ok] = 0
            if overlap.max() > 0:
                best = int(np.argmax(overlap))
                return best, 1.0
        if target_px is None:
            return 0, 0.0
        tx, ty = target_px[0] / s, target_px[1] / s
        ti, tj = int(np.clip(round(ty), 0, labels.shape[0] - 1)), int(np.clip(round(tx), 0, labels.shape[1] - 1))
        lab = labels[ti, tj]
        if lab > 0 and ok[lab]:
            return int(lab), 1.0
        # Nearest qualifying component pixel within the allowed distance.
        limit = self.cfg.max_prompt_distance_px / s
        r0, r1 = int(max(ty - limit, 0)), int(min(ty + limit + 1, labels.shape[0]))
        c0, c1 = int(max(tx - limit, 0)), int(min(tx + limit + 1, labels.shape[1]))
        sub = labels[r0:r1, c0:c1]
        sel = (sub > 0) & ok[sub]
        if not sel.any():
            return 0, 0.0
        vv, uu = np.nonzero(sel)
        dist = np.hypot(vv + r0 - ty, uu + c0 - tx)
        k = int(np.argmin(dist))
        if dist[k] > limit:
            return 0, 0.0
        return int(sub[vv[k], uu[k]]), float(1.0 - dist[k] / limit)

    def _full_res_mask(self, depth, rays, plane, labels, lab, s) -> np.ndarray:
        h, w = depth.shape
        comp = labels == lab
        rows, cols = np.flatnonzero(comp.any(1)), np.flatnonzero(comp.any(0))
        pad = 2
        r0, r1 = max((rows[0] - pad) * s, 0), min((rows[-1] + pad + 1) * s, h)
        c0, c1 = max((cols[0] - pad) * s, 0), min((cols[-1] + pad + 1) * s, w)
        coarse = comp[max(rows[0] - pad, 0) : rows[-1] + pad + 1, max(cols[0] - pad, 0) : cols[-1] + pad + 1]
        up = np.repeat(np.repeat(coarse, s, axis=0), s, axis=1)[: r1 - r0, : c1 - c0]
        if s > 1:
            up = ndimage.binary_dilation(up, iterations=s)
        n, d = plane
        z = depth[r0:r1, c0:c1]
        r = rays[r0:r1, c0:c1]
        hgt = z * (r[..., 0] * n[0] + r[..., 1] * n[1] + r[..., 2] * n[2]) + np.float32(d)
        sub = up & (z > 0) & (hgt > self.cfg.min_height_m) & (hgt < self.cfg.max_height_m)
        if self.cfg.close_px > 0:
            # Close the gaps left by edge holes and flying pixels along the object's outline.
            sub = ndimage.binary_closing(np.pad(sub, self.cfg.close_px), iterations=self.cfg.close_px)[
                self.cfg.close_px : -self.cfg.close_px, self.cfg.close_px : -self.cfg.close_px]
        if self.cfg.fill_holes:
            sub = ndimage.binary_fill_holes(sub)
        mask = np.zeros((h, w), dtype=bool)
        mask[r0:r1, c0:c1] = sub
        return mask

    def _segment(self, frame, target_px, prev) -> tuple[np.ndarray, float]:
        depth, rays = self._inputs(frame)
        empty = np.zeros(depth.shape, dtype=bool)
        try:
            plane = self._fit_plane(depth, rays, target_px, frame)
        except PlaneFitError:
            if self.last_plane is None:
                return empty, 0.0
            plane = self.last_plane
        self.last_plane = plane
        labels, count, height, s = self._candidates(depth, rays, plane)
        lab, score = self._pick(labels, count, height, s, target_px, prev)
        if lab == 0:
            return empty, 0.0
        mask = self._full_res_mask(depth, rays, plane, labels, lab, s)
        if prev is not None and prev.any() and score > 0:
            inter = np.logical_and(mask, prev).sum()
            score = float(inter / max(np.logical_or(mask, prev).sum(), 1))
        return mask, score

    # --- Segmenter ---------------------------------------------------------------------------
    def _prompt(self, frame: SegmenterFrame, prompt: Prompt) -> tuple[np.ndarray, float]:
        return self._segment(frame, tuple(prompt.center_px()), None)

    def _last_center(self) -> tuple[float, float]:
        """Centre of the last good mask (sampled on the stride grid), else the prompt's centre."""
        prev = self.monitor.last_good_mask
        if prev is not None and prev.any():
            s = self.cfg.stride_px
            v, u = np.nonzero(prev[::s, ::s])
            if len(u):
                return float(u.mean() * s), float(v.mean() * s)
        return tuple(self.prompt.center_px())

    def _track(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        return self._segment(frame, self._last_center(), self.monitor.last_good_mask)

    def _reacquire(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        """Look again around the last good mask's centre (or the prompt), without the overlap rule."""
        return self._segment(frame, self._last_center(), None)
