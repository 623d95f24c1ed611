"""ROS message <-> numpy conversions, without ROS.

Every function takes or returns plain message objects. Building a message needs its classes,
so builders take a :class:`MessageTypes`: the node passes the rclpy-generated classes
(:func:`dexmani_perception.node.ros_message_types`), tests and offline tools pass the ``rosbags``
typestore's (:func:`rosbags_message_types`). Both have the same field names; they differ in how a
``uint8[]`` / ``float64[]`` field is filled (``array.array`` for rclpy, numpy for rosbags), which
``MessageTypes`` also carries.
"""

from __future__ import annotations

import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .camera import CameraModel, RigidTransform
from .segmenters.base import Prompt

#: encoding → (numpy dtype, channels)
ENCODINGS: dict[str, tuple[str, int]] = {
    "mono8": ("u1", 1), "8UC1": ("u1", 1), "rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4),
    "mono16": ("u2", 1), "16UC1": ("u2", 1), "32FC1": ("f4", 1),
}


class MessageError(ValueError):
    """A message that cannot be converted (unknown encoding, inconsistent sizes, unsupported fields)."""


@dataclass(frozen=True)
class MessageTypes:
    Time: Any
    Header: Any
    Image: Any
    CameraInfo: Any
    RegionOfInterest: Any
    Point: Any
    PointStamped: Any
    DiagnosticStatus: Any
    DiagnosticArray: Any
    KeyValue: Any
    uint8_array: Callable[[bytes], Any]
    float64_array: Callable[[np.ndarray], Any]


def rosbags_message_types(typestore=None) -> MessageTypes:
    """Message classes of a ``rosbags`` typestore (default: ROS 2 Jazzy)."""
    if typestore is None:
        from rosbags.typesys import Stores, get_typestore

        typestore = get_typestore(Stores.ROS2_JAZZY)
    t = typestore.types
    return MessageTypes(
        t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"], t["sensor_msgs/msg/Image"], t["sensor_msgs/msg/CameraInfo"],
        t["sensor_msgs/msg/RegionOfInterest"], t["geometry_msgs/msg/Point"], t["geometry_msgs/msg/PointStamped"],
        t["diagnostic_msgs/msg/DiagnosticStatus"], t["diagnostic_msgs/msg/DiagnosticArray"], t["diagnostic_msgs/msg/KeyValue"],
        uint8_array=lambda b: np.frombuffer(b, dtype=np.uint8).copy(),
        float64_array=lambda a: np.asarray(a, dtype=np.float64).copy(),
    )


def rclpy_array_fillers() -> dict[str, Callable]:
    """How rclpy-generated messages take ``uint8[]`` and ``float64[]`` fields (fast paths)."""
    return {"uint8_array": lambda b: array.array("B", b), "float64_array": lambda a: array.array("d", np.asarray(a, np.float64).tobytes())}


# --- headers and stamps -----------------------------------------------------------------------
def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def make_header(types: MessageTypes, stamp_ns: int, frame_id: str):
    return types.Header(stamp=types.Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)), frame_id=frame_id)


def copy_header(types: MessageTypes, header, frame_id: str | None = None):
    return make_header(types, stamp_to_ns(header.stamp), header.frame_id if frame_id is None else frame_id)


# --- images -------------------------------------------------------------------------------------
def _data_bytes(data) -> bytes | memoryview:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    if isinstance(data, array.array):
        return memoryview(data).cast("B")
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data, dtype=np.uint8).data
    return bytes(bytearray(data))  # a list of ints


def image_to_numpy(msg) -> np.ndarray:
    """(H, W) or (H, W, C) array of a ``sensor_msgs/Image`` (a copy; row padding removed)."""
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise MessageError(f"image encoding {enc!r} not supported; supported: {sorted(ENCODINGS)}")
    kind, ch = ENCODINGS[enc]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * ch * dtype.itemsize
    buf = _data_bytes(msg.data)
    if step < row or len(buf) < step * h:
        raise MessageError(f"{enc} image {w}x{h}: step {step} and {len(buf)} data bytes do not hold {h} rows of {row} bytes")
    raw = np.frombuffer(buf, dtype=np.uint8, count=step * h).reshape(h, step)[:, :row]
    out = np.ascontiguousarray(raw).view(dtype).reshape((h, w, ch) if ch > 1 else (h, w))
    return out.astype(dtype.newbyteorder("="), copy=True)


