"""Object perception: segmenters (SAM2, sim ground truth, classical), segmented depth, the object
centroid, depth noise models, and the ROS 2 node.

The core (everything but :mod:`dexmani_perception.node`) imports without ROS 2; SAM2 (torch,
``sam2``) and the simulator (``gr1_sim``) are imported only by the modules that need them.
"""

from .camera import CameraModel, CameraModelError, RigidTransform
from .geometry import (
    CentroidConfig,
    CentroidResult,
    PerceptionInputError,
    SegmentedDepth,
    SegmentedDepthConfig,
    depth_to_metres,
    estimate_centroid,
    segment_depth,
)
from .noise import (
    CameraJitterConfig,
    DepthNoiseConfig,
    DepthNoiseModel,
    jitter_camera,
    sample_camera_jitter,
)
from .pipeline import PerceptionPipeline, PerceptionResult
from .segmenters import Prompt, SegmenterFrame, make_segmenter

__all__ = [
    "CameraJitterConfig", "CameraModel", "CameraModelError", "CentroidConfig", "CentroidResult", "DepthNoiseConfig",
    "DepthNoiseModel", "PerceptionInputError", "PerceptionPipeline", "PerceptionResult", "Prompt", "RigidTransform",
    "SegmentedDepth", "SegmentedDepthConfig", "SegmenterFrame", "depth_to_metres", "estimate_centroid", "jitter_camera",
    "make_segmenter", "sample_camera_jitter", "segment_depth",
]
