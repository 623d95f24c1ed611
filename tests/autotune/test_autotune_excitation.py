"""Calibration motions: limits, speed, clearance, duration, file round trip and its errors."""

import numpy as np
import pytest
from dexmani_training.autotune.config import ExcitationConfig
from dexmani_training.autotune.excitation import (
    base_pose,
    check_excitation,
    generate_excitation,
    load_excitation,
    save_excitation,
)

from gr1_description import joints as jt


@pytest.fixture(scope="module")
def default_excitation(checker):
    return generate_excitation(ExcitationConfig(), checker)


def test_default_excitation_is_safe_and_under_four_minutes(default_excitation, checker):
    exc = default_excitation
    cfg = ExcitationConfig()
    assert exc.targets_rad.shape == ((200 * 50), 26)
    assert exc.duration_s < 240
    report = check_excitation(exc, cfg, checker)
    assert report["within_margins"]
    assert report["max_smooth_speed_frac"] <= 1.0
    assert 0 < report["max_step_rad"] <= max(cfg.arm_step_rad, cfg.hand_step_rad) + 1e-9
    assert report["min_clearance_m"] >= cfg.min_clearance_m
    assert [s[0] for s in exc.segments] == ["hold", "steps", "chirps", "sweeps", "poses", "hold"]
    assert exc.segments[-1][2] == pytest.approx(200.0)


def test_every_joint_moves_and_arms_stay_gravity_loaded(default_excitation):
    q = default_excitation.targets_rad
    assert np.all(q.max(axis=0) - q.min(axis=0) > 0.1)
    elbows = [jt.joint_names().index(n) for n in ("left_elbow_pitch_joint", "right_elbow_pitch_joint")]
    # Forearm bent forward most of the time (the elbow carries the forearm's weight).
    assert np.mean(q[:, elbows] < -0.5) > 0.9
    np.testing.assert_allclose(q[0], np.clip(base_pose(), q.min(axis=0), q.max(axis=0)))


def test_rate_and_duration_are_configurable(checker):
    exc = generate_excitation(ExcitationConfig(duration_s=20.0, rate_hz=25.0, seed=3), checker)
    assert exc.targets_rad.shape == (500, 26)
    assert exc.rate_hz == 25.0


def test_deterministic_for_a_seed(short_excitation, checker):
    again = generate_excitation(ExcitationConfig(duration_s=30.0), checker)
    np.testing.assert_array_equal(again.targets_rad, short_excitation.targets_rad)


def test_csv_round_trip_and_no_overwrite(tmp_path, short_excitation):
    path = tmp_path / "exc.csv"
    save_excitation(short_excitation, path)
    back = load_excitation(path)
    assert back.rate_hz == short_excitation.rate_hz
    np.testing.assert_allclose(back.targets_rad, short_excitation.targets_rad, atol=6e-6)
    assert back.segments == short_excitation.segments
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="exists"):
        save_excitation(short_excitation, path)
    assert path.read_bytes() == before


def _csv(tmp_path, header, rows):
    path = tmp_path / "bad.csv"
    path.write_text("# rate_hz: 50\n" + header + "\n" + "\n".join(rows) + "\n")
    return path


def test_load_errors_name_the_problem(tmp_path):
    names = list(jt.joint_names())
    zeros = ",".join(["0.0"] * 26)
    with pytest.raises(ValueError, match="missing controlled joints: \\['R_thumb_proximal_yaw_joint'"):
        load_excitation(_csv(tmp_path, "time_s," + ",".join(names[:20] + names[21:]), ["0.0," + ",".join(["0.0"] * 25)]))
    with pytest.raises(ValueError, match="not in the GR1 joint table: \\['elbow'\\]"):
        load_excitation(_csv(tmp_path, "time_s," + ",".join(names[:25] + ["elbow"]), ["0.0," + zeros]))
    with pytest.raises(ValueError, match="not evenly spaced"):
        load_excitation(_csv(tmp_path, "time_s," + ",".join(names), ["0.0," + zeros, "0.02," + zeros, "0.1," + zeros]))
    with pytest.raises(ValueError, match="outside the joint limits"):
        load_excitation(_csv(tmp_path, "time_s," + ",".join(names), ["0.0," + ",".join(["3.5"] * 26)]))
    with pytest.raises(FileNotFoundError):
        load_excitation(tmp_path / "none.csv")
