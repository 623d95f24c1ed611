"""The segmenter interface, prompts, and lost-track detection shared by all segmenters.

A segmenter is prompted once (``reset(frame, prompt)``) and then follows the object
(``update(frame) -> (mask, score)``). Every segmenter reports a score in [0, 1] and goes through
the same :class:`TrackMonitor`, so "lost" means the same thing for SAM2, the classical
segmenter and the simulator's ground truth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..camera import CameraModel, RigidTransform


class PromptError(ValueError):
    """A prompt that cannot be used: no points and no box, coordinates outside the image."""


@dataclass
class Prompt:
    """Where the object is in the first frame: positive / negative points and/or a box, in
    pixels (x = column, y = row) of the frame given to ``reset``."""

    points_px: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # 1 object, 0 background
    box_px: np.ndarray | None = None  # x0, y0, x1, y1

    def __post_init__(self) -> None:
        self.points_px = np.asarray(self.points_px, dtype=np.float64).reshape(-1, 2)
        if self.labels is None or len(self.labels) == 0:
            self.labels = np.ones(len(self.points_px), dtype=np.int32)
        self.labels = np.asarray(self.labels, dtype=np.int32).reshape(-1)
        if self.box_px is not None:
            self.box_px = np.asarray(self.box_px, dtype=np.float64).reshape(4)

    @classmethod
    def point(cls, x: float, y: float) -> Prompt:
        return cls(np.array([[x, y]]))

    @classmethod
    def box(cls, x0: float, y0: float, x1: float, y1: float) -> Prompt:
        return cls(box_px=np.array([x0, y0, x1, y1]))

    def validate(self, width: int, height: int) -> None:
        if len(self.points_px) == 0 and self.box_px is None:
            raise PromptError("prompt has neither points nor a box")
        if len(self.labels) != len(self.points_px):
            raise PromptError(f"prompt has {len(self.points_px)} points but {len(self.labels)} labels")
        if len(self.points_px) and not np.any(self.labels == 1) and self.box_px is None:
            raise PromptError("prompt has only negative (background) points")
        p = self.points_px
        if len(p) and (np.any(p < 0) or np.any(p[:, 0] > width - 1) or np.any(p[:, 1] > height - 1) or not np.all(np.isfinite(p))):
            raise PromptError(f"prompt points {p.tolist()} lie outside the {width}x{height} image")
        if self.box_px is not None:
            x0, y0, x1, y1 = self.box_px
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise PromptError(f"prompt box {self.box_px.tolist()} must satisfy 0 <= x0 < x1 <= {width}, 0 <= y0 < y1 <= {height}")

    def center_px(self) -> np.ndarray:
        """A representative object pixel: the mean positive point, else the box centre."""
        pos = self.points_px[self.labels == 1]
        if len(pos):
            return pos.mean(axis=0)
        x0, y0, x1, y1 = self.box_px
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])


@dataclass
class SegmenterFrame:
    """What a segmenter may look at. Segmenters use what they need (SAM2: ``rgb``; classical:
    ``depth_m``, ``camera`` and, if known, ``base_from_camera``; ground truth: ``gt_mask``)."""

    rgb: np.ndarray | None = None  # (H, W, 3) uint8
    depth_m: np.ndarray | None = None  # (H, W) float32 metres, 0 invalid
    camera: CameraModel | None = None
    base_from_camera: RigidTransform | None = None
    gt_mask: np.ndarray | None = None  # simulation only

    @property
    def shape(self) -> tuple[int, int]:
        for a in (self.rgb, self.depth_m, self.gt_mask):
            if a is not None:
                return a.shape[:2]
        raise ValueError("frame has no image")


@dataclass
class TrackingConfig:
    """When a mask counts as lost: a low score, too few pixels, or an area jump against the
    running area of the last good masks. ``reacquire``: try to find the object again."""

    min_score: float = 0.5
    min_area_px: int = 20
    max_area_ratio: float = 3.0  # area / reference area beyond [1/r, r]: a jump
    area_smoothing: float = 0.3  # weight of the new area in the running reference
    reacquire: bool = True

    def validate(self) -> None:
        if not 0 <= self.min_score <= 1:
            raise ValueError(f"tracking.min_score must be in [0, 1], got {self.min_score}")
        if self.max_area_ratio <= 1:
            raise ValueError(f"tracking.max_area_ratio must be > 1, got {self.max_area_ratio}")
        if not 0 < self.area_smoothing <= 1:
            raise ValueError(f"tracking.area_smoothing must be in (0, 1], got {self.area_smoothing}")


@dataclass
class TrackStatus:
    ok: bool = False
    reason: str = "not prompted"
    reacquired: bool = False
    lost_frames: int = 0


class TrackMonitor:
    """Judges each mask; remembers the last good one for re-acquisition."""

    def __init__(self, cfg: TrackingConfig):
        self.cfg = cfg
        self.reference_area: float | None = None
        self.last_good_mask: np.ndarray | None = None
        self.status = TrackStatus()

    def reset(self) -> None:
        self.reference_area = None
        self.last_good_mask = None
        self.status = TrackStatus()

    def judge(self, mask: np.ndarray, score: float) -> tuple[bool, str]:
        area = int(mask.sum())
        if area < self.cfg.min_area_px:
            return False, f"mask area {area} px < min_area_px {self.cfg.min_area_px}"
        if score < self.cfg.min_score:
            return False, f"score {score:.2f} < min_score {self.cfg.min_score}"
        if self.reference_area:
            ratio = area / self.reference_area
            if ratio > self.cfg.max_area_ratio or ratio < 1 / self.cfg.max_area_ratio:
                return False, f"mask area jumped by x{ratio:.2f} ({area} px vs {self.reference_area:.0f} px)"
        return True, ""

    def accept(self, mask: np.ndarray) -> None:
        area = float(mask.sum())
        a = self.cfg.area_smoothing
        self.reference_area = area if self.reference_area is None else (1 - a) * self.reference_area + a * area
        self.last_good_mask = mask
        self.status = TrackStatus(True, "", False, 0)

    def mark_lost(self, reason: str) -> None:
        self.status = TrackStatus(False, reason, False, self.status.lost_frames + 1)


class Segmenter(ABC):
    """Prompt once, then follow the object frame by frame."""

    name: str = "segmenter"

    def __init__(self, tracking: TrackingConfig | None = None):
        self.tracking = tracking or TrackingConfig()
        self.tracking.validate()
        self.monitor = TrackMonitor(self.tracking)
        self.prompt: Prompt | None = None

    @property
    def status(self) -> TrackStatus:
        return self.monitor.status

    def reset(self, frame: SegmenterFrame, prompt: Prompt) -> tuple[np.ndarray, float]:
        """Start on ``frame`` from ``prompt``; returns the first mask and its score."""
        h, w = frame.shape
        prompt.validate(w, h)
        self.prompt = prompt
        self.monitor.reset()
        mask, score = self._prompt(frame, prompt)
        ok, reason = self.monitor.judge(mask, score)
        if ok:
            self.monitor.accept(mask)
        else:
            self.monitor.mark_lost(f"first frame: {reason}")
        return mask, score

    def update(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        """The object's mask in the next frame and a score in [0, 1]. When the track is judged
        lost, one re-acquisition is tried (if enabled); if it fails, ``status.ok`` is False
        and ``status.reason`` says why."""
        if self.prompt is None:
            raise RuntimeError(f"{self.name} segmenter: update() before reset(frame, prompt)")
        mask, score = self._track(frame)
        ok, reason = self.monitor.judge(mask, score)
        if ok:
            self.monitor.accept(mask)
            return mask, score
        if self.tracking.reacquire:
            mask2, score2 = self._reacquire(frame)
            ok2, reason2 = self.monitor.judge(mask2, score2)
            if ok2:
                self.monitor.accept(mask2)
                self.monitor.status.reacquired = True
                return mask2, score2
            reason = f"{reason}; re-acquisition failed: {reason2}"
        self.monitor.mark_lost(reason)
        return mask, score

    @abstractmethod
    def _prompt(self, frame: SegmenterFrame, prompt: Prompt) -> tuple[np.ndarray, float]: ...

    @abstractmethod
    def _track(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]: ...

    def _reacquire(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        """Default: prompt again at the last good mask's centre (or the original prompt)."""
        return self._prompt(frame, self.reacquire_prompt())

    def reacquire_prompt(self) -> Prompt:
        last = self.monitor.last_good_mask
        if last is not None and last.any():
            v, u = np.nonzero(last)
            return Prompt.box(float(u.min()), float(v.min()), float(u.max() + 1), float(v.max() + 1))
        return self.prompt
