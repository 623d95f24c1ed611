"""Turning rendered arrays into images a person can look at."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def colorize_depth(depth_m: np.ndarray, near_m: float | None = None, far_m: float | None = None) -> np.ndarray:
    """Turbo colour map of valid depth (near = blue, far = red); invalid (0) pixels black."""
    from matplotlib import colormaps

    valid = depth_m > 0
    out = np.zeros(depth_m.shape + (3,), dtype=np.uint8)
    if not valid.any():
        return out
    lo = float(depth_m[valid].min()) if near_m is None else near_m
    hi = float(depth_m[valid].max()) if far_m is None else far_m
    t = np.clip((depth_m - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = (colormaps["turbo"](t)[..., :3] * 255).astype(np.uint8)
    out[valid] = rgb[valid]
    return out


def colorize_segmentation(ids: np.ndarray) -> np.ndarray:
    """A stable colour per id (golden-ratio hue steps); −1 (nothing) black."""
    import colorsys

    n = int(ids.max()) + 1 if ids.size and ids.max() >= 0 else 0
    palette = np.zeros((n + 1, 3), dtype=np.uint8)
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.65, 0.95)
        palette[i + 1] = (int(r * 255), int(g * 255), int(b * 255))
    return palette[ids + 1]


def overlay_mask(rgb: np.ndarray, mask: np.ndarray, color=(0, 255, 0), alpha: float = 0.45) -> np.ndarray:
    out = rgb.astype(np.float32).copy()
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(color, np.float32)
    return out.astype(np.uint8)


def write_png(path: Path, image: np.ndarray, force: bool = False) -> None:
    """Write a PNG atomically; refuse to replace an existing file unless ``force``."""
    import imageio.v3 as iio

    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        iio.imwrite(tmp, image, extension=".png")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
