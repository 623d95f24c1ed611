"""The simulator side of the shared code path: perception frames from ``gr1_sim`` renders.

Training and evaluation render depth and the object mask, noise the depth
(:class:`~dexmani_perception.noise.DepthNoiseModel`) and the mask (the ground-truth segmenter),
and hand the result to the same :class:`~dexmani_perception.pipeline.PerceptionPipeline` the
robot runs. Imports ``gr1_sim`` (and so MuJoCo); nothing else in the core does.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import mujoco
import numpy as np

from .camera import CameraModel, RigidTransform
from .noise import CameraJitter, focal_scale_for_fov_delta
from .segmenters.base import SegmenterFrame

#: MuJoCo camera frame (looks along −z, +y up) → ROS optical frame (looks along +z, +y down).
OPTICAL_FROM_MUJOCO = np.diag([1.0, -1.0, -1.0])


def camera_model(scene, camera: str, width: int | None = None, height: int | None = None) -> CameraModel:
    """The intrinsics of a simulated camera in ROS / OpenCV convention.

    ``gr1_sim`` gives the principal point from the top-left pixel *corner* (the image centre is
    at 320 for 640 pixels), while ROS / OpenCV put integer coordinates at pixel *centres*; the
    same physical camera therefore has cx, cy half a pixel smaller here.
    """
    cfg = scene.config.cameras[camera]
    intr = cfg.intrinsics_at(width or cfg.width, height or cfg.height)
    return CameraModel(intr.width, intr.height, intr.fx, intr.fy, intr.cx - 0.5, intr.cy - 0.5, frame_id=f"{camera}_optical_frame")


def world_from_camera(data: mujoco.MjData, camera_id: int) -> RigidTransform:
    """Pose of a camera's optical frame in the world frame."""
    return RigidTransform(data.cam_xmat[camera_id].reshape(3, 3) @ OPTICAL_FROM_MUJOCO, data.cam_xpos[camera_id].copy())


def base_from_camera(scene, data: mujoco.MjData, camera: str) -> RigidTransform:
    """Pose of the camera's optical frame in the robot base frame (``base_link``)."""
    world_cam = world_from_camera(data, scene.camera_ids[camera])
    base = data.body("base_link")
    world_base = RigidTransform(base.xmat.reshape(3, 3).copy(), base.xpos.copy())
    return world_base.inverse() @ world_cam


def object_position_base(scene, data: mujoco.MjData) -> np.ndarray:
    """The object's body position (its centre) in the base frame: the centroid's ground truth."""
    base = data.body("base_link")
    rot = base.xmat.reshape(3, 3)
    return rot.T @ (data.xpos[scene.object_body_id] - base.xpos)


@dataclass
class SimFrame:
    frame: SegmenterFrame  # what the pipeline sees (depth possibly noised)
    clean_depth_m: np.ndarray
    gt_mask: np.ndarray
    object_position_m: np.ndarray  # ground truth, base frame


def render_frame(renderer, data: mujoco.MjData, camera: str, width: int | None = None, height: int | None = None,
                 rgb: bool = False, camera_pose: RigidTransform | None = None) -> SimFrame:
    """Render one camera into a :class:`SimFrame` (clean depth; noise is the caller's choice).
    ``camera_pose`` overrides the pose the pipeline is told (e.g. the nominal pose while the
    model's camera is jittered)."""
    scene = renderer.scene
    f = renderer.render(data, camera, width, height, rgb=rgb, depth=True, segmentation=True)
    gt = renderer.object_mask(f.geom_ids)
    cam = camera_model(scene, camera, f.intrinsics.width, f.intrinsics.height)
    pose = camera_pose if camera_pose is not None else base_from_camera(scene, data, camera)
    frame = SegmenterFrame(rgb=f.rgb, depth_m=f.depth_m, camera=cam, base_from_camera=pose, gt_mask=gt)
    return SimFrame(frame, f.depth_m, gt, object_position_base(scene, data))


@contextmanager
def jittered_camera(model: mujoco.MjModel, camera_id: int, jitter: CameraJitter):
    """Temporarily move, turn and re-focus a model camera by ``jitter`` (restored on exit).

    Rotation is applied in the camera's own frame, translation in its parent's frame, and the
    focal length changes so that the vertical field of view changes by ``jitter.fov_delta_deg``.
    """
    pos, quat, intr = model.cam_pos[camera_id].copy(), model.cam_quat[camera_id].copy(), model.cam_intrinsic[camera_id].copy()
    try:
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, quat)
        # jitter.rotation is in the optical frame; conjugate it into the MuJoCo camera frame.
        delta = OPTICAL_FROM_MUJOCO @ jitter.rotation @ OPTICAL_FROM_MUJOCO
        new_rot = rot.reshape(3, 3) @ delta
        new_quat = np.zeros(4)
        mujoco.mju_mat2Quat(new_quat, new_rot.ravel())
        model.cam_quat[camera_id] = new_quat
        model.cam_pos[camera_id] = pos + jitter.translation_m
        height = int(model.cam_resolution[camera_id][1])
        fy_px = intr[1] / model.cam_sensorsize[camera_id][1] * height
        s = focal_scale_for_fov_delta(height, fy_px, jitter.fov_delta_deg)
        model.cam_intrinsic[camera_id][:2] = intr[:2] * s
        yield
    finally:
        model.cam_pos[camera_id] = pos
        model.cam_quat[camera_id] = quat
        model.cam_intrinsic[camera_id] = intr
