"""Message <-> numpy conversions with real ROS 2 message classes (the rosbags typestore), through
CDR serialization and back."""

import array

import numpy as np
import pytest
from dexmani_perception.camera import CameraModel
from rosbags.typesys import Stores, get_typestore

from dexmani_perception import messages as conv

STORE = get_typestore(Stores.ROS2_JAZZY)
T = conv.rosbags_message_types(STORE)


def through_cdr(msg):
    """Serialize and deserialize: what a bag or the wire would carry."""
    return STORE.deserialize_cdr(STORE.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def header(ns=1_700_000_000_123_456_789, frame="head_camera_color_optical_frame"):
    return conv.make_header(T, ns, frame)


@pytest.mark.parametrize("encoding,array_", [
    ("16UC1", np.arange(480 * 640, dtype=np.uint16).reshape(480, 640)),
    ("32FC1", np.linspace(0, 3, 48 * 64, dtype=np.float32).reshape(48, 64)),
    ("rgb8", np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)),
    ("mono8", np.random.default_rng(1).integers(0, 255, (48, 64), dtype=np.uint8)),
])
def test_images_round_trip(encoding, array_):
    msg = through_cdr(conv.numpy_to_image(T, array_, encoding, header()))
    assert msg.encoding == encoding and msg.height == array_.shape[0] and msg.width == array_.shape[1]
    back = conv.image_to_numpy(msg)
    assert back.dtype == array_.dtype and np.array_equal(back, array_)
    assert conv.stamp_to_ns(msg.header.stamp) == 1_700_000_000_123_456_789


def test_depth_in_millimetres_becomes_metres_and_colour_orders():
    mm = np.array([[0, 500], [1234, 65535]], dtype=np.uint16)
    msg = through_cdr(conv.numpy_to_image(T, mm, "16UC1", header()))
    assert np.allclose(conv.depth_image_to_metres(msg), [[0, 0.5], [1.234, 65.535]])
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    bgr = conv.numpy_to_image(T, rgb[..., ::-1].copy(), "bgr8", header())
    assert np.array_equal(conv.rgb_from_image(bgr), rgb)
    with pytest.raises(conv.MessageError, match="16UC1"):
        conv.depth_image_to_metres(conv.numpy_to_image(T, rgb, "rgb8", header()))


def test_row_padding_big_endian_and_rclpy_style_data():
    img = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint16)
    padded = np.zeros((2, 8), np.uint8)  # step 8 > 6 bytes per row
    padded[:, :6] = img.astype(">u2").view(np.uint8).reshape(2, 6)
    msg = T.Image(header=header(), height=2, width=3, encoding="16UC1", is_bigendian=1, step=8, data=padded.ravel())
    assert np.array_equal(conv.image_to_numpy(msg), img)
    # rclpy fills uint8[] with array.array('B'): the same conversion reads it.
    msg.data = array.array("B", padded.tobytes())
    assert np.array_equal(conv.image_to_numpy(msg), img)
    msg.step = 4
    with pytest.raises(conv.MessageError, match="step"):
        conv.image_to_numpy(msg)
    with pytest.raises(conv.MessageError, match="not supported"):
        conv.image_to_numpy(T.Image(header=header(), height=1, width=1, encoding="yuv422", is_bigendian=0, step=2, data=np.zeros(2, np.uint8)))
    with pytest.raises(conv.MessageError, match="dtype"):
        conv.numpy_to_image(T, img.astype(np.float32), "16UC1", header())


def test_camera_info_round_trips_into_a_camera_model():
    cam = CameraModel(640, 480, 615.2, 614.8, 321.1, 238.9, "plumb_bob", (0.01, -0.02, 0.001, 0.0005, 0.003), "cam_optical")
    msg = through_cdr(conv.camera_model_to_camera_info(T, cam, header(frame="cam_optical")))
    back = conv.camera_info_to_model(msg)
    assert back == cam
    plain = CameraModel(640, 480, 615.0, 615.0, 319.5, 239.5, frame_id="x")
    back = conv.camera_info_to_model(through_cdr(conv.camera_model_to_camera_info(T, plain, header(frame="x"))))
    assert back == plain  # all-zero distortion reads back as "none"
    msg.binning_x = 2
    with pytest.raises(conv.MessageError, match="binning"):
        conv.camera_info_to_model(msg)
    msg.binning_x = 0
    msg.k = np.zeros(9)
    with pytest.raises(conv.MessageError, match="calibrated"):
        conv.camera_info_to_model(msg)


def test_point_transform_and_prompt_messages():
    p = np.array([0.41, -0.12, -0.08])
    msg = through_cdr(conv.point_stamped(T, p, header(frame="base_link")))
    assert msg.header.frame_id == "base_link" and np.allclose(conv.point_stamped_to_numpy(msg), p)
    G = STORE.types
    q = np.array([0.1, 0.2, -0.3, 0.9])
    q /= np.linalg.norm(q)
    tf = G["geometry_msgs/msg/TransformStamped"](
        header=header(frame="base_link"), child_frame_id="cam",
        transform=G["geometry_msgs/msg/Transform"](translation=G["geometry_msgs/msg/Vector3"](x=1.0, y=2.0, z=3.0),
                                                  rotation=G["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])))
    rt = conv.transform_to_rigid(through_cdr(tf))
    assert np.allclose(rt.translation_m, [1, 2, 3]) and np.allclose(rt.quat_xyzw(), q)
    assert np.allclose(conv.rigid_from_list([1, 2, 3, *q]).rotation, rt.rotation)
    with pytest.raises(ValueError, match="7 numbers"):
        conv.rigid_from_list([1, 2, 3])
    prompt = conv.prompt_from_point(through_cdr(G["geometry_msgs/msg/PointStamped"](header=header(), point=G["geometry_msgs/msg/Point"](x=320.0, y=200.0, z=0.0))))
    assert np.allclose(prompt.points_px, [[320, 200]]) and prompt.box_px is None
    poly = G["geometry_msgs/msg/PolygonStamped"](header=header(), polygon=G["geometry_msgs/msg/Polygon"](points=[
        G["geometry_msgs/msg/Point32"](x=300.0, y=220.0, z=0.0), G["geometry_msgs/msg/Point32"](x=250.0, y=180.0, z=0.0)]))
    box = conv.prompt_from_polygon(through_cdr(poly))
    assert np.allclose(box.box_px, [250, 180, 300, 220])
    assert conv.prompt_from_values([], []) is None
    assert np.allclose(conv.prompt_from_values([10.0, 20.0], []).points_px, [[10, 20]])
    with pytest.raises(ValueError, match="4 numbers"):
        conv.prompt_from_values([], [1.0, 2.0])


def test_mask_and_diagnostics():
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    m = through_cdr(conv.mask_to_image(T, mask, header()))
    assert m.encoding == "mono8" and np.array_equal(conv.image_to_numpy(m) == 255, mask)
    st = conv.diagnostic_status(T, "dexmani_perception: head", "WARN", "lost track: score 0.10 < min_score 0.5", {"score": 0.1})
    arr = through_cdr(conv.diagnostic_array(T, header(frame=""), [st]))
    assert arr.status[0].level == T.DiagnosticStatus.WARN == 1
    assert arr.status[0].values[0].key == "score" and arr.status[0].values[0].value == "0.1"
    with pytest.raises(ValueError, match="level"):
        conv.diagnostic_status(T, "x", "BAD", "", {})
