"""All perception settings in one dataclass tree, loaded from YAML (``config/perception_default.yaml``
holds the defaults and a test keeps the two equal)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .geometry import CentroidConfig, SegmentedDepthConfig
from .noise import CameraJitterConfig, DepthNoiseConfig
from .segmenters.base import TrackingConfig
from .segmenters.classical import ClassicalSegmenterConfig
from .segmenters.ground_truth import MaskNoiseConfig
from .segmenters.sam2_segmenter import Sam2SegmenterConfig


@dataclass
class PerceptionConfig:
    segmented_depth: SegmentedDepthConfig = field(default_factory=SegmentedDepthConfig)
    centroid: CentroidConfig = field(default_factory=CentroidConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    classical: ClassicalSegmenterConfig = field(default_factory=ClassicalSegmenterConfig)
    sam2: Sam2SegmenterConfig = field(default_factory=Sam2SegmenterConfig)
    mask_noise: MaskNoiseConfig = field(default_factory=MaskNoiseConfig)
    depth_noise: DepthNoiseConfig = field(default_factory=DepthNoiseConfig)
    camera_jitter: CameraJitterConfig = field(default_factory=CameraJitterConfig)

    def validate(self) -> None:
        """Check every section except ``sam2``, whose checkpoint is checked when SAM2 is built."""
        for f in fields(self):
            if f.name != "sam2":
                getattr(self, f.name).validate()

    def to_dict(self) -> dict[str, Any]:
        return _lists(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PerceptionConfig:
        """Defaults overridden by ``data``; unknown sections or keys are errors that name them."""
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"perception config: unknown sections {unknown}; known: {sorted(known)}")
        out = cls()
        for name, values in data.items():
            if values is None:
                continue
            if not isinstance(values, dict):  # a user's YAML: reported like any other bad value
                raise ValueError(  # noqa: TRY004
                    f"perception config: section {name!r} must be a mapping, got {type(values).__name__}")
            section = getattr(out, name)
            names = {f.name for f in fields(section)}
            bad = sorted(set(values) - names)
            if bad:
                raise ValueError(f"perception config: unknown keys {bad} in section {name!r}; known: {sorted(names)}")
            setattr(out, name, replace(section, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}))
        out.validate()
        return out

    @classmethod
    def load(cls, path: str | Path) -> PerceptionConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"perception config not found: {path}")
        return cls.from_dict(yaml.safe_load(path.read_text()) or {})


def _lists(x):
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    return x
