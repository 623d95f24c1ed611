"""``dexmani perception eval``: the full pipeline on simulated tabletop scenes, scored against the
renderer's ground truth.

Scenes: the tabletop scene with one object of the chosen group (``train`` or ``novel``) at a
random position and yaw on the table, kept where the evaluated camera (default the third-view
camera, which the paper uses for the centroid) sees it from ``min_distance_m``–``max_distance_m``.
From the standard tripod no table position is nearer than ~0.65 m; ``third_view_near`` (see
:data:`EVAL_CAMERAS`) is the same tripod moved nearer, for 0.4–0.65 m. ``lift_m`` holds the object
above the table instead (a grasped object, without the hand), to check that the centroid does not
treat a lifted object as resting on the table.
Frames come in short episodes: the first frame is prompted with a click at the object's middle
(the ground-truth mask pixel nearest its centroid, what an operator would click), later frames
move the object by up to 1 cm and 0.1 rad per frame and are tracked. Depth gets the noise model;
the mask noise and camera jitter are off unless asked for (they model training-time
randomization, not a perception error).

Metrics: centroid error against the object's body position (its centre), in the base frame;
mask IoU against the rendered object mask; latency of segmentation + geometry per frame.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import PerceptionConfig
from .noise import DepthNoiseModel, sample_camera_jitter
from .pipeline import PerceptionPipeline
from .segmenters import SEGMENTERS, make_segmenter
from .segmenters.base import Prompt

OBJECT_SETS = ("train", "novel")

#: Cameras the evaluation can add to the scene (parent body, position, look-at point, world frame).
#: ``third_view_near``: the tripod moved 0.25 m nearer and 0.18 m lower than ``third_view`` (the
#: same ~30 deg downward view of the table), so that objects can be placed 0.4-0.65 m from it: from
#: the standard tripod no table position is nearer than ~0.65 m.
EVAL_CAMERAS: dict[str, tuple[str, tuple[float, float, float], tuple[float, float, float]]] = {
    "third_view_near": ("world", (0.90, 0.0, 1.12), (0.40, 0.0, 0.84)),
}


@dataclass
class EvalOptions:
    objects: str = "train"
    frames: int = 60
    episode_frames: int = 5
    segmenter: str = "gt"
    camera: str = "third_view"
    min_distance_m: float = 0.4
    max_distance_m: float = 0.9
    lift_m: float = 0.0  # object held this far above the table (a grasped object), not resting on it
    depth_noise: bool = True
    mask_noise: bool = False
    camera_jitter: bool = False
    prompt: str = "point"  # point | box
    seed: int = 0
    threads: int = 1
    viz_dir: Path | None = None
    viz_max: int = 24
    force: bool = False
    config: PerceptionConfig = field(default_factory=PerceptionConfig)

    def validate(self) -> None:
        from gr1_sim.objects import object_group

        object_group(self.objects)  # train, novel, another group or one object's name; KeyError names the valid ones
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"--segmenter must be one of {SEGMENTERS}, got {self.segmenter!r}")
        if self.frames < 1 or self.episode_frames < 1:
            raise ValueError(f"--frames and --episode-frames must be >= 1, got {self.frames}, {self.episode_frames}")
        if not 0 <= self.lift_m <= 0.5:
            raise ValueError(f"--lift must be in [0, 0.5] m, got {self.lift_m}")
        if not 0 < self.min_distance_m < self.max_distance_m:
            raise ValueError(f"need 0 < min distance < max distance, got {self.min_distance_m}, {self.max_distance_m}")
        if self.prompt not in ("point", "box"):
            raise ValueError(f"--prompt must be point or box, got {self.prompt!r}")


def _set_threads(n: int) -> None:
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def _click(mask: np.ndarray) -> tuple[float, float]:
    """The mask pixel nearest the mask's centroid: an operator's click on the object's middle."""
    v, u = np.nonzero(mask)
    k = int(np.argmin((u - u.mean()) ** 2 + (v - v.mean()) ** 2))
    return float(u[k]), float(v[k])


