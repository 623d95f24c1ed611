"""SAM2 as a streaming segmenter: prompt on the first frame, then track from SAM2's memory.

The model is the ``sam2`` package's (``pip install sam2==1.1.0``, see the README for the
install command that keeps the CPU torch), built from its Hydra config. We do not use
``sam2.build_sam``'s video predictor, which expects a whole video up front, nor the image
predictor, whose preprocessing imports torchvision (whose PyPI build does not load next to a
CPU-only torch). Instead this module composes the config, preprocesses frames itself (resize
to ``image_size_px`` square, ImageNet normalisation, as SAM2's own transforms do) and drives
``SAM2Base`` one frame at a time:

* ``tracking="memory"`` (default): SAM2's video mode. The prompted frame is a conditioning
  frame; each later frame attends to it and to the last ``num_maskmem`` frames' memories and
  object pointers. Memories older than SAM2 can attend to are dropped, so memory stays bounded.
* ``tracking="reprompt"``: image mode. Each frame is segmented from a box prompt made from the
  last mask (no memory). Cheaper per frame, but a wrong mask re-prompts itself.

Lost track: SAM2's object-score head says the object is absent (logit < 0), or the score
(sigmoid(object score) x predicted IoU) or the mask area fails the shared :class:`TrackMonitor`
checks. Re-acquisition prompts SAM2 again with the last good mask's box as a new conditioning
frame.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Prompt, Segmenter, SegmenterFrame, TrackingConfig

#: Where the official checkpoints are published (see the README).
CHECKPOINT_HELP = (
    "official SAM 2.1 checkpoints: https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt "
    "(also _small, _base_plus, _large), or the Hugging Face repos facebook/sam2.1-hiera-tiny etc.; "
    "the config must match the checkpoint (sam2.1_hiera_t <-> sam2.1_hiera_tiny.pt)"
)
CONFIG_ALIASES = {
    "sam2.1_hiera_t": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_s": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_b+": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_l": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_t": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_s": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_b+": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_l": "configs/sam2/sam2_hiera_l.yaml",
}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class Sam2Unavailable(RuntimeError):
    """The optional ``sam2`` package (or hydra) is not installed."""


class Sam2CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the chosen config."""


@dataclass
class Sam2SegmenterConfig:
    config_name: str = "sam2.1_hiera_t"  # an alias above or a config path inside the sam2 package
    checkpoint_path: str = ""  # required unless allow_random_weights
    allow_random_weights: bool = False  # tests and speed benchmarks only: masks are meaningless
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    image_size_px: int = 1024  # SAM2's input size (trained at 1024); a multiple of 32 (e.g. 512) is faster
    tracking: str = "memory"  # memory | reprompt
    mask_threshold: float = 0.0  # on mask logits
    cpu_threads: int = 0  # 0: torch's default
    bfloat16_on_cuda: bool = True

    def validate(self) -> None:
        if self.tracking not in ("memory", "reprompt"):
            raise ValueError(f"sam2.tracking must be 'memory' or 'reprompt', got {self.tracking!r}")
        if self.image_size_px < 64 or self.image_size_px % 32:
            raise ValueError(f"sam2.image_size_px must be a multiple of 32 and >= 64, got {self.image_size_px}")
        if not self.checkpoint_path and not self.allow_random_weights:
            raise Sam2CheckpointError(
                "sam2.checkpoint_path is empty; give a SAM2 checkpoint (" + CHECKPOINT_HELP + ") or set "
                "allow_random_weights for tests and speed benchmarks"
            )


def _import_sam2():
    """Import only the parts of sam2 that do not import torchvision."""
    if "torchvision" not in sys.modules:
        # sam2's image predictor and transforms import torchvision; we never want them. Make
        # an accidental import fail loudly here instead of crashing on a CPU-only torch later.
        sys.modules.setdefault("torchvision", None)  # type: ignore[arg-type]
    try:
        import sam2  # noqa: F401  (initialises sam2's Hydra config module)
        import torch
        from hydra import compose
        from hydra.utils import instantiate
        from omegaconf import OmegaConf
    except ImportError as e:  # pragma: no cover - exercised where sam2 is missing
        raise Sam2Unavailable(
            f"the SAM2 segmenter needs the sam2 package ({e}); install it with "
            "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0 torch==2.13.0 torchvision==0.28.0 "
            "(keeps the installed torch; see src/dexmani_perception/README.md)"
        ) from e
    finally:
        if sys.modules.get("torchvision", 0) is None:
            del sys.modules["torchvision"]
    return torch, compose, instantiate, OmegaConf


