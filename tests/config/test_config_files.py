"""The YAML files under config/ are what the code uses by default, and load back unchanged."""

from pathlib import Path

import yaml

from gr1_description.physics import PhysicsParams
from gr1_sim.scene import SceneConfig, scene_config

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_sim_default_yaml_equals_scene_defaults():
    on_disk = yaml.safe_load((CONFIG / "sim_default.yaml").read_text())
    assert on_disk == SceneConfig().to_dict()


def test_physics_default_yaml_equals_code_defaults():
    assert PhysicsParams.load(CONFIG / "physics_default.yaml").to_dict() == PhysicsParams.default().to_dict()


def test_scene_config_round_trips_through_a_dict():
    cfg = scene_config("handover")
    again = SceneConfig.from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()
    assert again.cameras["head"].quat().tolist() == cfg.cameras["head"].quat().tolist()


def test_partial_override_keeps_other_defaults():
    cfg = SceneConfig.from_dict({"object": "sphere_r3cm", "model": {"base_pos_m": [0, 0, 1.0]},
                                 "cameras": {"head": {"fx": 600.0}}})
    assert cfg.object == "sphere_r3cm"
    assert cfg.model.base_pos_m == (0, 0, 1.0)
    assert cfg.cameras["head"].fx == 600.0 and cfg.cameras["head"].fy == 615.0
    assert cfg.table_height_m == SceneConfig().table_height_m