def _prompt(mask: np.ndarray, kind: str) -> Prompt:
    if kind == "box":
        v, u = np.nonzero(mask)
        return Prompt.box(float(u.min()), float(v.min()), float(u.max() + 1), float(v.max() + 1))
    return Prompt.point(*_click(mask))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _percentile(values, q) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def _object_pose_sampler(scene_cfg, obj, cam_world, cam_model, opts: EvalOptions, rng: np.random.Generator):
    """Object poses on the table, ``min_distance_m``-``max_distance_m`` from the camera and fully
    in its view (a truncated object has no measurable centre)."""
    cam_pos_w = cam_world.translation_m
    size = obj.size_m
    if obj.shape == "prism":
        size = size[:2]
    elif obj.shape == "dumbbell":
        size = (size[1] + size[2],)
    radius = max(size) * max(obj.scale_range)
    tx, ty = scene_cfg.table_center_xy_m
    sx, sy = scene_cfg.table_size_m
    margin = 0.06
    z = scene_cfg.table_height_m + obj.half_height_m(scene_cfg.object_scale) + 0.0005 + opts.lift_m

    def ok(x, y) -> bool:
        if abs(x - tx) > sx / 2 - margin or abs(y - ty) > sy / 2 - margin:
            return False
        p = np.array([x, y, z])
        dist = np.linalg.norm(p - cam_pos_w)
        if not opts.min_distance_m <= dist <= opts.max_distance_m:
            return False
        pc = cam_world.inverse().apply(p)
        u, v = cam_model.project(pc)
        border = cam_model.fx * radius / pc[2] + 4
        return pc[2] > 0 and border <= u <= cam_model.width - border and border <= v <= cam_model.height - border

    def first():
        for _ in range(2000):
            x = rng.uniform(tx - sx / 2 + margin, tx + sx / 2 - margin)
            y = rng.uniform(ty - sy / 2 + margin, ty + sy / 2 - margin)
            if ok(x, y):
                return np.array([x, y, z]), rng.uniform(-math.pi, math.pi)
        raise ValueError(
            f"no table position is {opts.min_distance_m}-{opts.max_distance_m} m from camera {opts.camera}; widen the range"
        )

    def move(pos, yaw):
        for _ in range(50):
            x, y = pos[:2] + rng.uniform(-0.01, 0.01, size=2)
            if ok(x, y):
                return np.array([x, y, z]), yaw + rng.uniform(-0.1, 0.1)
        return pos, yaw

    return first, move


def _scene_config(object_name: str, camera: str):
    """The tabletop scene with ``object_name``, plus ``camera`` when it is one of :data:`EVAL_CAMERAS`."""
    from gr1_sim.cameras import CameraConfig
    from gr1_sim.scene import scene_config

    cfg = scene_config("tabletop", object=object_name)
    if camera in EVAL_CAMERAS and camera not in cfg.cameras:
        parent, pos, look_at = EVAL_CAMERAS[camera]
        cfg.cameras = {**cfg.cameras, camera: CameraConfig(camera, parent, pos, look_at)}
    return cfg


