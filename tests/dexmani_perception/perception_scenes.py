"""Analytically rendered depth scenes for the perception tests (ray casting, no renderer)."""

from __future__ import annotations

import numpy as np
from dexmani_perception.camera import CameraModel, RigidTransform


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> RigidTransform:
    """``base_from_camera`` of an optical frame (z forward, y down) at ``eye`` looking at ``target``."""
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return RigidTransform(np.stack([x, y, z], axis=1), eye)


def _rays_base(cam: CameraModel, pose: RigidTransform) -> tuple[np.ndarray, np.ndarray]:
    rays_cam = cam.ray_grid().astype(np.float64)  # z = 1
    return rays_cam @ pose.rotation.T, pose.translation_m


def render(cam: CameraModel, pose: RigidTransform, spheres=(), boxes=(), plane_z: float | None = None, cylinders=()):
    """Planar depth (metres, 0 = nothing) and an object-id image (-1 background, 0.. objects).

    spheres: (centre, radius) in the base frame; boxes: (centre, half_extents) axis-aligned;
    cylinders: (centre, radius, half_height) upright (axis along base z); plane_z: a horizontal
    plane (the table) at this height, id -1. Ids count spheres, then boxes, then cylinders.
    """
    d, o = _rays_base(cam, pose)  # ray directions (t = planar depth), origin
    h, w = cam.height, cam.width
    best = np.full((h, w), np.inf)
    ids = np.full((h, w), -1, dtype=np.int32)
    k = 0
    for c, r in spheres:
        oc = o - np.asarray(c, float)
        a = (d * d).sum(-1)
        b = 2 * (d @ oc)
        cc = oc @ oc - r * r
        disc = b * b - 4 * a * cc
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / (2 * a)
        hit = (disc >= 0) & (t > 0) & (t < best)
        best[hit], ids[hit] = t[hit], k
        k += 1
    for c, half in boxes:
        lo = np.asarray(c, float) - half
        hi = np.asarray(c, float) + half
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (lo - o) / d
            t2 = (hi - o) / d
        tmin = np.nanmax(np.minimum(t1, t2), axis=-1)
        tmax = np.nanmin(np.maximum(t1, t2), axis=-1)
        hit = (tmax >= tmin) & (tmin > 0) & (tmin < best)
        best[hit], ids[hit] = tmin[hit], k
        k += 1
    for c, r, hh in cylinders:
        c = np.asarray(c, float)
        ox, oy = o[0] - c[0], o[1] - c[1]
        a = d[..., 0] ** 2 + d[..., 1] ** 2
        b = 2 * (d[..., 0] * ox + d[..., 1] * oy)
        cc = ox * ox + oy * oy - r * r
        disc = b * b - 4 * a * cc
        with np.errstate(invalid="ignore", divide="ignore"):
            t_side = (-b - np.sqrt(disc)) / (2 * a)
            z_side = o[2] + t_side * d[..., 2]
            side = (disc >= 0) & (t_side > 0) & (np.abs(z_side - c[2]) <= hh)
            t = np.where(side, t_side, np.inf)
            for zc in (c[2] + hh, c[2] - hh):  # the caps
                t_cap = (zc - o[2]) / d[..., 2]
                x, y = o[0] + t_cap * d[..., 0] - c[0], o[1] + t_cap * d[..., 1] - c[1]
                cap = (t_cap > 0) & (x * x + y * y <= r * r) & (t_cap < t)
                t = np.where(cap, t_cap, t)
        hit = np.isfinite(t) & (t < best)
        best[hit], ids[hit] = t[hit], k
        k += 1
    if plane_z is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (plane_z - o[2]) / d[..., 2]
        hit = (t > 0) & (t < best) & np.isfinite(t)
        best[hit], ids[hit] = t[hit], -1
    depth = np.where(np.isfinite(best), best, 0.0).astype(np.float32)
    return depth, ids


def d435(width: int = 640, height: int = 480, **kw) -> CameraModel:
    s = width / 640
    return CameraModel(width, height, 615.0 * s, 615.0 * s, (width - 1) / 2, (height - 1) / 2, **kw)
