"""Classical and ground-truth segmenters, prompts, lost-track detection, the pipeline."""

import numpy as np
import pytest
from dexmani_perception.config import PerceptionConfig
from dexmani_perception.noise import DepthNoiseModel
from dexmani_perception.pipeline import PerceptionPipeline
from dexmani_perception.segmenters import (
    ClassicalSegmenter,
    GroundTruthSegmenter,
    MaskNoiseConfig,
    Prompt,
    PromptError,
    SegmenterFrame,
    TrackingConfig,
    make_segmenter,
)
from dexmani_perception.segmenters.classical import fit_plane_ransac
from perception_scenes import d435, look_at, render

EYE, TARGET = (0.75, 0.1, 0.45), (0.05, 0.0, 0.0)  # a tripod camera looking down at a table (z = 0)


def table_frame(box_center=(0.05, 0.0, 0.025), half=(0.025, 0.025, 0.025), noise_seed=None, extra_boxes=()):
    cam = d435()
    pose = look_at(EYE, TARGET)
    boxes = [(np.asarray(box_center), np.asarray(half))] + list(extra_boxes)
    depth, ids = render(cam, pose, boxes=boxes, plane_z=0.0)
    if noise_seed is not None:
        depth = DepthNoiseModel().apply(depth, cam, np.random.default_rng(noise_seed))
    return SegmenterFrame(depth_m=depth, camera=cam, base_from_camera=pose, gt_mask=ids == 0), ids == 0


def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def click(mask):
    v, u = np.nonzero(mask)
    return Prompt.point(float(np.median(u)), float(np.median(v)))


def test_plane_fit_finds_the_table_among_outliers():
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-0.3, 0.3, 400), rng.uniform(-0.3, 0.3, 400), np.zeros(400)] + [0, 0, 0.8]
    pts[:100, 2] -= rng.uniform(0.02, 0.1, 100)  # an object in front of the plane (toward the camera at z = 0)
    n, d, inl = fit_plane_ransac(pts, 0.005, 64, rng)
    assert abs(abs(n[2]) - 1) < 1e-6 and d == pytest.approx(0.8, abs=1e-6)
    assert inl[100:].all() and not inl[:100].any()
    assert d > 0  # camera origin on the positive side


@pytest.mark.parametrize("noise_seed", [None, 0])
def test_classical_segmenter_finds_a_box_on_a_plane(noise_seed):
    frame, gt = table_frame(noise_seed=noise_seed)
    seg = ClassicalSegmenter()
    mask, score = seg.reset(frame, click(gt))
    assert seg.status.ok, seg.status.reason
    assert iou(mask, gt) > (0.9 if noise_seed is None else 0.75)  # noise eats the outline of a 5 cm box
    assert score > 0.9


def test_classical_segmenter_picks_the_prompted_object_and_tracks_it():
    other = (np.array([0.05, 0.15, 0.03]), np.array([0.02, 0.02, 0.03]))
    frame, gt = table_frame(extra_boxes=[other])
    seg = ClassicalSegmenter()
    mask, _ = seg.reset(frame, click(gt))
    assert iou(mask, gt) > 0.9
    # The box moves 1 cm; tracking follows it, not the other box.
    frame2, gt2 = table_frame(box_center=(0.05, -0.01, 0.025), extra_boxes=[other])
    mask2, score2 = seg.update(frame2)
    assert seg.status.ok and iou(mask2, gt2) > 0.9 and score2 > 0.5
    # A prompt on the bare table finds nothing: an empty mask and a lost status with the reason.
    seg2 = ClassicalSegmenter()
    empty, s = seg2.reset(frame, Prompt.point(600, 60))
    assert not empty.any() and s == 0 and not seg2.status.ok and "area" in seg2.status.reason


