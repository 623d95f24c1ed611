"""The simulator's segmentation as a segmenter, with mask noise that imitates SAM2's errors.

In training the policy must not learn to rely on a perfect silhouette, because on the robot the
mask comes from SAM2. The noise terms (each switchable, pixel sizes for 640x480 and scaled with
the image width):

* ``morphology``: erode or dilate by up to ``max_morph_px`` (SAM2 masks are often a pixel or two
  too tight or too loose);
* ``boundary_jitter``: move the boundary in and out by a smooth random field of amplitude
  ``boundary_jitter_px`` (ragged edges);
* ``cutout``: remove a random rectangle of up to ``cutout_max_frac`` of the mask's box (partial
  masks, e.g. under occlusion by the hand);
* ``dropout``: the whole mask is lost for this frame (a lost track);
* ``false_blob``: an extra disc somewhere in the image (a distractor segmented by mistake).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .base import Prompt, Segmenter, SegmenterFrame, TrackingConfig


@dataclass
class MaskNoiseConfig:
    enabled: bool = True
    reference_width_px: int = 640
    morph_prob: float = 0.5
    max_morph_px: int = 2
    boundary_jitter_prob: float = 0.5
    boundary_jitter_px: float = 1.5
    boundary_jitter_scale_px: float = 8.0
    cutout_prob: float = 0.05
    cutout_max_frac: float = 0.3
    dropout_prob: float = 0.02
    false_blob_prob: float = 0.05
    false_blob_radius_px: tuple[float, float] = (3.0, 12.0)

    def validate(self) -> None:
        for name in ("morph_prob", "boundary_jitter_prob", "cutout_prob", "dropout_prob", "false_blob_prob", "cutout_max_frac"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"mask_noise.{name} must be in [0, 1], got {v}")
        lo, hi = self.false_blob_radius_px
        if not 0 < lo <= hi:
            raise ValueError(f"mask_noise.false_blob_radius_px must be 0 < lo <= hi, got {self.false_blob_radius_px}")


def _disc(shape, cx, cy, r) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def apply_mask_noise(mask: np.ndarray, cfg: MaskNoiseConfig, rng: np.random.Generator) -> np.ndarray:
    """A noised copy of a boolean mask (reproducible by ``rng``)."""
    mask = np.asarray(mask, dtype=bool)
    if not cfg.enabled:
        return mask.copy()
    h, w = mask.shape
    s = w / cfg.reference_width_px
    out = mask.copy()
    # Draw every random number up front, in a fixed order: one seed gives one result.
    u = rng.random(5)
    morph = int(rng.integers(1, max(cfg.max_morph_px, 1) + 1))
    dilate = bool(rng.random() < 0.5)
    cut = rng.random(4)
    blob = rng.random(3)
    jitter_seed = int(rng.integers(0, 2**31))
    if out.any() and u[0] < cfg.morph_prob and cfg.max_morph_px > 0:
        it = max(1, round(morph * s))
        out = ndimage.binary_dilation(out, iterations=it) if dilate else ndimage.binary_erosion(out, iterations=it)
    if out.any() and u[1] < cfg.boundary_jitter_prob and cfg.boundary_jitter_px > 0:
        pad = int(np.ceil(3 * cfg.boundary_jitter_px * s)) + 2
        rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
        r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)
        c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)
        sub = out[r0:r1, c0:c1]
        sdf = ndimage.distance_transform_edt(sub) - ndimage.distance_transform_edt(~sub)  # > 0 inside
        scale = max(cfg.boundary_jitter_scale_px * s, 1.0)
        gh, gw = int(np.ceil(sub.shape[0] / scale)) + 2, int(np.ceil(sub.shape[1] / scale)) + 2
        coarse = np.random.default_rng(jitter_seed).standard_normal((gh, gw)) * cfg.boundary_jitter_px * s
        field = ndimage.zoom(coarse, (sub.shape[0] / gh, sub.shape[1] / gw), order=1, grid_mode=True, mode="nearest")
        field = np.pad(field, ((0, max(0, sub.shape[0] - field.shape[0])), (0, max(0, sub.shape[1] - field.shape[1]))), mode="edge")
        out[r0:r1, c0:c1] = (sdf + field[: sub.shape[0], : sub.shape[1]]) > 0
    if out.any() and u[2] < cfg.cutout_prob:
        rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
        bh, bw = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        ch = max(1, int(bh * np.sqrt(cfg.cutout_max_frac) * cut[0]))
        cw = max(1, int(bw * np.sqrt(cfg.cutout_max_frac) * cut[1]))
        y0 = int(rows[0] + cut[2] * (bh - ch))
        x0 = int(cols[0] + cut[3] * (bw - cw))
        out[y0 : y0 + ch, x0 : x0 + cw] = False
    if u[3] < cfg.dropout_prob:
        out[:] = False
    if u[4] < cfg.false_blob_prob:
        lo, hi = cfg.false_blob_radius_px
        out |= _disc(out.shape, blob[0] * w, blob[1] * h, (lo + blob[2] * (hi - lo)) * s)
    return out


class GroundTruthSegmenter(Segmenter):
    """The renderer's object mask (``frame.gt_mask``) with :class:`MaskNoiseConfig` noise.
    The prompt is only checked, not used: the simulator knows which object is meant."""

    name = "gt"

    def __init__(self, noise: MaskNoiseConfig | None = None, tracking: TrackingConfig | None = None, seed: int | None = 0):
        super().__init__(tracking)
        self.noise = noise or MaskNoiseConfig(enabled=False)
        self.noise.validate()
        self.rng = np.random.default_rng(seed)

    def _mask(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        if frame.gt_mask is None:
            raise ValueError("the ground-truth segmenter needs frame.gt_mask (the renderer's object mask)")
        mask = apply_mask_noise(frame.gt_mask, self.noise, self.rng)
        return mask, 1.0 if mask.any() else 0.0

    def _prompt(self, frame: SegmenterFrame, prompt: Prompt) -> tuple[np.ndarray, float]:
        return self._mask(frame)

    def _track(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        return self._mask(frame)

    def _reacquire(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        return np.zeros(frame.shape, dtype=bool), 0.0  # a dropped mask stays dropped for this frame
