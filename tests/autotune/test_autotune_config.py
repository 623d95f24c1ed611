"""Autotune settings: the YAML default equals the code default; overrides and their errors."""

from pathlib import Path

import pytest
import yaml
from dexmani_training.autotune.config import AutotuneConfig

CONFIG = Path(__file__).resolve().parents[2] / "config" / "autotune_default.yaml"


def test_autotune_default_yaml_equals_code_defaults():
    assert yaml.safe_load(CONFIG.read_text()) == AutotuneConfig().to_dict()
    assert AutotuneConfig.load(CONFIG).to_dict() == AutotuneConfig().to_dict()


def test_partial_override_keeps_other_defaults():
    cfg = AutotuneConfig.from_dict({"search": {"population": 8, "parameters": {"kp": {"scope": "pair"}}},
                                    "ingest": {"command_joint_order": ["a"] * 0}})
    assert cfg.search.population == 8
    assert cfg.search.parameters["kp"].scope == "pair"
    assert cfg.search.parameters["kp"].range == (0.5, 2.0)
    assert cfg.search.parameters["kd"].scope == "joint"
    assert cfg.excitation.duration_s == 200.0


@pytest.mark.parametrize(
    "data, message",
    [
        ({"serach": {}}, "unknown sections ['serach']"),
        ({"search": {"populaton": 3}}, "unknown keys ['populaton']"),
        ({"search": {"parameters": {"stiffness": {}}}}, "unknown search parameters ['stiffness']"),
        ({"search": {"parameters": {"kp": {"scope": "everywhere"}}}}, "scope must be one of"),
        ({"search": {"parameters": {"latency_s": {"scope": "joint"}}}}, "latency_s: scope must be 'global' or 'fixed'"),
        ({"search": {"parameters": {"kd": {"range": [2.0, 1.0]}}}}, "lo < hi"),
        ({"search": {"parameters": {"armature": {"range": [0.0, 2.0]}}}}, "scale range must be positive"),
        ({"search": {"refine": "bfgs"}}, "refine must be"),
        ({"ingest": {"rate_hz": 30.0}}, "must divide the physics rate"),
        ({"excitation": {"duration_s": 300}}, "under four minutes"),
    ],
)
def test_bad_settings_name_the_problem(data, message):
    with pytest.raises(ValueError, match=None) as e:
        AutotuneConfig.from_dict(data)
    assert message in str(e.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="autotune config not found"):
        AutotuneConfig.load(tmp_path / "nope.yaml")