def run_eval(opts: EvalOptions, progress=None) -> dict[str, Any]:
    """Run the evaluation; returns the JSON-able summary (and per-object breakdown)."""
    import mujoco
    from gr1_sim.objects import object_group
    from gr1_sim.render import SceneRenderer, select_gl_backend
    from gr1_sim.scene import build_scene

    from . import sim
    from .viz import colorize_depth, draw_cross, outline, overlay, write_png

    opts.validate()
    cfg = opts.config
    cfg.validate()
    objects = object_group(opts.objects)
    n_episodes = math.ceil(opts.frames / opts.episode_frames)
    per_object_episodes = {o.name: 0 for o in objects}
    for e in range(n_episodes):
        per_object_episodes[objects[e % len(objects)].name] += 1
    rng = np.random.default_rng(opts.seed)
    noise = DepthNoiseModel(cfg.depth_noise if opts.depth_noise else replace(cfg.depth_noise, enabled=False))
    segmenter = make_segmenter(opts.segmenter, cfg, seed=opts.seed, mask_noise=opts.mask_noise)
    _set_threads(opts.threads)
    pipeline = PerceptionPipeline(segmenter, cfg.centroid, cfg.segmented_depth)
    need_rgb = opts.segmenter == "sam2" or opts.viz_dir is not None
    rows: list[dict[str, Any]] = []
    skipped = 0
    frames_done = 0
    viz_written = 0
    t_start = time.perf_counter()
    for obj in objects:
        n_ep = per_object_episodes[obj.name]
        if n_ep == 0:
            continue
        scene = build_scene(_scene_config(obj.name, opts.camera))
        if opts.camera not in scene.camera_ids:
            raise ValueError(f"unknown camera {opts.camera!r}; valid: {sorted(set(scene.camera_ids) | set(EVAL_CAMERAS))}")
        model = scene.model
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        cam_id = scene.camera_ids[opts.camera]
        cam_world = sim.world_from_camera(data, cam_id)
        first, move = _object_pose_sampler(scene.config, obj, cam_world, sim.camera_model(scene, opts.camera), opts, rng)
        qadr = scene.object_qpos_adr
        with SceneRenderer(scene) as renderer:
            for _ in range(n_ep):
                pos, yaw = first()
                nominal_pose = None
                jitter = sample_camera_jitter(cfg.camera_jitter, rng) if opts.camera_jitter else None
                prompted = False
                for k in range(opts.episode_frames):
                    if frames_done >= opts.frames:
                        break
                    if k:
                        pos, yaw = move(pos, yaw)
                    data.qpos[qadr : qadr + 3] = pos
                    data.qpos[qadr + 3 : qadr + 7] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
                    mujoco.mj_forward(model, data)
                    nominal_pose = sim.base_from_camera(scene, data, opts.camera)
                    if jitter is not None:
                        with sim.jittered_camera(model, cam_id, jitter):
                            mujoco.mj_forward(model, data)
                            sf = sim.render_frame(renderer, data, opts.camera, rgb=need_rgb, camera_pose=nominal_pose)
                        mujoco.mj_forward(model, data)
                    else:
                        sf = sim.render_frame(renderer, data, opts.camera, rgb=need_rgb)
                    gt = sf.gt_mask
                    if gt.sum() < 50 or gt[0].any() or gt[-1].any() or gt[:, 0].any() or gt[:, -1].any():
                        skipped += 1  # hidden or cut by the image border
                        continue
                    frame = sf.frame
                    frame.depth_m = noise.apply(sf.clean_depth_m, frame.camera, rng)
                    if not prompted:  # the episode's first visible frame
                        result = pipeline.reset(frame, _prompt(gt, opts.prompt))
                        prompted = True
                    else:
                        result = pipeline.step(frame)
                    frames_done += 1
                    err_mm = float(np.linalg.norm(result.centroid.position_m - sf.object_position_m) * 1000) if result.ok else None
                    dist = float(np.linalg.norm(nominal_pose.inverse().apply(sf.object_position_m)))
                    rows.append({
                        "object": obj.name, "frame_in_episode": k, "image_size": [gt.shape[1], gt.shape[0]], "distance_m": dist,
                        "valid": result.ok, "reason": result.reason, "centroid_error_mm": err_mm, "iou": _iou(result.mask, gt),
                        "latency_ms": result.timing_ms["total_ms"], "segment_ms": result.timing_ms["segment_ms"],
                        "geometry_ms": result.timing_ms["geometry_ms"], "confidence": result.centroid.confidence,
                    })
                    if opts.viz_dir is not None and viz_written < opts.viz_max:
                        cam = frame.camera
                        img = overlay(frame.rgb, result.mask, color=(30, 144, 255))
                        img[outline(gt)] = (40, 255, 40)
                        draw_cross(img, cam.project(nominal_pose.inverse().apply(sf.object_position_m)), (40, 255, 40))
                        if result.ok:
                            draw_cross(img, cam.project(result.centroid.position_camera_m), (30, 144, 255))
                        valid = sf.clean_depth_m[gt]
                        lo, hi = float(valid.min()) - 0.3, float(valid.max()) + 0.3
                        panel = np.concatenate([img, colorize_depth(frame.depth_m, lo, hi)], axis=1)
                        write_png(Path(opts.viz_dir) / f"{len(rows) - 1:04d}_{obj.name}.png", panel, force=opts.force)
                        viz_written += 1
                    if progress:
                        progress(frames_done, opts.frames)
                if frames_done >= opts.frames:
                    break
    return summarize(rows, opts, skipped, time.perf_counter() - t_start, select_gl_backend())


