"""One camera's perception: segmenter → mask → segmented depth + centroid, with timings.

The node runs one pipeline per camera; the simulator's training loop and the evaluation run the
same class with the ground-truth segmenter, so only the mask source differs between sim and real.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .geometry import (
    CentroidConfig,
    CentroidResult,
    SegmentedDepth,
    SegmentedDepthConfig,
    estimate_centroid,
    segment_depth,
)
from .segmenters.base import Prompt, Segmenter, SegmenterFrame, TrackStatus


@dataclass
class PerceptionResult:
    mask: np.ndarray
    score: float
    track: TrackStatus
    centroid: CentroidResult
    segmented: SegmentedDepth | None
    timing_ms: dict[str, float] = field(default_factory=dict)  # segment_ms, geometry_ms, total_ms

    @property
    def ok(self) -> bool:
        return self.track.ok and self.centroid.valid

    @property
    def reason(self) -> str:
        """Why the result is not usable ('' when it is)."""
        if not self.track.ok:
            return f"track lost: {self.track.reason}"
        return self.centroid.reason


class PerceptionPipeline:
    """Segment, then compute what the policy reads. ``segmented_depth=False`` skips the dense
    image (the third-view camera only feeds the centroid)."""

    def __init__(
        self,
        segmenter: Segmenter,
        centroid: CentroidConfig | None = None,
        segmented_depth: SegmentedDepthConfig | None = None,
        compute_segmented_depth: bool = True,
    ):
        self.segmenter = segmenter
        self.centroid_cfg = centroid or CentroidConfig()
        self.centroid_cfg.validate()
        self.depth_cfg = segmented_depth or SegmentedDepthConfig()
        self.depth_cfg.validate()
        self.compute_segmented_depth = compute_segmented_depth

    def reset(self, frame: SegmenterFrame, prompt: Prompt) -> PerceptionResult:
        t0 = time.perf_counter()
        mask, score = self.segmenter.reset(frame, prompt)
        return self._finish(frame, mask, score, t0)

    def step(self, frame: SegmenterFrame) -> PerceptionResult:
        t0 = time.perf_counter()
        mask, score = self.segmenter.update(frame)
        return self._finish(frame, mask, score, t0)

    def _finish(self, frame: SegmenterFrame, mask: np.ndarray, score: float, t0: float) -> PerceptionResult:
        t1 = time.perf_counter()
        if frame.depth_m is None or frame.camera is None:
            raise ValueError("perception needs frame.depth_m and frame.camera")
        status = self.segmenter.status
        if status.ok:
            centroid = estimate_centroid(frame.depth_m, mask, frame.camera, frame.base_from_camera, self.centroid_cfg)
        else:
            centroid = CentroidResult(False, f"track lost: {status.reason}", mask_pixels=int(mask.sum()))
        use_mask = mask if status.ok else np.zeros_like(mask, dtype=bool)
        seg = segment_depth(frame.depth_m, use_mask, self.depth_cfg) if self.compute_segmented_depth else None
        t2 = time.perf_counter()
        timing = {"segment_ms": 1e3 * (t1 - t0), "geometry_ms": 1e3 * (t2 - t1), "total_ms": 1e3 * (t2 - t0)}
        return PerceptionResult(mask, float(score), TrackStatus(**vars(status)), centroid, seg, timing)