def numpy_to_image(types: MessageTypes, image: np.ndarray, encoding: str, header):
    """A ``sensor_msgs/Image`` (little-endian, no row padding)."""
    if encoding not in ENCODINGS:
        raise MessageError(f"image encoding {encoding!r} not supported; supported: {sorted(ENCODINGS)}")
    kind, ch = ENCODINGS[encoding]
    image = np.asarray(image)
    want_ndim = 3 if ch > 1 else 2
    if image.ndim != want_ndim or (ch > 1 and image.shape[2] != ch):
        shape = f"(H, W, {ch})" if ch > 1 else "(H, W)"
        raise MessageError(f"{encoding} needs an array of shape {shape}, got {image.shape}")
    if image.dtype != np.dtype(kind):
        if kind == "u1" and image.dtype == bool:
            image = image.astype(np.uint8)
        else:
            raise MessageError(f"{encoding} needs dtype {np.dtype(kind)}, got {image.dtype}")
    data = np.ascontiguousarray(image.astype(np.dtype(kind).newbyteorder("<"), copy=False))
    h, w = image.shape[:2]
    return types.Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                       step=w * ch * data.dtype.itemsize, data=types.uint8_array(data.tobytes()))


def depth_image_to_metres(msg, depth_unit_m: float = 0.001) -> np.ndarray:
    """Depth in metres (float32, 0 = invalid) from a 16UC1 (millimetres) or 32FC1 (metres) image."""
    if msg.encoding not in ("16UC1", "mono16", "32FC1"):
        raise MessageError(f"depth image must be 16UC1 (mm) or 32FC1 (m), got {msg.encoding!r}")
    a = image_to_numpy(msg)
    if a.dtype.kind == "u":
        return a.astype(np.float32) * np.float32(depth_unit_m)
    a = a.astype(np.float32)
    a[~np.isfinite(a) | (a < 0)] = 0.0
    return a


