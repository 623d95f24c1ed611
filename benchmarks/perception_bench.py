"""Perception benchmarks: centroid accuracy (ground-truth masks + depth noise; far 0.65-0.9 m from
the third-view tripod, near 0.4-0.65 m from the tripod moved nearer and from the head camera), the classical
segmenter (IoU, single-core latency at 640x480), SAM2 tiny latency (random weights).

    python benchmarks/perception_bench.py {centroid,classical,sam2} --out benchmarks/results/perception_X.json

Latencies are wall-clock on whatever else the machine is doing; run on an idle machine for
numbers to quote. Single-core numbers set torch and BLAS to one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def machine_info() -> dict:
    try:
        from dexmani_training.bench import machine_info as mi

        info = mi()
    except ImportError:
        info = {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count()}
    try:
        info["load_average_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


#: Camera-object distance bands of the centroid target (0.4-0.9 m) and the cameras that reach them:
#: from the standard tripod no table position is nearer than ~0.65 m, so the near band uses the
#: tripod moved 0.25 m nearer (``third_view_near``) and, as a second check, the head camera
#: (which sees the table from 0.60-0.65 m, looking ~65-77 deg down).
CENTROID_SETTINGS = {
    "far_third_view": ("third_view", 0.65, 0.9),
    "near_third_view_near": ("third_view_near", 0.4, 0.65),
    "near_head": ("head", 0.4, 0.65),
}
LATENCY_KEYS = ("latency_ms_median", "latency_ms_p90", "segment_ms_median", "geometry_ms_median")


def bench_centroid(frames: int, seed: int, latency_from: Path | None = None, latency_note: str = "") -> dict:
    from dataclasses import replace

    from dexmani_perception.config import PerceptionConfig
    from dexmani_perception.evaluate import EvalOptions, run_eval

    old = json.loads(latency_from.read_text()) if latency_from is not None else None  # read first: fail before the runs
    out: dict = {}
    for name, (camera, lo, hi) in CENTROID_SETTINGS.items():
        out[name] = {}
        for objects in ("train", "novel"):
            out[name][objects] = run_eval(EvalOptions(objects=objects, frames=frames, segmenter="gt", seed=seed, camera=camera,
                                                      min_distance_m=lo, max_distance_m=hi))
            r = out[name][objects]
            print(f"{name} {objects}: median {r['centroid_error_mm_median']:.1f} mm, p90 {r['centroid_error_mm_p90']:.1f} mm, "
                  f"{r['distance_m_observed'][0]:.2f}-{r['distance_m_observed'][1]:.2f} m", file=sys.stderr)
    # Ablation on the same scenes: the sphere model alone (no support plane), as before the support
    # plane was added; it fails for tall objects seen from above (the head camera).
    cfg = PerceptionConfig()
    cfg.centroid = replace(cfg.centroid, support_plane=False)
    ablation = {
        name: {o: run_eval(EvalOptions(objects=o, frames=frames, segmenter="gt", seed=seed, camera=camera, min_distance_m=lo,
                                       max_distance_m=hi, config=cfg)) for o in ("train", "novel")}
        for name, (camera, lo, hi) in CENTROID_SETTINGS.items()
    }
    result = {
        "benchmark": "perception_centroid",
        "command": f"dexmani perception eval --segmenter gt --objects {{train,novel}} --frames {frames} --seed {seed} "
                   "--camera CAMERA --min-distance LO --max-distance HI, per setting below",
        "settings": {k: {"camera": c, "min_distance_m": lo, "max_distance_m": hi} for k, (c, lo, hi) in CENTROID_SETTINGS.items()},
        "target": "centroid error median <= 10 mm and p90 <= 20 mm on train and novel objects, 0.4-0.9 m, GT masks + depth noise",
        "met": all(r["centroid_error_mm_median"] <= 10 and r["centroid_error_mm_p90"] <= 20 for s in out.values() for r in s.values()),
        "results": out,
        "ablation_sphere_model_only": {
            name: {o: {k: r[k] for k in ("centroid_error_mm_median", "centroid_error_mm_p90", "per_object", "worst_frames")}
                   for o, r in by_objects.items()}
            for name, by_objects in ablation.items()
        },
    }
    if latency_from is not None:
        # Latency measured now would not be quotable (a shared machine): keep the earlier file's
        # numbers, labelled as such, and null the ones of this run.
        if "latency" in old:  # itself a re-run: carry its block over unchanged
            result["latency"] = old["latency"]
        else:
            old_results = old["results"].get("far_third_view", old["results"])  # this format, or the earlier one
            result["latency"] = {
                "measured_in_this_run": False,
                "values": {o: {k: old_results[o].get(k) for k in LATENCY_KEYS} for o in ("train", "novel")},
                "source": f"{latency_from.name} (third-view camera, GT masks, one thread; machine: {old.get('machine')})",
            }
            if latency_note:
                result["latency"]["note"] = latency_note
        for s in out.values():
            for r in s.values():
                for k in LATENCY_KEYS:
                    r[k] = None
    return result


def bench_classical(frames: int, seed: int, repeats: int) -> dict:
    """IoU over the eval's scenes, then the full pipeline (classical segmentation + segmented
    depth + centroid) timed on one core on a fixed set of rendered, noised 640x480 frames."""
    import mujoco
    import numpy as np
    from dexmani_perception.config import PerceptionConfig
    from dexmani_perception.evaluate import EvalOptions, run_eval
    from dexmani_perception.noise import DepthNoiseModel
    from dexmani_perception.pipeline import PerceptionPipeline
    from dexmani_perception.segmenters import Prompt, make_segmenter
    from gr1_sim.render import SceneRenderer
    from gr1_sim.scene import build_scene, scene_config

    from dexmani_perception import sim

    evals = {o: run_eval(EvalOptions(objects=o, frames=frames, segmenter="classical", seed=seed)) for o in ("train", "novel")}
    cfg = PerceptionConfig()
    rng = np.random.default_rng(seed)
    cases = []
    for name, xy in (("cube_5cm", (0.55, 0.1)), ("cylinder_r3_h10cm", (0.6, -0.15)), ("sphere_r3cm", (0.5, 0.0))):
        scene = build_scene(scene_config("tabletop", object=name, object_xy_m=xy))
        data = mujoco.MjData(scene.model)
        mujoco.mj_forward(scene.model, data)
        with SceneRenderer(scene) as r:
            f = sim.render_frame(r, data, "third_view")
        f.frame.depth_m = DepthNoiseModel(cfg.depth_noise).apply(f.clean_depth_m, f.frame.camera, rng)
        v, u = np.nonzero(f.gt_mask)
        cases.append((f.frame, Prompt.point(float(np.median(u)), float(np.median(v))), f.gt_mask))
    times = {"total_ms": [], "segment_ms": [], "geometry_ms": []}
    ious = []
    for frame, prompt, gt in cases:
        pipe = PerceptionPipeline(make_segmenter("classical", cfg), cfg.centroid, cfg.segmented_depth)
        pipe.reset(frame, prompt)
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = pipe.step(frame)
            times["total_ms"].append(1e3 * (time.perf_counter() - t0))
            times["segment_ms"].append(res.timing_ms["segment_ms"])
            times["geometry_ms"].append(res.timing_ms["geometry_ms"])
        ious.append(float((res.mask & gt).sum() / (res.mask | gt).sum()))
    timing = {f"{k}_median": statistics.median(v) for k, v in times.items()}
    timing["total_ms_p90"] = sorted(times["total_ms"])[int(0.9 * len(times["total_ms"]))]
    return {
        "benchmark": "perception_classical",
        "command": f"dexmani perception eval --segmenter classical --objects {{train,novel}} --frames {frames} --seed {seed}",
        "target": "classical segmenter on tabletop scenes: mask IoU median >= 0.8; full pipeline <= 10 ms per 640x480 frame on one core",
        "met": evals["train"]["mask_iou_median"] >= 0.8 and timing["total_ms_median"] <= 10,
        "eval": evals,
        "single_core_pipeline_640x480": {"frames": len(times["total_ms"]), "threads": 1, **timing, "iou_of_timed_frames": ious},
    }


def bench_sam2(frames: int, sizes: list[int], threads: list[int], device: str) -> dict:
    import numpy as np
    import torch
    from dexmani_perception.segmenters import Prompt, SegmenterFrame, TrackingConfig
    from dexmani_perception.segmenters.sam2_segmenter import (
        Sam2Segmenter,
        Sam2SegmenterConfig,
        build_sam2_model,
    )

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    rgb[200:280, 280:360] = (220, 40, 30)
    always_ok = TrackingConfig(min_score=0.0, min_area_px=0, max_area_ratio=1e9, reacquire=False)
    rows = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for size in sizes:
            cfg = Sam2SegmenterConfig(allow_random_weights=True, image_size_px=size, device=device)
            t0 = time.perf_counter()
            model = build_sam2_model(cfg)
            build_s = time.perf_counter() - t0
            for mode in ("memory", "reprompt"):
                seg = Sam2Segmenter(Sam2SegmenterConfig(allow_random_weights=True, image_size_px=size, device=device, tracking=mode),
                                    always_ok, model=model)
                seg.reset(SegmenterFrame(rgb=rgb), Prompt.point(320, 240))
                seg.update(SegmenterFrame(rgb=rgb))  # warm-up
                lat, enc, dec = [], [], []
                for _ in range(frames):
                    frame = SegmenterFrame(rgb=rgb.copy())
                    t0 = time.perf_counter()
                    seg.update(frame)
                    lat.append(1e3 * (time.perf_counter() - t0))
                    enc.append(seg.last_timing_ms["encode_ms"])
                    dec.append(seg.last_timing_ms["decode_ms"])
                med = statistics.median(lat)
                rows.append({
                    "device": str(seg.device), "threads": n_threads, "image_size_px": size, "tracking": mode,
                    "frames": frames, "latency_ms_median": med, "encode_ms_median": statistics.median(enc),
                    "decode_ms_median": statistics.median(dec), "max_rate_hz": 1000.0 / med,
                    "keeps_5hz": med <= 200.0, "build_s": build_s,
                })
                print(json.dumps(rows[-1]), file=sys.stderr)
    return {
        "benchmark": "perception_sam2",
        "model": "sam2.1_hiera_t (random weights: shapes and speed only)",
        "input": "640x480 RGB resized to image_size_px^2; latency = one tracked frame (encoder + memory attention / prompt decoder + mask upsampling)",
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "results": rows,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=("centroid", "classical", "sam2"))
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=30, help="classical: timed steps per frame")
    p.add_argument("--sizes", default="1024,512", help="sam2: input sizes")
    p.add_argument("--threads", default="1,2", help="sam2: torch thread counts")
    p.add_argument("--device", default="cpu", help="sam2: cpu | cuda")
    p.add_argument("--latency-from", type=Path, help="centroid: keep the latency numbers of this earlier results file (and "
                   "null this run's), for accuracy re-runs on a machine too busy for timings")
    p.add_argument("--latency-note", default="", help="centroid: a note stored with --latency-from's numbers")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.which == "centroid":
        result = bench_centroid(args.frames, args.seed, args.latency_from, args.latency_note)
    elif args.which == "classical":
        result = bench_classical(args.frames, args.seed, args.repeats)
    else:
        result = bench_sam2(args.frames, [int(s) for s in args.sizes.split(",")], [int(t) for t in args.threads.split(",")], args.device)
    result["machine"] = machine_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