def resolve_config_name(name: str) -> str:
    if name in CONFIG_ALIASES:
        return CONFIG_ALIASES[name]
    if name.endswith(".yaml"):
        return name
    raise ValueError(f"unknown SAM2 config {name!r}; use one of {sorted(CONFIG_ALIASES)} or a configs/... .yaml path")


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"sam2.device={device!r} but torch sees no CUDA device (torch {torch.__version__})")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"sam2.device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def build_sam2_model(cfg: Sam2SegmenterConfig):
    """The SAM2Base model of ``cfg.config_name`` with the checkpoint loaded (or random weights).

    Errors: a missing checkpoint file, a file that is no SAM2 checkpoint, or one whose weights
    do not fit the config (the usual mistake: a tiny checkpoint with a large config) each raise
    :class:`Sam2CheckpointError` naming the file and the mismatch.
    """
    cfg.validate()
    ckpt = Path(cfg.checkpoint_path).expanduser() if cfg.checkpoint_path else None
    if ckpt is not None and not ckpt.is_file():
        raise Sam2CheckpointError(f"SAM2 checkpoint not found: {ckpt}; " + CHECKPOINT_HELP)
    torch, compose, instantiate, OmegaConf = _import_sam2()
    config_path = resolve_config_name(cfg.config_name)
    overrides = [
        f"++model.image_size={cfg.image_size_px}",
        # The video predictor's settings (sam2.build_sam.build_sam2_video_predictor).
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
        "++model.binarize_mask_from_pts_for_mem_enc=true",
    ]
    try:
        hcfg = compose(config_name=config_path, overrides=overrides)
    except Exception as e:
        raise ValueError(f"cannot load SAM2 config {config_path!r}: {e}") from e
    OmegaConf.resolve(hcfg)
    model = instantiate(hcfg.model, _recursive_=True)
    if ckpt is not None:
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as e:
            raise Sam2CheckpointError(f"cannot read SAM2 checkpoint {ckpt}: {e}") from e
        if isinstance(state, dict) and "model" in state:
            state = state["model"]
        if not isinstance(state, dict):
            raise Sam2CheckpointError(f"{ckpt} holds no state dict (expected {{'model': state_dict}})")
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        bad_shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
        if missing or unexpected or bad_shape:
            detail = []
            if missing:
                detail.append(f"{len(missing)} missing (e.g. {missing[:3]})")
            if unexpected:
                detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
            if bad_shape:
                k = bad_shape[0]
                detail.append(f"{len(bad_shape)} with other shapes (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
            raise Sam2CheckpointError(
                f"SAM2 checkpoint {ckpt} does not match config {cfg.config_name!r}: " + "; ".join(detail) + ". " + CHECKPOINT_HELP
            )
        model.load_state_dict(state)
    device = resolve_device(cfg.device)
    if cfg.cpu_threads > 0:
        torch.set_num_threads(cfg.cpu_threads)
    return model.to(device).eval()


class Sam2Segmenter(Segmenter):
    """SAM2 (``sam2`` 1.1.0) as a streaming, promptable tracker."""

    name = "sam2"

    def __init__(self, cfg: Sam2SegmenterConfig | None = None, tracking: TrackingConfig | None = None, model=None):
        super().__init__(tracking)
        self.cfg = cfg or Sam2SegmenterConfig()
        self.cfg.validate()
        self.model = model if model is not None else build_sam2_model(self.cfg)
        import torch

        self.torch = torch
        self.device = next(self.model.parameters()).device
        self.size = int(self.model.image_size)
        self._mean = torch.tensor(_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(_STD, device=self.device).view(1, 3, 1, 1)
        self._memory: dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        self._frame_idx = 0
        self._keep_frames = max(int(self.model.num_maskmem), int(getattr(self.model, "max_obj_ptrs_in_encoder", 16)))
        self.last_timing_ms: dict[str, float] = {}
        self._cached: tuple[object, tuple] | None = None  # (rgb array, encoder output) of the last frame

    # --- model plumbing ----------------------------------------------------------------------
    def _autocast(self):
        import contextlib

        if self.device.type == "cuda" and self.cfg.bfloat16_on_cuda:
            return self.torch.autocast("cuda", dtype=self.torch.bfloat16)
        return contextlib.nullcontext()

    def _encode(self, rgb: np.ndarray):
        torch = self.torch
        if rgb is None or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"the SAM2 segmenter needs frame.rgb as (H, W, 3) uint8, got {None if rgb is None else rgb.shape}")
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self._mean) / self._std
        out = self.model.forward_image(x)
        _, feats, pos, sizes = self.model._prepare_backbone_features(out)
        return feats, pos, sizes

    def _points(self, prompt: Prompt, h: int, w: int):
        """SAM2 point inputs: box corners (labels 2, 3) first, then the points, in model pixels."""
        torch = self.torch
        coords, labels = [], []
        if prompt.box_px is not None:
            x0, y0, x1, y1 = prompt.box_px
            coords += [[x0, y0], [x1, y1]]
            labels += [2, 3]
        for (x, y), lab in zip(prompt.points_px, prompt.labels):
            coords.append([x, y])
            labels.append(int(lab))
        c = torch.tensor(coords, dtype=torch.float32, device=self.device)[None]
        c = c / torch.tensor([w, h], dtype=torch.float32, device=self.device) * self.size
        return {"point_coords": c, "point_labels": torch.tensor([labels], dtype=torch.int32, device=self.device)}

    def _step(self, feats, pos, sizes, point_inputs, is_cond: bool, memory: bool, hw: tuple[int, int]) -> tuple[np.ndarray, float, dict]:
        torch = self.torch
        m = self.model
        out_dict = self._memory if memory else {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        idx = self._frame_idx
        current, sam_outputs, _, _ = m._track_step(idx, is_cond, feats, pos, sizes, point_inputs, None, out_dict, 1 << 30, False, None)
        _, _, ious, low_res, high_res, obj_ptr, obj_score = sam_outputs
        current["pred_masks"] = low_res
        current["pred_masks_high_res"] = high_res
        current["obj_ptr"] = obj_ptr
        current["object_score_logits"] = obj_score
        if memory:
            m._encode_memory_in_output(feats, sizes, point_inputs, True, high_res, obj_score, current)
            current["pred_masks_high_res"] = None  # not needed later; frees memory
        logits = torch.nn.functional.interpolate(low_res.float(), size=hw, mode="bilinear", align_corners=False)[0, 0]
        mask = (logits > self.cfg.mask_threshold).cpu().numpy()
        best_iou = float(ious.float().max()) if ious.numel() else 0.0
        score = float(torch.sigmoid(obj_score.float()).item()) * float(np.clip(best_iou, 0.0, 1.0))
        if float(obj_score.item()) <= 0:
            mask[:] = False
        return mask, score, current

    def _remember(self, current: dict, is_cond: bool) -> None:
        key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
        self._memory[key][self._frame_idx] = current
        old = [t for t in self._memory["non_cond_frame_outputs"] if t <= self._frame_idx - self._keep_frames]
        for t in old:
            del self._memory["non_cond_frame_outputs"][t]
        conds = sorted(self._memory["cond_frame_outputs"])
        for t in conds[:-2]:  # the original prompt's frame and the latest re-acquisition
            if t != conds[0]:
                del self._memory["cond_frame_outputs"][t]

    def _run(self, frame: SegmenterFrame, prompt: Prompt | None) -> tuple[np.ndarray, float]:
        torch = self.torch
        h, w = frame.rgb.shape[:2] if frame.rgb is not None else frame.shape
        t0 = time.perf_counter()
        with torch.inference_mode(), self._autocast():
            if self._cached is not None and self._cached[0] is frame.rgb:
                feats, pos, sizes = self._cached[1]  # re-acquisition on the frame just encoded
            else:
                feats, pos, sizes = self._encode(frame.rgb)
                self._cached = (frame.rgb, (feats, pos, sizes))
            if self.device.type == "cuda":  # CUDA runs asynchronously: the split needs the encoder finished
                torch.cuda.synchronize()
            t1 = time.perf_counter()
            if self.cfg.tracking == "reprompt" or prompt is not None:
                p = prompt if prompt is not None else self.reacquire_prompt()
                is_cond = True
                mask, score, current = self._step(feats, pos, sizes, self._points(p, h, w), True, self.cfg.tracking == "memory", (h, w))
            else:
                is_cond = False
                mask, score, current = self._step(feats, pos, sizes, None, False, True, (h, w))
            if self.cfg.tracking == "memory":
                self._remember(current, is_cond)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        self.last_timing_ms = {"encode_ms": 1e3 * (t1 - t0), "decode_ms": 1e3 * (t2 - t1)}
        self._frame_idx += 1
        return mask, score

    # --- Segmenter ---------------------------------------------------------------------------
    def _prompt(self, frame: SegmenterFrame, prompt: Prompt) -> tuple[np.ndarray, float]:
        self._memory = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        self._frame_idx = 0
        self._cached = None
        return self._run(frame, prompt)

    def _track(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        return self._run(frame, None)

    def _reacquire(self, frame: SegmenterFrame) -> tuple[np.ndarray, float]:
        """Prompt again on this frame (its image features are cached) with the last good box;
        the failed output is replaced by the new conditioning frame."""
        self._frame_idx -= 1
        self._memory["non_cond_frame_outputs"].pop(self._frame_idx, None)
        return self._run(frame, self.reacquire_prompt())


def sam2_available() -> bool:
    """True when ``sam2`` (and hydra) import; used by tests and the CLI to explain a skip."""
    try:
        _import_sam2()
        return True
    except Sam2Unavailable:
        return False

