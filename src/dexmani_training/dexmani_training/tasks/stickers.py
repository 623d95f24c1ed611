"""Contact stickers: points on an object's surface that the fingertips are rewarded to reach.

Stickers are generated procedurally from the object's geometry, in the object's own frame
(x away from the robot at zero yaw, y to the robot's left, z up). A *pattern* says where on the
object they go; the paper shows that each pattern produces a visibly different grasp:

- ``side_centres``: centres of the left and right (±y) faces — a pinch/power grasp from the sides;
- ``all_side_centres``: centres of all four vertical faces — any side grasp (used when the
  object's yaw is free);
- ``top_bottom_centres``: centres of the top and bottom (±z) faces — a grasp over the top;
- ``bottom_edges``: points along the bottom edges of the ±y faces — hands under a box;
- ``left_side`` / ``right_side``: the +y or −y face only (one hand's set in box lift);
- ``left_bottom_edge`` / ``right_bottom_edge``: the bottom edge of the +y or −y face only;
- ``left_end`` / ``right_end``: the +y or −y end of an object lying along y (the handover bar):
  the ±x faces over the outer third of its length, and the end face — a cube-like grasp of one
  end that leaves the other end free for the other hand.

Each face (or edge) carries a small grid of ``points_per_side``² (or ``points_per_side``)
points spread over the central ``spread`` fraction of it, so fingers can spread on a face and
still each find a near sticker. Points on curved surfaces (cylinders, spheres, ellipsoids) are
projected onto the surface.
"""

from __future__ import annotations

import numpy as np
from gr1_sim.objects import ObjectSpec

PATTERNS = (
    "side_centres",
    "all_side_centres",
    "top_bottom_centres",
    "bottom_edges",
    "left_side",
    "right_side",
    "left_bottom_edge",
    "right_bottom_edge",
    "left_end",
    "right_end",
)


def half_extents_m(obj: ObjectSpec, scale: float = 1.0) -> np.ndarray:
    """Half extents of the object's bounding box in its own frame."""
    s = obj.size_m
    if obj.shape in ("box", "lblock"):
        h = (s[0] / 2, s[1] / 2, s[2] / 2)
    elif obj.shape in ("cylinder", "prism"):
        h = (s[0], s[0], s[1] / 2)
    elif obj.shape == "sphere":
        h = (s[0],) * 3
    elif obj.shape == "ellipsoid":
        h = tuple(s[:3])
    elif obj.shape == "capsule":  # lying along x
        h = (s[1] + s[0], s[0], s[0])
    elif obj.shape == "dumbbell":  # bar along x, end spheres
        h = (s[2] + s[1], s[1], s[1])
    else:
        raise ValueError(f"object {obj.name}: no sticker geometry for shape {obj.shape!r}")
    return np.asarray(h, dtype=float) * scale


def _face_grid(axis: int, sign: float, half: np.ndarray, n: int, spread: float) -> np.ndarray:
    """Points on the face of the bounding box normal to ``axis`` on side ``sign``."""
    others = [a for a in range(3) if a != axis]
    u = np.linspace(-1, 1, n) * spread if n > 1 else np.zeros(1)
    g0, g1 = np.meshgrid(u, u, indexing="ij")
    pts = np.zeros((g0.size, 3))
    pts[:, axis] = sign * half[axis]
    pts[:, others[0]] = g0.ravel() * half[others[0]]
    pts[:, others[1]] = g1.ravel() * half[others[1]]
    return pts


def _bottom_edge(sign_y: float, half: np.ndarray, n: int, spread: float) -> np.ndarray:
    """Points along the bottom edge of the ±y face, running along x."""
    u = np.linspace(-1, 1, n) * spread if n > 1 else np.zeros(1)
    return np.stack([u * half[0], np.full(n, sign_y * half[1]), np.full(n, -half[2])], axis=1)


def _end_segment(sign_y: float, half: np.ndarray, n: int, spread: float) -> np.ndarray:
    """Points on the ±x faces of the outer third (along y) of the ±y end, and on the end face."""
    seg_half = np.array([half[0], half[1] / 3.0, half[2]])  # the segment's half extents
    centre_y = sign_y * (half[1] - seg_half[1])
    sides = [_face_grid(0, s, seg_half, n, spread) + np.array([0.0, centre_y, 0.0]) for s in (1.0, -1.0)]
    return np.concatenate(sides + [_face_grid(1, sign_y, half, n, spread)])


def _project_to_surface(obj: ObjectSpec, pts: np.ndarray, half: np.ndarray) -> np.ndarray:
    if obj.shape in ("sphere", "ellipsoid"):
        r = np.sqrt(np.sum((pts / half) ** 2, axis=1, keepdims=True))
        return pts / np.maximum(r, 1e-9)
    if obj.shape == "cylinder":
        out = pts.copy()
        radial = np.sqrt(np.sum((pts[:, :2] / half[:2]) ** 2, axis=1))
        side = np.abs(pts[:, 2]) < half[2] - 1e-9  # points on the curved side, not the caps
        out[side, :2] /= np.maximum(radial[side, None], 1e-9)
        # Cap points (and bottom-edge points) outside the disc move onto its rim.
        rim = ~side & (radial > 1.0)
        out[rim, :2] /= radial[rim, None]
        return out
    return pts


def make_stickers(obj: ObjectSpec, pattern: str, points_per_side: int = 3, spread: float = 0.5, scale: float = 1.0) -> np.ndarray:
    """Sticker points (S×3, metres, object frame) for ``obj`` and ``pattern``."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown sticker pattern {pattern!r}; valid patterns: {list(PATTERNS)}")
    if points_per_side < 1:
        raise ValueError(f"points_per_side must be >= 1, got {points_per_side}")
    if not 0.0 <= spread <= 1.0:
        raise ValueError(f"spread must be in [0, 1], got {spread}")
    half = half_extents_m(obj, scale)
    n = points_per_side
    faces = {
        "side_centres": [(1, 1.0), (1, -1.0)],
        "all_side_centres": [(0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)],
        "top_bottom_centres": [(2, 1.0), (2, -1.0)],
        "left_side": [(1, 1.0)],
        "right_side": [(1, -1.0)],
    }
    if pattern in faces:
        pts = np.concatenate([_face_grid(a, s, half, n, spread) for a, s in faces[pattern]])
    elif pattern in ("left_end", "right_end"):
        pts = _end_segment(1.0 if pattern == "left_end" else -1.0, half, n, spread)
    else:
        signs = {"bottom_edges": (1.0, -1.0), "left_bottom_edge": (1.0,), "right_bottom_edge": (-1.0,)}[pattern]
        pts = np.concatenate([_bottom_edge(s, half, n, spread) for s in signs])
    return _project_to_surface(obj, pts, half)


def pad_sticker_sets(sets: list[np.ndarray]) -> np.ndarray:
    """Stack sticker sets of different sizes (K×S_max×3) by repeating each set's first point;
    a repeated point never changes the nearest-sticker distance."""
    s_max = max(len(s) for s in sets)
    out = np.zeros((len(sets), s_max, 3))
    for k, s in enumerate(sets):
        out[k, : len(s)] = s
        out[k, len(s) :] = s[0]
    return out
