"""The README figures: clean vs noised depth (third-view camera) and the segmented depth the policy
sees (head camera, 64x48).

    python benchmarks/perception_figure.py --out docs/perception
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mujoco
import numpy as np
from dexmani_perception.geometry import segment_depth
from dexmani_perception.noise import DepthNoiseModel
from dexmani_perception.viz import colorize_depth, write_png
from gr1_sim.render import SceneRenderer
from gr1_sim.scene import build_scene, scene_config

from dexmani_perception import sim


def _label(img: np.ndarray, bar_rgb=(255, 255, 255)) -> np.ndarray:
    out = img.copy()
    out[:3] = bar_rgb
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, default=Path("docs/perception"))
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)
    scene = build_scene(scene_config("tabletop", object="cylinder_r3_h10cm", object_xy_m=(0.5, 0.05)))
    data = mujoco.MjData(scene.model)
    mujoco.mj_forward(scene.model, data)
    rng = np.random.default_rng(args.seed)
    noise = DepthNoiseModel()
    with SceneRenderer(scene) as r:
        tv = sim.render_frame(r, data, "third_view")
        head = sim.render_frame(r, data, "head")
    noisy = noise.apply(tv.clean_depth_m, tv.frame.camera, rng)
    # A 320x240 window around the object, shown 2x (nearest) so single pixels are visible.
    v, u = np.nonzero(tv.gt_mask)
    cu, cv = int(np.median(u)), int(np.median(v))
    u0 = int(np.clip(cu - 160, 0, 640 - 320))
    v0 = int(np.clip(cv - 140, 0, 480 - 240))
    lo, hi = 0.55, 1.25
    panels = [colorize_depth(d[v0 : v0 + 240, u0 : u0 + 320], lo, hi) for d in (tv.clean_depth_m, noisy)]
    sep = np.full((240, 4, 3), 255, np.uint8)
    fig = np.concatenate([panels[0], sep, panels[1]], axis=1)
    fig = np.kron(fig, np.ones((2, 2, 1), np.uint8))
    write_png(args.out / "depth_clean_vs_noised.png", fig, force=True)
    # Head camera: noised depth and the 64x48 segmented depth (shown 5x).
    hn = noise.apply(head.clean_depth_m, head.frame.camera, rng)
    seg = segment_depth(hn, head.gt_mask)
    valid = seg.depth_m[seg.mask]
    big = np.kron(colorize_depth(seg.depth_m, float(valid.min()) - 0.02, float(valid.max()) + 0.02), np.ones((5, 5, 1), np.uint8))
    full = colorize_depth(hn, 0.4, 1.4)[::2, ::2]  # 320x240
    sep = np.full((240, 4, 3), 255, np.uint8)
    write_png(args.out / "head_noised_and_segmented.png", np.concatenate([full, sep, big], axis=1), force=True)
    for f in sorted(args.out.glob("*.png")):
        print(f, f.stat().st_size // 1024, "KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