def rgb_from_image(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from rgb8 / bgr8 / rgba8 / bgra8 / mono8."""
    a = image_to_numpy(msg)
    if msg.encoding in ("rgb8",):
        return a
    if msg.encoding == "bgr8":
        return a[..., ::-1].copy()
    if msg.encoding == "rgba8":
        return a[..., :3].copy()
    if msg.encoding == "bgra8":
        return a[..., 2::-1].copy()
    if msg.encoding in ("mono8", "8UC1"):
        return np.repeat(a[..., None], 3, axis=2)
    raise MessageError(f"colour image must be rgb8, bgr8, rgba8, bgra8 or mono8, got {msg.encoding!r}")


def mask_to_image(types: MessageTypes, mask: np.ndarray, header):
    """mono8, 255 on the object, for RViz."""
    return numpy_to_image(types, np.where(np.asarray(mask, bool), 255, 0).astype(np.uint8), "mono8", header)


# --- camera info -------------------------------------------------------------------------------
def camera_info_to_model(msg) -> CameraModel:
    """A :class:`CameraModel` from ``sensor_msgs/CameraInfo``. Binning and ROI are refused (the
    RealSense driver does not set them; supporting them silently wrong would be worse)."""
    if int(msg.binning_x) > 1 or int(msg.binning_y) > 1:
        raise MessageError(f"camera_info with binning {msg.binning_x}x{msg.binning_y} is not supported")
    roi = msg.roi
    if int(roi.width) or int(roi.height) or int(roi.x_offset) or int(roi.y_offset):
        full = int(roi.x_offset) == 0 and int(roi.y_offset) == 0 and int(roi.width) in (0, msg.width) and int(roi.height) in (0, msg.height)
        if not full:
            raise MessageError(f"camera_info with a region of interest ({roi.x_offset}, {roi.y_offset}, {roi.width}x{roi.height}) is not supported")
    k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    if k.size != 9 or not np.any(k):
        raise MessageError(f"camera_info K must hold 9 non-zero-matrix values, got {k.tolist()} (is the camera calibrated?)")
    d = tuple(float(x) for x in np.asarray(msg.d, dtype=np.float64).reshape(-1))
    model = msg.distortion_model or ("plumb_bob" if d else "none")
    if not any(d):
        model = "none"
        d = ()
    return CameraModel(int(msg.width), int(msg.height), float(k[0]), float(k[4]), float(k[2]), float(k[5]), model, d, msg.header.frame_id)


def camera_model_to_camera_info(types: MessageTypes, cam: CameraModel, header):
    k = cam.matrix()
    p = np.zeros((3, 4))
    p[:, :3] = k
    dist = list(cam.distortion) if cam.distortion_model != "none" else [0.0] * 5
    return types.CameraInfo(
        header=header, height=cam.height, width=cam.width,
        distortion_model=cam.distortion_model if cam.distortion_model != "none" else "plumb_bob",
        d=types.float64_array(np.asarray(dist)), k=np.asarray(k.ravel(), np.float64), r=np.eye(3).ravel(), p=p.ravel(),
        binning_x=0, binning_y=0, roi=types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


# --- points, transforms, prompts ---------------------------------------------------------------
def point_stamped(types: MessageTypes, position_m: np.ndarray, header):
    x, y, z = (float(v) for v in np.asarray(position_m, dtype=np.float64).reshape(3))
    return types.PointStamped(header=header, point=types.Point(x=x, y=y, z=z))


def point_stamped_to_numpy(msg) -> np.ndarray:
    return np.array([msg.point.x, msg.point.y, msg.point.z], dtype=np.float64)


def transform_to_rigid(msg) -> RigidTransform:
    """``geometry_msgs/Transform`` or ``TransformStamped`` → ``parent_from_child``."""
    tf = getattr(msg, "transform", msg)
    t, q = tf.translation, tf.rotation
    return RigidTransform.from_translation_quat_xyzw([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])


def rigid_from_list(values) -> RigidTransform:
    """[x, y, z, qx, qy, qz, qw] (a static transform parameter) → ``base_from_camera``."""
    v = [float(x) for x in values]
    if len(v) != 7:
        raise ValueError(f"a static transform needs 7 numbers [x, y, z, qx, qy, qz, qw], got {len(v)}: {v}")
    return RigidTransform.from_translation_quat_xyzw(v[:3], v[3:])


def prompt_from_point(msg) -> Prompt:
    """A point prompt from ``geometry_msgs/PointStamped`` with x = column, y = row in pixels."""
    return Prompt.point(float(msg.point.x), float(msg.point.y))


def prompt_from_polygon(msg) -> Prompt:
    """A box prompt from ``geometry_msgs/PolygonStamped``: the bounding box of its points (pixels)."""
    pts = np.array([[p.x, p.y] for p in msg.polygon.points], dtype=np.float64)
    if len(pts) < 2:
        raise MessageError(f"a box prompt needs at least 2 polygon points (corners), got {len(pts)}")
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return Prompt.box(x0, y0, x1, y1)


def prompt_from_values(point: list[float] | None = None, box: list[float] | None = None) -> Prompt | None:
    """A prompt from parameter values: ``point`` [x, y] (pixels), ``box`` [x0, y0, x1, y1]; None when both are empty."""
    point, box = list(point or []), list(box or [])
    if box:
        if len(box) != 4:
            raise ValueError(f"prompt box needs 4 numbers [x0, y0, x1, y1], got {box}")
        p = Prompt.box(*box)
        if point:
            p = Prompt(np.array([point[:2]]), box_px=np.array(box))
        return p
    if point:
        if len(point) % 2:
            raise ValueError(f"prompt point needs pairs [x, y, ...], got {point}")
        return Prompt(np.array(point, dtype=np.float64).reshape(-1, 2))
    return None


# --- diagnostics --------------------------------------------------------------------------------
def diagnostic_status(types: MessageTypes, name: str, level: str, message: str, values: dict[str, Any], hardware_id: str = ""):
    """``level`` is 'OK', 'WARN', 'ERROR' or 'STALE' (the class constants; bytes in rclpy, int in rosbags)."""
    if level not in ("OK", "WARN", "ERROR", "STALE"):
        raise ValueError(f"diagnostic level must be OK, WARN, ERROR or STALE, got {level!r}")
    kv = [types.KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
    return types.DiagnosticStatus(level=getattr(types.DiagnosticStatus, level), name=name, message=message, hardware_id=hardware_id, values=kv)


def diagnostic_array(types: MessageTypes, header, statuses: list):
    return types.DiagnosticArray(header=header, status=list(statuses))