def test_lost_track_is_reported_when_the_object_disappears():
    frame, gt = table_frame()
    seg = ClassicalSegmenter()
    seg.reset(frame, click(gt))
    cam = frame.camera
    depth, _ = render(cam, frame.base_from_camera, plane_z=0.0)
    mask, score = seg.update(SegmenterFrame(depth_m=depth, camera=cam, base_from_camera=frame.base_from_camera))
    assert not seg.status.ok and "re-acquisition failed" in seg.status.reason
    assert not mask.any() and score == 0.0
    assert seg.status.lost_frames == 1
    # The object comes back where it was: re-acquired.
    mask, _ = seg.update(frame)
    assert seg.status.ok and iou(mask, gt) > 0.9


def test_area_jump_counts_as_lost():
    gt_seg = GroundTruthSegmenter(MaskNoiseConfig(enabled=False), TrackingConfig(max_area_ratio=2.0, reacquire=False))
    frame, gt = table_frame()
    gt_seg.reset(frame, click(gt))
    big = np.zeros_like(gt)
    big[100:400, 100:500] = True
    gt_seg.update(SegmenterFrame(depth_m=frame.depth_m, camera=frame.camera, gt_mask=big))
    assert not gt_seg.status.ok and "jumped" in gt_seg.status.reason


def test_ground_truth_segmenter_returns_the_rendered_mask_with_configured_noise():
    frame, gt = table_frame()
    clean = GroundTruthSegmenter(MaskNoiseConfig(enabled=False))
    mask, score = clean.reset(frame, click(gt))
    assert np.array_equal(mask, gt) and score == 1.0
    noisy = GroundTruthSegmenter(MaskNoiseConfig(morph_prob=1.0, boundary_jitter_prob=1.0), seed=3)
    m2, _ = noisy.reset(frame, click(gt))
    assert not np.array_equal(m2, gt) and iou(m2, gt) > 0.6
    with pytest.raises(ValueError, match="gt_mask"):
        clean.update(SegmenterFrame(depth_m=frame.depth_m, camera=frame.camera))


def test_prompt_validation():
    frame, gt = table_frame()
    seg = ClassicalSegmenter()
    with pytest.raises(PromptError, match="outside"):
        seg.reset(frame, Prompt.point(700, 10))
    with pytest.raises(PromptError, match="neither"):
        seg.reset(frame, Prompt())
    with pytest.raises(PromptError, match="box"):
        seg.reset(frame, Prompt.box(100, 100, 50, 200))
    with pytest.raises(RuntimeError, match="before reset"):
        ClassicalSegmenter().update(frame)
    # A box prompt works too.
    v, u = np.nonzero(gt)
    mask, _ = seg.reset(frame, Prompt.box(u.min(), v.min(), u.max() + 1, v.max() + 1))
    assert iou(mask, gt) > 0.9


def test_pipeline_gives_segmented_depth_centroid_and_flags_lost_track():
    center = np.array([0.05, 0.0, 0.025])
    frame, gt = table_frame(box_center=center)
    cfg = PerceptionConfig()
    pipe = PerceptionPipeline(make_segmenter("classical", cfg), cfg.centroid, cfg.segmented_depth)
    res = pipe.reset(frame, click(gt))
    assert res.ok, res.reason
    assert np.linalg.norm(res.centroid.position_m - center) < 0.01
    assert res.segmented.depth_m.shape == (48, 64) and res.segmented.mask.sum() > 5
    assert set(res.timing_ms) == {"segment_ms", "geometry_ms", "total_ms"}
    depth, _ = render(frame.camera, frame.base_from_camera, plane_z=0.0)
    lost = pipe.step(SegmenterFrame(depth_m=depth, camera=frame.camera, base_from_camera=frame.base_from_camera))
    assert not lost.ok and lost.reason.startswith("track lost")
    assert np.all(np.isnan(lost.centroid.position_m)) and not lost.segmented.mask.any()
    with pytest.raises(ValueError, match="unknown segmenter"):
        make_segmenter("magic")
