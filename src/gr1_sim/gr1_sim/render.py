"""Headless rendering of RGB, metric depth and per-geom segmentation on the CPU.

The OpenGL backend is EGL or OSMesa. ``MUJOCO_GL`` picks one when set; otherwise each is tried
in a short-lived subprocess (a failed EGL start cannot be undone inside a process) and the first
that renders is used. Depth and segmentation come from one render pass (segmentation colouring
plus the depth buffer), RGB from a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import mujoco
import numpy as np

from .cameras import Intrinsics
from .scene import CATEGORY_OBJECT, Scene

_BACKENDS = ("egl", "osmesa")
_chosen_backend: str | None = None

_PROBE = """
import os, sys
b = sys.argv[1]
os.environ['PYOPENGL_PLATFORM'] = b
if b == 'egl':
    from mujoco.egl import GLContext
else:
    from mujoco.osmesa import GLContext
c = GLContext(16, 16); c.make_current(); c.free()
"""

_HINT = (
    "headless rendering needs EGL (Debian: apt-get install libegl1 libgl1-mesa-dri) or OSMesa "
    "(apt-get install libosmesa6); set MUJOCO_GL=egl or MUJOCO_GL=osmesa to force one"
)


class RenderBackendError(RuntimeError):
    pass


def select_gl_backend() -> str:
    """The OpenGL backend this process renders with (chosen once)."""
    global _chosen_backend
    if _chosen_backend is not None:
        return _chosen_backend
    forced = os.environ.get("MUJOCO_GL", "").strip().lower()
    if forced and forced not in _BACKENDS:
        raise RenderBackendError(f"MUJOCO_GL={forced!r} cannot render headless; use one of {_BACKENDS}. {_HINT}")
    candidates = (forced,) if forced else _BACKENDS
    errors = {}
    for backend in candidates:
        env = dict(os.environ, PYOPENGL_PLATFORM=backend, MUJOCO_GL=backend)
        proc = subprocess.run([sys.executable, "-c", _PROBE, backend], env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            _chosen_backend = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
        errors[backend] = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
    raise RenderBackendError(f"no headless OpenGL backend works: {errors}. {_HINT}")


def _gl_context(width: int, height: int):
    backend = select_gl_backend()
    platform = os.environ.get("PYOPENGL_PLATFORM")
    if platform and platform != backend:
        raise RenderBackendError(f"PYOPENGL_PLATFORM={platform!r} conflicts with the chosen backend {backend!r}")
    if backend == "egl":
        from mujoco.egl import GLContext
    else:
        from mujoco.osmesa import GLContext
    return GLContext(width, height)


@dataclass
class Frame:
    """One camera frame. ``depth_m`` is planar depth (along the optical axis), 0 where nothing
    was hit within the far plane; ``geom_ids`` is the geom seen at each pixel (−1: none)."""

    rgb: np.ndarray | None
    depth_m: np.ndarray | None
    geom_ids: np.ndarray | None
    intrinsics: Intrinsics


class SceneRenderer:
    """Renders the cameras of a :class:`Scene` from any ``MjData`` of that scene's model."""

    def __init__(self, scene: Scene, max_width: int | None = None, max_height: int | None = None):
        self.scene = scene
        self.model = scene.model
        self.max_width = max_width or self.model.vis.global_.offwidth
        self.max_height = max_height or self.model.vis.global_.offheight
        if self.max_width > self.model.vis.global_.offwidth or self.max_height > self.model.vis.global_.offheight:
            raise ValueError(
                f"render size {self.max_width}x{self.max_height} exceeds the model's offscreen buffer "
                f"{self.model.vis.global_.offwidth}x{self.model.vis.global_.offheight}"
            )
        self._gl = _gl_context(self.max_width, self.max_height)
        self._gl.make_current()
        self._ctx = mujoco.MjrContext(self.model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._ctx)
        # Read depth as reversed Z (1 at the near plane, 0 at the far plane): best precision.
        self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scn = mujoco.MjvScene(self.model, maxgeom=2000)
        self._opt = mujoco.MjvOption()
        self._pert = mujoco.MjvPerturb()
        self._cam = mujoco.MjvCamera()
        self._cam.type = mujoco.mjtCamera.mjCAMERA_FIXED

    def close(self) -> None:
        if self._gl is not None:
            self._ctx.free()
            self._gl.free()
            self._gl = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def camera_names(self) -> list[str]:
        return list(self.scene.camera_ids)

    def _camera_id(self, camera: str) -> int:
        if camera not in self.scene.camera_ids:
            raise KeyError(f"unknown camera {camera!r}; valid cameras: {sorted(self.scene.camera_ids)}")
        return self.scene.camera_ids[camera]

    def render(
        self,
        data: mujoco.MjData,
        camera: str,
        width: int | None = None,
        height: int | None = None,
        rgb: bool = True,
        depth: bool = True,
        segmentation: bool = True,
        model: mujoco.MjModel | None = None,
    ) -> Frame:
        """``model``: the environment's own (randomized) copy of the scene's model, if any, so
        the image shows its object size and camera pose."""
        cam_id = self._camera_id(camera)
        cfg = self.scene.config.cameras[camera]
        width = width or cfg.width
        height = height or cfg.height
        if width > self.max_width or height > self.max_height:
            raise ValueError(f"{width}x{height} exceeds this renderer's {self.max_width}x{self.max_height}")
        if abs(width / height - cfg.width / cfg.height) > 1e-6:
            raise ValueError(f"{width}x{height} changes the aspect ratio of camera {camera} ({cfg.width}x{cfg.height})")
        self._gl.make_current()
        self._cam.fixedcamid = cam_id
        rect = mujoco.MjrRect(0, 0, width, height)
        mujoco.mjv_updateScene(model if model is not None else self.model, data, self._opt, self._pert, self._cam, mujoco.mjtCatBit.mjCAT_ALL, self._scn)
        out_rgb = out_depth = out_ids = None
        if depth or segmentation:
            self._scn.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = True
            self._scn.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True
            mujoco.mjr_render(rect, self._scn, self._ctx)
            ids_rgb = np.empty((height, width, 3), dtype=np.uint8)
            zbuf = np.empty((height, width), dtype=np.float32) if depth else None
            mujoco.mjr_readPixels(ids_rgb, zbuf, rect, self._ctx)
            self._scn.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = False
            self._scn.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = False
            if segmentation:
                out_ids = self._decode_segmentation(np.flipud(ids_rgb))
            if depth:
                out_depth = self._linear_depth(np.flipud(zbuf), cfg)
        if rgb:
            mujoco.mjr_render(rect, self._scn, self._ctx)
            buf = np.empty((height, width, 3), dtype=np.uint8)
            mujoco.mjr_readPixels(buf, None, rect, self._ctx)
            out_rgb = np.flipud(buf).copy()
        return Frame(out_rgb, out_depth, out_ids, cfg.intrinsics_at(width, height))

    def _decode_segmentation(self, ids_rgb: np.ndarray) -> np.ndarray:
        seg = ids_rgb[..., 0].astype(np.int32) | (ids_rgb[..., 1].astype(np.int32) << 8) | (ids_rgb[..., 2].astype(np.int32) << 16)
        n = self._scn.ngeom
        lut = np.full(n + 1, -1, dtype=np.int32)
        for k in range(n):
            g = self._scn.geoms[k]
            if g.segid >= 0 and g.objtype == mujoco.mjtObj.mjOBJ_GEOM:
                lut[g.segid + 1] = g.objid
        return lut[np.clip(seg, 0, n)]

    def _linear_depth(self, zbuf: np.ndarray, cfg) -> np.ndarray:
        """Reverse-Z depth buffer → planar depth in metres (0 beyond the far plane)."""
        extent = self.model.stat.extent
        near = float(self.model.vis.map.znear * extent)
        far = float(self.model.vis.map.zfar * extent)
        z = zbuf.astype(np.float64)
        # MuJoCo renders with reversed Z: the buffer holds near·(far − d)/(d·(far − near)) for a
        # point at depth d; invert it.
        with np.errstate(divide="ignore"):
            d = near * far / (z * (far - near) + near)
        d[z <= 0] = 0.0
        d[d > cfg.far_m] = 0.0
        d[d < cfg.near_m] = 0.0
        return d.astype(np.float32)

    def object_mask(self, geom_ids: np.ndarray) -> np.ndarray:
        """Boolean mask of the pixels showing the scene's object."""
        cat = np.where(geom_ids >= 0, self.scene.geom_category[np.clip(geom_ids, 0, None)], -1)
        return cat == CATEGORY_OBJECT

    def categories(self, geom_ids: np.ndarray) -> np.ndarray:
        """Per-pixel category (``scene.CATEGORY_*``; 0 where nothing is seen)."""
        return np.where(geom_ids >= 0, self.scene.geom_category[np.clip(geom_ids, 0, None)], 0).astype(np.int32)
