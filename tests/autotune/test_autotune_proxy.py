"""The proxy-real robot: latency, backlash, noise and quantization do what they say."""

import numpy as np
import pytest
from dexmani_training.autotune.excitation import base_pose
from gr1_description.physics import PhysicsParams
from gr1_sim.proxy import ProxyConfig, ProxyRobot

from gr1_description import joints as jt

CLEAN = {"backlash_rad": 0.0, "noise_rad": 0.0, "velocity_noise_rad_s": 0.0, "encoder_resolution_rad": 0.0,
             "velocity_resolution_rad_s": 0.0, "effort_resolution_nm": 0.0}
ELBOW = jt.joint_names().index("left_elbow_pitch_joint")


def _step_commands():
    t = np.arange(0, 3, 0.02)
    cmd = np.tile(base_pose(), (t.size, 1))
    cmd[t >= 1.0, ELBOW] -= 0.1
    return t, cmd


@pytest.fixture(scope="module")
def robot():
    return ProxyRobot(PhysicsParams.default(), ProxyConfig(**CLEAN))


def test_latency_delays_the_response(robot):
    t, cmd = _step_commands()
    for latency in (0.0, 0.05):
        robot.latency_s = latency
        rec = robot.run(t, cmd)
        q = rec.true_position_rad[:, ELBOW]
        before = rec.state_t_s < 1.0 + latency - 1e-9
        settled = q[np.searchsorted(rec.state_t_s, 0.95)]
        assert np.max(np.abs(q[before & (rec.state_t_s > 0.95)] - settled)) < 1e-4
        after = np.searchsorted(rec.state_t_s, 1.0 + latency + 0.05)
        assert settled - q[after] > 0.01


def test_backlash_offsets_the_loaded_joint_by_half_the_play():
    t, cmd = _step_commands()
    pose = {}
    for play in (0.0, 0.02):
        rec = ProxyRobot(PhysicsParams.default(), ProxyConfig(**{**CLEAN, "backlash_rad": play})).run(t, cmd)
        pose[play] = rec.true_position_rad[-1, :26]
    sp = jt.joint_names().index("left_shoulder_pitch_joint")
    assert abs(pose[0.02][sp] - pose[0.0][sp]) == pytest.approx(0.01, abs=0.002)


def test_noise_quantization_and_rates():
    t, cmd = _step_commands()
    cfg = ProxyConfig(noise_rad=0.001, encoder_resolution_rad=2.0**-12, state_rate_hz=200.0, include_mimic=False)
    rec = ProxyRobot(PhysicsParams.default(), cfg).run(t, cmd)
    np.testing.assert_allclose(np.diff(rec.state_t_s), 0.005)
    assert rec.position_rad.shape[1] == 26 and rec.state_names == jt.joint_names()
    err = rec.position_rad - rec.true_position_rad
    assert np.std(err) == pytest.approx(np.sqrt(0.001**2 + (2.0**-12) ** 2 / 12), rel=0.05)
    steps = rec.position_rad / 2.0**-12
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)


def test_bad_proxy_settings():
    with pytest.raises(ValueError, match="must divide the physics rate"):
        ProxyRobot(PhysicsParams.default(), ProxyConfig(state_rate_hz=300.0))
    with pytest.raises(ValueError, match="backlash_rad must be >= 0"):
        ProxyRobot(PhysicsParams.default(), ProxyConfig(backlash_rad=-1.0))
