"""Small image helpers for overlays and the README figures (numpy + zlib PNG, no extra packages)."""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

# A few stops of a perceptual blue → red map (near = blue); black stays "no depth".
_STOPS = np.array([[48, 18, 59], [70, 134, 251], [27, 229, 181], [164, 252, 60], [251, 185, 56], [228, 70, 10], [122, 4, 3]], float)


def colorize_depth(depth_m: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """(H, W, 3) uint8; invalid (0) pixels black."""
    d = np.asarray(depth_m, dtype=np.float64)
    t = np.clip((d - near_m) / max(far_m - near_m, 1e-6), 0, 1) * (len(_STOPS) - 1)
    i = np.minimum(t.astype(int), len(_STOPS) - 2)
    f = (t - i)[..., None]
    rgb = (_STOPS[i] * (1 - f) + _STOPS[i + 1] * f).astype(np.uint8)
    rgb[~(d > 0)] = 0
    return rgb


def outline(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask, bool)
    inner = m.copy()
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def overlay(rgb: np.ndarray, mask: np.ndarray, color=(255, 40, 40), alpha: float = 0.45) -> np.ndarray:
    out = rgb.astype(np.float32).copy()
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(color, np.float32)
    return out.astype(np.uint8)


def draw_cross(img: np.ndarray, uv, color, size: int = 6) -> None:
    if uv is None or not np.all(np.isfinite(uv)):
        return
    u, v = round(float(uv[0])), round(float(uv[1]))
    h, w = img.shape[:2]
    for k in range(-size, size + 1):
        for du, dv in ((k, 0), (0, k)):
            x, y = u + du, v + dv
            if 0 <= x < w and 0 <= y < h:
                img[y, x] = color


def encode_png(image: np.ndarray) -> bytes:
    img = np.ascontiguousarray(image, dtype=np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    h, w, c = img.shape
    color_type = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write_png(path: str | Path, image: np.ndarray, force: bool = False) -> None:
    """Write atomically; an existing file is kept unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encode_png(image))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
