"""Config file = code defaults; the eval command; the CLI wiring; rclpy stays in the node module."""

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from dexmani_perception.cli import add_perception_parser, main
from dexmani_perception.config import PerceptionConfig

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "dexmani_perception" / "dexmani_perception"


def test_default_yaml_equals_code_defaults_and_round_trips():
    on_disk = yaml.safe_load((ROOT / "config" / "perception_default.yaml").read_text())
    assert on_disk == PerceptionConfig().to_dict()
    assert PerceptionConfig.from_dict(on_disk).to_dict() == on_disk


def test_config_errors_name_the_bad_key_or_value(tmp_path):
    with pytest.raises(ValueError, match="unknown keys \\['erosion'\\] in section 'centroid'"):
        PerceptionConfig.from_dict({"centroid": {"erosion": 3}})
    with pytest.raises(ValueError, match="unknown sections \\['lidar'\\]"):
        PerceptionConfig.from_dict({"lidar": {}})
    with pytest.raises(ValueError, match="hole_fill"):
        PerceptionConfig.from_dict({"segmented_depth": {"hole_fill": "zeros"}})
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        PerceptionConfig.load(tmp_path / "nope.yaml")
    p = tmp_path / "c.yaml"
    p.write_text("depth_noise:\n  occlusion_shadow: false\n")
    cfg = PerceptionConfig.load(p)
    assert cfg.depth_noise.occlusion_shadow is False and cfg.depth_noise.axial_noise is True


def test_perception_parser_plugs_into_a_parent_cli():
    parent = argparse.ArgumentParser(prog="dexmani")
    sub = parent.add_subparsers(dest="command")
    add_perception_parser(sub)
    args = parent.parse_args(["perception", "eval", "--frames", "3", "--segmenter", "classical", "--json"])
    assert args.frames == 3 and args.segmenter == "classical" and callable(args.func)


def test_eval_prints_the_metrics_and_writes_overlays(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["perception", "eval", "--frames", "4", "--episode-frames", "2", "--segmenter", "classical", "--json",
               "--viz", str(tmp_path / "viz"), "--out", str(out)])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("centroid_error_mm_median", "centroid_error_mm_p90", "mask_iou_median", "latency_ms_median"):
        assert isinstance(result[key], float), key
    assert result["segmenter"] == "classical" and result["frames"] == 4
    assert result["centroid_error_mm_median"] < 20 and result["mask_iou_median"] > 0.6
    lo, hi = result["distance_m_observed"]
    assert 0.4 <= lo <= hi <= 0.9
    assert json.loads(out.read_text())["frames"] == 4
    pngs = sorted((tmp_path / "viz").glob("*.png"))
    assert len(pngs) == 4 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Existing output is not overwritten without --force.
    assert main(["perception", "eval", "--frames", "1", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_eval_with_ground_truth_masks_is_accurate(capsys):
    assert main(["perception", "eval", "--frames", "6", "--objects", "novel", "--episode-frames", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mask_iou_median"] == 1.0 and result["valid_fraction"] == 1.0
    assert result["centroid_error_mm_median"] < 15


def test_eval_near_tripod_camera_and_lifted_objects(capsys):
    """``third_view_near`` covers the near part of the range (no table position is nearer than
    ~0.65 m to the standard tripod); ``--lift`` holds the object above the table."""
    assert main(["perception", "eval", "--camera", "third_view_near", "--min-distance", "0.4", "--max-distance", "0.65",
                 "--objects", "cylinder_r2_h12cm", "--frames", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    lo, hi = result["distance_m_observed"]
    assert result["camera"] == "third_view_near" and 0.4 <= lo <= hi <= 0.65
    assert result["valid_fraction"] == 1.0 and result["centroid_error_mm_median"] < 10
    assert main(["perception", "eval", "--lift", "0.05", "--frames", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lift_m"] == 0.05 and result["valid_fraction"] == 1.0 and result["centroid_error_mm_median"] < 20
    assert main(["perception", "eval", "--camera", "tripod", "--frames", "1"]) == 2
    assert "third_view_near" in capsys.readouterr().err


def test_sim_camera_model_matches_the_renderer():
    """gr1_sim's principal point is corner-based: our model shifts it by half a pixel. A rendered
    sphere, back-projected, must come out at the body's position."""
    import mujoco
    from gr1_sim.render import SceneRenderer
    from gr1_sim.scene import build_scene, scene_config
    from scipy import ndimage

    from dexmani_perception import sim

    scene = build_scene(scene_config("tabletop", object="sphere_r3.5cm", object_xy_m=(0.55, 0.1)))
    data = mujoco.MjData(scene.model)
    mujoco.mj_forward(scene.model, data)
    with SceneRenderer(scene) as r:
        f = sim.render_frame(r, data, "third_view")
    m = ndimage.binary_erosion(f.gt_mask, iterations=2)
    v, u = np.nonzero(m)
    p = f.frame.camera.back_project(u, v, f.clean_depth_m[v, u])
    a = np.c_[2 * p, np.ones(len(p))]
    x = np.linalg.lstsq(a, (p**2).sum(1), rcond=None)[0]  # sphere fit
    centre = f.frame.base_from_camera.apply(x[:3])
    assert np.linalg.norm(centre - f.object_position_m) < 3e-4


def test_only_the_node_imports_rclpy_and_the_core_imports_without_torch_or_mujoco():
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        if "rclpy" in names:
            assert path.name == "node.py", f"{path} imports rclpy"
        assert "torchvision" not in names, f"{path} imports torchvision"
    code = (
        "import sys, dexmani_perception, dexmani_perception.messages, dexmani_perception.config, dexmani_perception.cli;"
        "bad = [m for m in ('rclpy', 'torch', 'mujoco', 'sam2') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
