"""The ``dexmani`` command line.

Subcommands are grouped by what a researcher does: look at the simulator (``sim``) and measure
it (``bench``). Each subcommand's ``--help`` says what it reads and writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = """examples:
  dexmani sim list                                   scenes, objects and cameras
  dexmani sim render --scene tabletop --out renders  PNGs of both cameras
  dexmani bench sim --num-envs 64 --seconds 10 --json
  dexmani train --task grasp_and_reach --max-minutes 30
  dexmani eval --task grasp_and_reach --episodes 100 --json
  dexmani init record --task grasp_and_reach --teleop --out my_init.npz
"""


def _add_sim(sub) -> None:
    sim = sub.add_parser("sim", help="inspect the MuJoCo simulator: list scenes and objects, render cameras")
    ssub = sim.add_subparsers(dest="sim_command", metavar="{list,render}")
    ssub.required = True

    ls = ssub.add_parser("list", help="list scenes, objects (by group) and cameras")
    ls.add_argument("--json", action="store_true", help="print JSON instead of text")
    ls.set_defaults(func=cmd_sim_list)

    r = ssub.add_parser(
        "render",
        help="write RGB, colour-mapped depth and segmentation PNGs of the scene's cameras",
        description="Render a scene headless (EGL or OSMesa, chosen automatically) and write, per camera "
        "and resolution, <camera>_<res>_rgb.png, <camera>_<res>_depth.png (turbo colour map, "
        "near = blue; black = no depth) and <camera>_<res>_seg.png (one colour per geom; the object "
        "is outlined in the overlay), plus an index.json with the intrinsics.",
    )
    r.add_argument("--scene", default="tabletop", help="scene name (see `dexmani sim list`); default: tabletop")
    r.add_argument("--object", help="object to place in the scene instead of the scene's default")
    r.add_argument("--scene-config", type=Path, help="YAML file overriding scene settings (see config/sim_default.yaml)")
    r.add_argument("--physics", type=Path, help="physics YAML (per-joint kp, kd, armature, ...)")
    r.add_argument("--camera", action="append", help="camera to render (repeatable); default: all")
    r.add_argument("--resolution", choices=("full", "train", "both"), default="both", help="default: both")
    r.add_argument("--settle-s", type=float, default=0.5, help="simulate this long first so the object rests; default 0.5")
    r.add_argument("--out", type=Path, required=True, help="output folder (created)")
    r.add_argument("--force", action="store_true", help="overwrite existing PNGs in --out")
    r.set_defaults(func=cmd_sim_render)


def _add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="throughput benchmarks (JSON)")
    bsub = bench.add_subparsers(dest="bench_command", metavar="{sim}")
    bsub.required = True
    b = bsub.add_parser(
        "sim",
        help="batched simulator throughput vs bare MuJoCo, and rendering frames/s",
        description="Steps N environments through the full environment API for --seconds, then bare "
        "MuJoCo (mujoco.rollout) on the same models and threads for as long, and reports both, "
        "their ratio, and depth+segmentation / RGB frames per second of each camera.",
    )
    b.add_argument("--scene", default="tabletop")
    b.add_argument("--num-envs", type=int, default=64)
    b.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement; default 10")
    b.add_argument("--threads", type=int, help="worker threads; default: all cores")
    b.add_argument("--no-render", action="store_true", help="skip the rendering benchmark")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true", help="print only the JSON object")
    b.add_argument("--out", type=Path, help="also write the JSON to this file")
    b.set_defaults(func=cmd_bench_sim)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dexmani",
        description="Sim-to-real dexterous manipulation for the Fourier GR1: simulator, training and tools.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="{sim,bench,train,eval,ship,init,demos,autotune,perception}")
    sub.required = True
    _add_sim(sub)
    _add_bench(sub)
    from .cli_rl import add_demos_parser, add_eval_parser, add_init_parser, add_ship_parser, add_train_parser

    add_train_parser(sub)
    add_eval_parser(sub)
    add_ship_parser(sub)
    add_init_parser(sub)
    add_demos_parser(sub)
    from dexmani_perception.cli import add_perception_parser

    from .autotune.cli import add_autotune_parser

    add_autotune_parser(sub)
    add_perception_parser(sub)
    return p


# --- commands ---------------------------------------------------------------------------------
def cmd_sim_list(args) -> int:
    from gr1_sim.objects import OBJECT_GROUPS
    from gr1_sim.scene import SCENES

    info = {
        "scenes": {n: {"object": c.object, "cameras": list(c.cameras)} for n, c in SCENES.items()},
        "object_groups": {g: list(v) for g, v in OBJECT_GROUPS.items()},
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print("scenes:")
    for n, v in info["scenes"].items():
        print(f"  {n:10s} object={v['object']}  cameras={', '.join(v['cameras'])}")
    print("object groups:")
    for g, names in info["object_groups"].items():
        print(f"  {g:10s} {', '.join(names)}")
    return 0


def _scene_config(args):
    from dataclasses import replace

    from gr1_sim.objects import get_object
    from gr1_sim.scene import SceneConfig, scene_config

    import yaml

    cfg = scene_config(args.scene)
    if args.scene_config:
        if not args.scene_config.is_file():
            raise FileNotFoundError(f"scene config not found: {args.scene_config}")
        cfg = SceneConfig.from_dict(yaml.safe_load(args.scene_config.read_text()) or {}, base=cfg)
    if args.object:
        get_object(args.object)
        cfg = replace(cfg, object=args.object)
    return cfg


def cmd_sim_render(args) -> int:
    import mujoco
    from gr1_sim.render import SceneRenderer
    from gr1_sim.scene import build_scene

    from .images import colorize_depth, colorize_segmentation, overlay_mask, write_png

    cfg = _scene_config(args)
    scene = build_scene(cfg, args.physics)
    cameras = args.camera or list(cfg.cameras)
    unknown = [c for c in cameras if c not in cfg.cameras]
    if unknown:
        raise KeyError(f"unknown camera(s) {unknown}; valid cameras: {sorted(cfg.cameras)}")
    args.out.mkdir(parents=True, exist_ok=True)
    data = mujoco.MjData(scene.model)
    mujoco.mj_forward(scene.model, data)
    data.ctrl[scene.actuator_ids] = data.qpos[scene.qpos_adr]  # hold the initial pose
    mujoco.mj_step(scene.model, data, max(0, int(round(args.settle_s / cfg.timestep_s))))
    mujoco.mj_forward(scene.model, data)
    index = {"scene": cfg.name, "object": cfg.object, "images": {}}
    with SceneRenderer(scene) as renderer:
        for cam in cameras:
            c = cfg.cameras[cam]
            sizes = {"full": (c.width, c.height), "train": (c.train_width, c.train_height)}
            if args.resolution != "both":
                sizes = {args.resolution: sizes[args.resolution]}
            for res, (w, h) in sizes.items():
                f = renderer.render(data, cam, w, h)
                mask = renderer.object_mask(f.geom_ids)
                stem = f"{cam}_{res}"
                files = {
                    "rgb": f.rgb,
                    "depth": colorize_depth(f.depth_m),
                    "seg": colorize_segmentation(f.geom_ids),
                    "overlay": overlay_mask(f.rgb, mask),
                }
                for kind, img in files.items():
                    write_png(args.out / f"{stem}_{kind}.png", img, force=args.force)
                valid = f.depth_m[f.depth_m > 0]
                index["images"][stem] = {
                    "size": [w, h],
                    "intrinsics": {"fx": f.intrinsics.fx, "fy": f.intrinsics.fy, "cx": f.intrinsics.cx, "cy": f.intrinsics.cy},
                    "depth_m_range": [float(valid.min()), float(valid.max())] if valid.size else None,
                    "object_pixels": int(mask.sum()),
                }
                print(f"{stem}: {w}x{h}, object pixels {int(mask.sum())} -> {args.out}/{stem}_*.png")
    (args.out / "index.json").write_text(json.dumps(index, indent=2))
    return 0


def cmd_bench_sim(args) -> int:
    from .bench import bench_sim, print_json

    if args.num_envs < 1:
        raise ValueError(f"--num-envs must be >= 1, got {args.num_envs}")
    if not args.json:
        print(f"benchmarking {args.num_envs} envs for {args.seconds:.0f} s per measurement ...", file=sys.stderr)
    result = bench_sim(args.scene, args.num_envs, args.seconds, args.threads, not args.no_render, args.seed)
    print_json(result, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError, RuntimeError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"dexmani: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
