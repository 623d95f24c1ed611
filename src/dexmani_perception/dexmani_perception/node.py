"""The perception node: the only module of this package that imports rclpy.

Per camera (default ``head`` and ``third_view``) it subscribes to the realsense2_camera topics
(colour, aligned depth, camera_info), runs a :class:`~dexmani_perception.pipeline.PerceptionPipeline`
and publishes, under ``~/<camera>/``:

* ``segmented_depth`` (sensor_msgs/Image, 32FC1 metres, the policy's resolution),
* ``centroid`` (geometry_msgs/PointStamped in ``base_frame``; only when valid),
* ``mask`` (sensor_msgs/Image, mono8, for RViz),

and a ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` (OK while tracking; WARN when the
track is lost or re-acquired; ERROR without a transform or camera_info).

Prompts: parameters ``<camera>.prompt_point`` [x, y] / ``<camera>.prompt_box`` [x0, y0, x1, y1]
(pixels of the colour image), the topics ``~/<camera>/prompt_point`` (geometry_msgs/PointStamped,
x = column, y = row) and ``~/<camera>/prompt_box`` (geometry_msgs/PolygonStamped, corners), or
the service ``~/<camera>/reprompt`` (std_srvs/Trigger: prompt again from the latest prompt on
the next frame). Processing runs at ``rate_hz`` (5 Hz, the policy rate) on the newest frames,
or on every depth frame with ``rate_hz: 0``.

Written for ROS 2 Jazzy (Python 3.12) and Humble (Python 3.10); callbacks only convert and call.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PointStamped, PolygonStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time as RosTime
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from tf2_ros import Buffer, TransformException, TransformListener

from . import messages as conv
from .camera import RigidTransform
from .config import PerceptionConfig
from .pipeline import PerceptionPipeline
from .segmenters import make_segmenter
from .segmenters.base import Prompt, SegmenterFrame

DEFAULT_TOPICS = {
    # realsense2_camera >= 4.55 with camera_namespace:=<ns> camera_name:=camera
    "head": "/camera/camera",
    "third_view": "/third_view/camera",
}


def ros_message_types() -> conv.MessageTypes:
    return conv.MessageTypes(Time, Header, Image, CameraInfo, RegionOfInterest, Point, PointStamped, DiagnosticStatus,
                             DiagnosticArray, KeyValue, **conv.rclpy_array_fillers())


@dataclass
class CameraState:
    name: str
    pipeline: PerceptionPipeline
    static_pose: RigidTransform | None
    prompt: Prompt | None
    pending_prompt: bool = True
    color: Image | None = None
    depth: Image | None = None
    info: CameraInfo | None = None
    last_processed_ns: int = -1
    pubs: dict = field(default_factory=dict)
    diag: tuple[str, str, dict] = ("ERROR", "waiting for camera_info and images", {})


class PerceptionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("dexmani_perception", **kwargs)
        self.types = ros_message_types()
        p = self._declare
        config_file = p("config_file", "", "perception YAML (config/perception_default.yaml format); empty: defaults")
        self.config = PerceptionConfig.load(config_file) if config_file else PerceptionConfig()
        segmenter = p("segmenter", "sam2", "sam2 | classical")
        self.config.sam2.checkpoint_path = p("sam2.checkpoint", self.config.sam2.checkpoint_path, "SAM2 checkpoint (.pt)")
        self.config.sam2.config_name = p("sam2.config", self.config.sam2.config_name, "SAM2 config name, e.g. sam2.1_hiera_t")
        self.config.sam2.device = p("sam2.device", self.config.sam2.device, "auto | cpu | cuda")
        self.base_frame = p("base_frame", "base_link", "frame of the published centroid")
        self.rate_hz = float(p("rate_hz", 5.0, "processing rate; 0: every depth frame"))
        self.max_skew_ns = int(1e9 * float(p("max_stamp_skew_s", 0.1, "max colour/depth stamp difference")))
        cameras = list(p("cameras", ["head", "third_view"], "camera names"))
        depth_cameras = set(p("segmented_depth_cameras", ["head"], "cameras that publish segmented depth"))
        self.tf_buffer = None
        self.cams: dict[str, CameraState] = {}
        for name in cameras:
            ns = p(f"{name}.namespace", DEFAULT_TOPICS.get(name, f"/{name}/camera"), "realsense2_camera namespace")
            static = list(p(f"{name}.static_transform", [0.0], "[x, y, z, qx, qy, qz, qw] of base_from_camera; one value: use TF"))
            pose = conv.rigid_from_list(static) if len(static) == 7 else None
            prompt = self._param_prompt(name)
            seg = make_segmenter(segmenter, self.config)
            pipe = PerceptionPipeline(seg, self.config.centroid, self.config.segmented_depth, compute_segmented_depth=name in depth_cameras)
            st = CameraState(name, pipe, pose, prompt)
            st.pubs = {
                "depth": self.create_publisher(Image, f"~/{name}/segmented_depth", 1),
                "mask": self.create_publisher(Image, f"~/{name}/mask", 1),
                "centroid": self.create_publisher(PointStamped, f"~/{name}/centroid", 1),
            }
            self.create_subscription(Image, f"{ns}/color/image_raw", lambda m, s=st: setattr(s, "color", m), qos_profile_sensor_data)
            self.create_subscription(Image, f"{ns}/aligned_depth_to_color/image_raw", lambda m, s=st: self._on_depth(s, m), qos_profile_sensor_data)
            self.create_subscription(CameraInfo, f"{ns}/aligned_depth_to_color/camera_info", lambda m, s=st: setattr(s, "info", m), qos_profile_sensor_data)
            self.create_subscription(PointStamped, f"~/{name}/prompt_point", lambda m, s=st: self._set_prompt(s, conv.prompt_from_point(m)), 1)
            self.create_subscription(PolygonStamped, f"~/{name}/prompt_box", lambda m, s=st: self._set_prompt(s, conv.prompt_from_polygon(m)), 1)
            self.create_service(Trigger, f"~/{name}/reprompt", lambda req, resp, s=st: self._reprompt(s, resp))
            if pose is None and self.tf_buffer is None:
                self.tf_buffer = Buffer()
                self._tf_listener = TransformListener(self.tf_buffer, self)
            self.cams[name] = st
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        if self.rate_hz > 0:
            self.create_timer(1.0 / self.rate_hz, self._tick)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f"perception: segmenter {segmenter}, cameras {cameras}, rate {self.rate_hz} Hz")

    # --- parameters ------------------------------------------------------------------------------
    def _declare(self, name: str, default, description: str):
        from rcl_interfaces.msg import ParameterDescriptor

        return self.declare_parameter(name, default, ParameterDescriptor(description=description)).value

    def _param_prompt(self, name: str) -> Prompt | None:
        point = [v for v in self._declare(f"{name}.prompt_point", [-1.0], "[x, y] pixels; [-1.0]: none") if v >= 0]
        box = [v for v in self._declare(f"{name}.prompt_box", [-1.0], "[x0, y0, x1, y1] pixels; [-1.0]: none") if v >= 0]
        return conv.prompt_from_values(point, box)

    # --- callbacks: convert and call ---------------------------------------------------------
    def _set_prompt(self, st: CameraState, prompt: Prompt) -> None:
        st.prompt, st.pending_prompt = prompt, True

    def _reprompt(self, st: CameraState, response):
        response.success = st.prompt is not None
        response.message = "prompting on the next frame" if st.prompt else "no prompt set (parameter, prompt_point or prompt_box topic)"
        st.pending_prompt = st.prompt is not None
        return response

    def _on_depth(self, st: CameraState, msg: Image) -> None:
        st.depth = msg
        if self.rate_hz <= 0:
            self._process(st)

    def _tick(self) -> None:
        for st in self.cams.values():
            self._process(st)

    # --- processing -----------------------------------------------------------------------------
    def _pose(self, st: CameraState, frame_id: str, stamp) -> tuple[RigidTransform | None, str]:
        if st.static_pose is not None:
            return st.static_pose, ""
        try:
            # The latest transform: the cameras are fixed on the tripod and on the (held) head.
            tf = self.tf_buffer.lookup_transform(self.base_frame, frame_id, RosTime())
        except TransformException as e:
            return None, f"no transform {self.base_frame} <- {frame_id}: {e}"
        return conv.transform_to_rigid(tf), ""

    def _process(self, st: CameraState) -> None:
        if st.depth is None or st.info is None or st.color is None:
            st.diag = ("ERROR", "waiting for " + ", ".join(k for k in ("color", "depth", "info") if getattr(st, k) is None), {})
            return
        depth_ns = conv.stamp_to_ns(st.depth.header.stamp)
        if depth_ns == st.last_processed_ns:
            return
        if abs(conv.stamp_to_ns(st.color.header.stamp) - depth_ns) > self.max_skew_ns:
            st.diag = ("WARN", "colour and depth stamps differ by more than max_stamp_skew_s", {})
            return
        st.last_processed_ns = depth_ns
        try:
            cam = conv.camera_info_to_model(st.info)
            depth = conv.depth_image_to_metres(st.depth)
            rgb = conv.rgb_from_image(st.color)
            cam.check_image(depth.shape, "aligned depth")
            cam.check_image(rgb.shape, "colour image")
        except ValueError as e:
            st.diag = ("ERROR", str(e), {})
            return
        pose, pose_err = self._pose(st, st.depth.header.frame_id, st.depth.header.stamp)
        frame = SegmenterFrame(rgb=rgb, depth_m=depth, camera=cam, base_from_camera=pose)
        if st.pending_prompt:
            if st.prompt is None:
                st.diag = ("WARN", "no prompt yet: set <camera>.prompt_point / prompt_box or publish on ~/<camera>/prompt_*", {})
                return
            try:
                result = st.pipeline.reset(frame, st.prompt)
            except ValueError as e:
                st.diag = ("ERROR", f"prompt rejected: {e}", {})
                st.pending_prompt = False
                return
            st.pending_prompt = False
        else:
            result = st.pipeline.step(frame)
        header = conv.copy_header(self.types, st.depth.header)
        if result.segmented is not None:
            st.pubs["depth"].publish(conv.numpy_to_image(self.types, result.segmented.depth_m, "32FC1", header))
        st.pubs["mask"].publish(conv.mask_to_image(self.types, result.mask, header))
        if result.ok:
            st.pubs["centroid"].publish(conv.point_stamped(self.types, result.centroid.position_m, conv.copy_header(self.types, st.depth.header, self.base_frame)))
        values = {"score": f"{result.score:.3f}", "confidence": f"{result.centroid.confidence:.3f}",
                  "mask_pixels": result.centroid.mask_pixels, "latency_ms": f"{result.timing_ms['total_ms']:.1f}"}
        if pose is None:
            st.diag = ("ERROR", pose_err, values)
        elif not result.track.ok:
            st.diag = ("WARN", f"lost track: {result.track.reason}", values)
        elif not result.ok:
            st.diag = ("WARN", result.reason, values)
        else:
            st.diag = ("OK", "re-acquired" if result.track.reacquired else "tracking", values)

    def _publish_diagnostics(self) -> None:
        now = self.get_clock().now().nanoseconds
        statuses = [conv.diagnostic_status(self.types, f"dexmani_perception: {st.name}", *st.diag) for st in self.cams.values()]
        self.diag_pub.publish(conv.diagnostic_array(self.types, conv.make_header(self.types, now, ""), statuses))


def main(argv: list[str] | None = None) -> int:
    rclpy.init(args=argv if argv is not None else sys.argv)
    node = PerceptionNode()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
