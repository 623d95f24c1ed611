"""The SAM2 segmenter end to end with random weights on a small image (shapes, memory, errors).

Needs the optional ``sam2`` package (see src/dexmani_perception/README.md for the install
command); without it these tests skip and say so.
"""

import sys

import numpy as np
import pytest
from dexmani_perception.segmenters import Prompt, SegmenterFrame, TrackingConfig
from dexmani_perception.segmenters.sam2_segmenter import (
    Sam2CheckpointError,
    Sam2SegmenterConfig,
    build_sam2_model,
    sam2_available,
)

pytestmark = pytest.mark.skipif(
    not sam2_available(),
    reason="sam2 is not installed: SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0 torch==2.13.0 torchvision==0.28.0",
)

SMALL = {"allow_random_weights": True, "image_size_px": 128, "device": "cpu"}
#: Accept every mask, so that random weights still exercise the memory (tracking) path.
ALWAYS_OK = TrackingConfig(min_score=0.0, min_area_px=0, max_area_ratio=1e9, reacquire=False)


@pytest.fixture(scope="module")
def model():
    import torch

    torch.set_num_threads(1)  # the test machine is shared; one thread is fastest there
    torch.manual_seed(0)
    return build_sam2_model(Sam2SegmenterConfig(**SMALL))


def frame(shift=0):
    rgb = np.full((96, 128, 3), 90, np.uint8)
    rgb[30:60, 40 + shift : 80 + shift] = (200, 40, 30)
    return SegmenterFrame(rgb=rgb)


def test_sam2_runs_end_to_end_and_keeps_its_memory_bounded(model):
    from dexmani_perception.segmenters.sam2_segmenter import Sam2Segmenter

    seg = Sam2Segmenter(Sam2SegmenterConfig(**SMALL), ALWAYS_OK, model=model)
    mask, score = seg.reset(frame(), Prompt.point(60, 45))
    assert mask.shape == (96, 128) and mask.dtype == bool and 0.0 <= score <= 1.0
    assert len(seg._memory["cond_frame_outputs"]) == 1
    assert seg._keep_frames == 16  # what SAM2 attends to: 16 object pointers, 7 memories
    seg._keep_frames = 3  # prune sooner, so a few frames show the bound
    for k in range(5):
        mask, score = seg.update(frame(shift=k % 3))
        assert mask.shape == (96, 128) and 0.0 <= score <= 1.0
        assert seg.status.ok
    assert len(seg._memory["non_cond_frame_outputs"]) == seg._keep_frames
    assert set(seg.last_timing_ms) == {"encode_ms", "decode_ms"}
    # Prompting again starts a fresh memory; a box prompt works as well as points.
    seg.reset(frame(), Prompt.box(40, 30, 80, 60))
    assert len(seg._memory["non_cond_frame_outputs"]) == 0
    # torchvision must never be imported (its PyPI build does not load next to a CPU-only torch).
    assert sys.modules.get("torchvision") is None


def test_sam2_reprompt_tracking_mode(model):
    from dexmani_perception.segmenters.sam2_segmenter import Sam2Segmenter

    seg = Sam2Segmenter(Sam2SegmenterConfig(**SMALL, tracking="reprompt"), ALWAYS_OK, model=model)
    seg.reset(frame(), Prompt.point(60, 45))
    mask, score = seg.update(frame(1))
    assert mask.shape == (96, 128) and 0.0 <= score <= 1.0
    assert seg._memory == {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}  # no memory in this mode


def test_sam2_lost_track_is_reported_with_a_reason(model):
    from dexmani_perception.segmenters.sam2_segmenter import Sam2Segmenter

    strict = TrackingConfig(min_score=1.0, reacquire=True)  # no score reaches 1: always lost
    seg = Sam2Segmenter(Sam2SegmenterConfig(**SMALL), strict, model=model)
    seg.reset(frame(), Prompt.point(60, 45))
    seg.update(frame())
    assert not seg.status.ok and "re-acquisition failed" in seg.status.reason


def test_checkpoint_errors_are_clear_and_early(tmp_path, model):
    import torch

    missing = tmp_path / "sam2.1_hiera_tiny.pt"
    with pytest.raises(Sam2CheckpointError, match="not found.*sam2.1_hiera_tiny.pt"):
        build_sam2_model(Sam2SegmenterConfig(checkpoint_path=str(missing)))
    with pytest.raises(Sam2CheckpointError, match="checkpoint_path is empty"):
        build_sam2_model(Sam2SegmenterConfig())
    wrong = tmp_path / "wrong.pt"
    torch.save({"model": {"image_encoder.trunk.pos_embed": torch.zeros(1, 8, 7, 7)}}, wrong)
    with pytest.raises(Sam2CheckpointError, match="does not match config 'sam2.1_hiera_t'.*missing.*with other shapes"):
        build_sam2_model(Sam2SegmenterConfig(checkpoint_path=str(wrong), image_size_px=128, device="cpu"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(Sam2CheckpointError, match="cannot read"):
        build_sam2_model(Sam2SegmenterConfig(checkpoint_path=str(junk), image_size_px=128, device="cpu"))
    with pytest.raises(ValueError, match="unknown SAM2 config"):
        build_sam2_model(Sam2SegmenterConfig(config_name="sam3_huge", **SMALL))


def test_a_matching_checkpoint_loads(tmp_path, model):
    import torch

    ckpt = tmp_path / "tiny.pt"
    torch.save({"model": {k: v.half() for k, v in model.state_dict().items()}}, ckpt)
    loaded = build_sam2_model(Sam2SegmenterConfig(checkpoint_path=str(ckpt), image_size_px=128, device="cpu"))
    a = model.state_dict()["sam_mask_decoder.iou_prediction_head.layers.0.weight"]
    b = loaded.state_dict()["sam_mask_decoder.iou_prediction_head.layers.0.weight"]
    assert torch.allclose(a, b, atol=1e-2) and not torch.equal(b, torch.zeros_like(b))
