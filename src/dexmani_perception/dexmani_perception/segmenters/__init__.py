"""Segmenters behind one interface: ``reset(frame, prompt)``, ``update(frame) -> (mask, score)``.

``sam2_segmenter`` imports torch and sam2 only when a SAM2 segmenter is made.
"""

from .base import (
    Prompt,
    PromptError,
    Segmenter,
    SegmenterFrame,
    TrackingConfig,
    TrackMonitor,
    TrackStatus,
)
from .classical import ClassicalSegmenter, ClassicalSegmenterConfig
from .ground_truth import GroundTruthSegmenter, MaskNoiseConfig, apply_mask_noise

SEGMENTERS = ("gt", "classical", "sam2")

__all__ = [
    "SEGMENTERS", "ClassicalSegmenter", "ClassicalSegmenterConfig", "GroundTruthSegmenter", "MaskNoiseConfig", "Prompt",
    "PromptError", "Segmenter", "SegmenterFrame", "TrackMonitor", "TrackStatus", "TrackingConfig", "apply_mask_noise",
    "make_segmenter",
]


def make_segmenter(kind: str, config=None, seed: int | None = 0, mask_noise: bool = True) -> Segmenter:
    """A segmenter by name (``gt``, ``classical``, ``sam2``) configured from a
    :class:`~dexmani_perception.config.PerceptionConfig` (defaults when None)."""
    from ..config import PerceptionConfig

    cfg = config or PerceptionConfig()
    if kind == "gt":
        from dataclasses import replace

        noise = cfg.mask_noise if mask_noise else replace(cfg.mask_noise, enabled=False)
        return GroundTruthSegmenter(noise, cfg.tracking, seed)
    if kind == "classical":
        return ClassicalSegmenter(cfg.classical, cfg.tracking)
    if kind == "sam2":
        from .sam2_segmenter import Sam2Segmenter

        return Sam2Segmenter(cfg.sam2, cfg.tracking)
    raise ValueError(f"unknown segmenter {kind!r}; valid: {SEGMENTERS}")