def summarize(rows: list[dict[str, Any]], opts: EvalOptions, skipped: int, wall_s: float, gl_backend: str) -> dict[str, Any]:
    errs = [r["centroid_error_mm"] for r in rows if r["centroid_error_mm"] is not None]
    ious = [r["iou"] for r in rows]
    lat = [r["latency_ms"] for r in rows]
    per_object = {}
    for name in dict.fromkeys(r["object"] for r in rows):
        rs = [r for r in rows if r["object"] == name]
        e = [r["centroid_error_mm"] for r in rs if r["centroid_error_mm"] is not None]
        per_object[name] = {
            "frames": len(rs), "valid_fraction": sum(r["valid"] for r in rs) / len(rs),
            "centroid_error_mm_median": _percentile(e, 50), "mask_iou_median": _percentile([r["iou"] for r in rs], 50),
        }
    reasons: dict[str, int] = {}
    for r in rows:
        if not r["valid"]:
            key = r["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    sam2_cfg = opts.config.sam2
    return {
        "segmenter": opts.segmenter,
        "objects": opts.objects,
        "camera": opts.camera,
        "frames": len(rows),
        "frames_skipped_not_fully_visible": skipped,
        "episode_frames": opts.episode_frames,
        "distance_m_range": [opts.min_distance_m, opts.max_distance_m],
        "lift_m": opts.lift_m,
        "distance_m_observed": [min((r["distance_m"] for r in rows), default=None), max((r["distance_m"] for r in rows), default=None)],
        "depth_noise": opts.depth_noise,
        "mask_noise": opts.mask_noise,
        "camera_jitter": opts.camera_jitter,
        "prompt": opts.prompt,
        "seed": opts.seed,
        "threads": opts.threads,
        "valid_fraction": sum(r["valid"] for r in rows) / max(len(rows), 1),
        "invalid_reasons": reasons,
        "centroid_error_mm_median": _percentile(errs, 50),
        "centroid_error_mm_p90": _percentile(errs, 90),
        "centroid_error_mm_mean": float(np.mean(errs)) if errs else None,
        "mask_iou_median": _percentile(ious, 50),
        "mask_iou_mean": float(np.mean(ious)) if ious else None,
        "latency_ms_median": _percentile(lat, 50),
        "latency_ms_p90": _percentile(lat, 90),
        "segment_ms_median": _percentile([r["segment_ms"] for r in rows], 50),
        "geometry_ms_median": _percentile([r["geometry_ms"] for r in rows], 50),
        "image_size": rows[0]["image_size"] if rows else None,
        "sam2": {"config": sam2_cfg.config_name, "image_size_px": sam2_cfg.image_size_px, "tracking": sam2_cfg.tracking,
                 "random_weights": not sam2_cfg.checkpoint_path} if opts.segmenter == "sam2" else None,
        "per_object": per_object,
        "worst_frames": [
            {"frame": i, "object": r["object"], "distance_m": round(r["distance_m"], 3), "centroid_error_mm": round(r["centroid_error_mm"], 1),
             "iou": round(r["iou"], 3)}
            for i, r in sorted(((i, r) for i, r in enumerate(rows) if r["centroid_error_mm"] is not None),
                               key=lambda ir: -ir[1]["centroid_error_mm"])[:5]
        ],
        "wall_s": wall_s,
        "gl_backend": gl_backend,
    }
