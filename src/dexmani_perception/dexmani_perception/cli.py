"""``dexmani perception ...``: the perception subcommands.

``add_perception_parser(subparsers)`` adds the ``perception`` group to the ``dexmani`` command;
``python -m dexmani_perception.cli perception eval ...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_perception_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``perception`` (with ``eval``) to an argparse subparsers object."""
    per = subparsers.add_parser("perception", help="object perception: evaluate segmenters, centroid and depth noise in simulation")
    psub = per.add_subparsers(dest="perception_command", metavar="{eval}")
    psub.required = True
    ev = psub.add_parser(
        "eval",
        help="run the full perception pipeline on simulated tabletop scenes and score it (JSON)",
        description="Render tabletop scenes with random objects and poses, add the depth noise model, run "
        "segmentation + segmented depth + centroid, and print one JSON object: centroid error (mm, vs the "
        "object's body position, base frame), mask IoU vs the rendered mask, latency per frame.",
    )
    ev.add_argument("--objects", default="train", help="object set: train (default), novel, another gr1_sim object group, or "
                    "one object's name (e.g. cylinder_r2_h12cm)")
    ev.add_argument("--frames", type=int, default=60, help="frames to evaluate; default 60")
    ev.add_argument("--episode-frames", type=int, default=5, help="frames per prompted episode (then tracked); default 5")
    ev.add_argument("--segmenter", choices=("gt", "classical", "sam2"), default="gt", help="default: gt (rendered mask)")
    ev.add_argument("--camera", default="third_view", help="camera to evaluate: third_view (default, the centroid camera), head, "
                    "or third_view_near (the tripod 0.25 m nearer: objects 0.4-0.65 m away)")
    ev.add_argument("--min-distance", type=float, default=0.4, help="min camera-object distance (m); default 0.4")
    ev.add_argument("--max-distance", type=float, default=0.9, help="max camera-object distance (m); default 0.9")
    ev.add_argument("--lift", type=float, default=0.0, metavar="M",
                    help="hold the object this far above the table (a grasped object; no hand is rendered); default 0")
    ev.add_argument("--no-depth-noise", action="store_true", help="use clean rendered depth")
    ev.add_argument("--mask-noise", action="store_true", help="noise the ground-truth mask (training-time noise)")
    ev.add_argument("--camera-jitter", action="store_true", help="render from a jittered camera, perceive with the nominal one")
    ev.add_argument("--prompt", choices=("point", "box"), default="point", help="first-frame prompt; default point")
    ev.add_argument("--config", type=Path, help="perception YAML (see config/perception_default.yaml)")
    ev.add_argument("--sam2-config", help="SAM2 config name (default from the YAML: sam2.1_hiera_t)")
    ev.add_argument("--sam2-checkpoint", help="SAM2 checkpoint .pt")
    ev.add_argument("--sam2-random-weights", action="store_true", help="SAM2 without a checkpoint (speed only; masks meaningless)")
    ev.add_argument("--sam2-image-size", type=int, help="SAM2 input size (default 1024)")
    ev.add_argument("--device", help="SAM2 device: auto, cpu, cuda")
    ev.add_argument("--threads", type=int, default=1, help="torch threads (latency is per-core by default); default 1")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--viz", type=Path, metavar="DIR", help="write overlay PNGs here (rendered RGB, predicted mask blue, true "
                    "outline and centre green, estimated centre blue; noised depth beside it)")
    ev.add_argument("--viz-max", type=int, default=24, help="at most this many PNGs; default 24")
    ev.add_argument("--force", action="store_true", help="overwrite existing PNGs / --out")
    ev.add_argument("--json", action="store_true", help="print only the JSON object (no per-object table)")
    ev.add_argument("--out", type=Path, help="also write the JSON here")
    ev.set_defaults(func=cmd_perception_eval)
    return per


def cmd_perception_eval(args) -> int:
    from dataclasses import replace

    from .config import PerceptionConfig
    from .evaluate import EvalOptions, run_eval

    cfg = PerceptionConfig.load(args.config) if args.config else PerceptionConfig()
    if args.sam2_config:
        cfg.sam2 = replace(cfg.sam2, config_name=args.sam2_config)
    if args.sam2_checkpoint:
        cfg.sam2 = replace(cfg.sam2, checkpoint_path=str(args.sam2_checkpoint))
    if args.sam2_random_weights:
        cfg.sam2 = replace(cfg.sam2, allow_random_weights=True)
    if args.sam2_image_size:
        cfg.sam2 = replace(cfg.sam2, image_size_px=args.sam2_image_size)
    if args.device:
        cfg.sam2 = replace(cfg.sam2, device=args.device)
    if args.out and args.out.exists() and not args.force:
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite")
    opts = EvalOptions(
        objects=args.objects, frames=args.frames, episode_frames=args.episode_frames, segmenter=args.segmenter,
        camera=args.camera, min_distance_m=args.min_distance, max_distance_m=args.max_distance, lift_m=args.lift,
        depth_noise=not args.no_depth_noise, mask_noise=args.mask_noise, camera_jitter=args.camera_jitter,
        prompt=args.prompt, seed=args.seed, threads=args.threads, viz_dir=args.viz, viz_max=args.viz_max,
        force=args.force, config=cfg,
    )
    result = run_eval(opts)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    if args.json:
        print(text)
        return 0
    summary = {k: v for k, v in result.items() if k != "per_object"}
    print(json.dumps(summary, indent=2))
    print(f"{'object':24s} {'frames':>6s} {'valid':>6s} {'err mm':>7s} {'IoU':>5s}", file=sys.stderr)
    for name, r in result["per_object"].items():
        err = r["centroid_error_mm_median"]
        print(f"{name:24s} {r['frames']:6d} {r['valid_fraction']:6.2f} {err if err is None else round(err, 1)!s:>7s} "
              f"{r['mask_iou_median']:5.2f}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dexmani", description="dexmani perception commands (standalone entry point)")
    sub = p.add_subparsers(dest="command", metavar="{perception}")
    sub.required = True
    add_perception_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError, RuntimeError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"dexmani: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
