"""Every bad input raises an error that says what is wrong, or is handled and counted."""

import shutil

import numpy as np
import pytest
from autotune_helpers import simple_streams, write_custom_bag
from dexmani_training.autotune.bag import (
    BagError,
    DataQualityError,
    JointNameError,
    MissingTopicError,
    read_bag,
)
from dexmani_training.autotune.cli import main
from dexmani_training.autotune.config import IngestConfig

from gr1_description import joints as jt


def test_missing_topics_list_what_the_bag_has(tmp_path):
    states, _ = simple_streams()
    bag = write_custom_bag(tmp_path / "b", states, None, extra_topics=[("/tf", "tf2_msgs/msg/TFMessage")])
    with pytest.raises(MissingTopicError) as e:
        read_bag(bag)
    msg = str(e.value)
    assert "lacks topic(s) ['/joint_commands']" in msg
    assert "/joint_states [sensor_msgs/msg/JointState]" in msg and "/tf [tf2_msgs/msg/TFMessage]" in msg


def test_wrong_topic_type_is_named(tmp_path):
    states, commands = simple_streams()
    bag = write_custom_bag(tmp_path / "b", states, commands, state_topic="/js", extra_topics=[("/joint_states", "std_msgs/msg/String")])
    with pytest.raises(MissingTopicError, match="state topic /joint_states has type std_msgs/msg/String"):
        read_bag(bag)
    rec = read_bag(bag, IngestConfig(state_topic="/js"))
    assert rec.t_s.size > 100


def test_unknown_joint_names_are_named(tmp_path):
    states, commands = simple_streams()
    names = list(jt.joint_names())
    names[3] = "left_elbow_joint"
    states = [(a, b, names, q) for a, b, _, q in states]
    with pytest.raises(JointNameError, match=r"not in the GR1 joint table or robot model: \['left_elbow_joint'\]"):
        read_bag(write_custom_bag(tmp_path / "b", states, commands))


def test_missing_controlled_joints_are_named(tmp_path):
    states, commands = simple_streams()
    commands = [(a, b, n[:-1], q[:-1]) for a, b, n, q in commands]
    with pytest.raises(JointNameError, match=r"commands lack controlled joints: \['R_pinky_proximal_joint'\]"):
        read_bag(write_custom_bag(tmp_path / "b", states, commands))


def test_extra_robot_joints_are_ignored_and_reported(tmp_path):
    states, commands = simple_streams()
    names = list(jt.joint_names()) + ["waist_yaw_joint", "left_knee_pitch_joint"]
    states = [(a, b, names, np.concatenate([q, [0.0, 0.1]])) for a, b, _, q in states]
    rec = read_bag(write_custom_bag(tmp_path / "b", states, commands))
    assert rec.source["quality"]["ignored_joints"] == ["left_knee_pitch_joint", "waist_yaw_joint"]


def test_unsorted_duplicate_and_nan_messages_are_counted(tmp_path):
    states, commands = simple_streams()
    clean = read_bag(write_custom_bag(tmp_path / "clean", states, commands))
    bad = list(states)
    for i in (10, 50):  # header stamps out of order (the recorder's log times stay in order)
        (la, sa, na, qa), (lb, sb, nb, qb) = bad[i], bad[i + 1]
        bad[i], bad[i + 1] = (la, sb, nb, qb), (lb, sa, na, qa)
    bad.insert(30, bad[30])  # duplicate stamp
    q = bad[70][3].copy()
    q[5] = np.nan
    bad[70] = (bad[70][0], bad[70][1], bad[70][2], q)  # NaN
    cmds = list(commands)
    cq = cmds[20][3].copy()
    cq[0] = np.nan
    cmds[20] = (cmds[20][0], cmds[20][1], cmds[20][2], cq)
    rec = read_bag(write_custom_bag(tmp_path / "bad", bad, cmds))
    qual = rec.source["quality"]
    assert qual["state_unsorted"] == 2
    assert qual["state_duplicates"] == 1
    assert qual["state_nan_rows"] == 1
    assert qual["command_nan_rows"] == 1
    assert np.all(np.isfinite(rec.q_rad)) and np.all(np.isfinite(rec.cmd_rad))
    np.testing.assert_allclose(rec.q_rad, clean.q_rad, atol=2e-3)  # the dropped row is interpolated over


def test_gaps_are_left_out_of_the_metric_or_refused(tmp_path):
    states, commands = simple_streams(duration_s=10.0)
    gappy = [s for s in states if not 4.0 < s[1] < 4.5]  # a 0.5 s hole
    rec = read_bag(write_custom_bag(tmp_path / "g", gappy, commands))
    assert rec.source["quality"]["state_gaps"] == 1
    assert rec.source["quality"]["state_gap_time_s"] == pytest.approx(0.51, abs=0.011)
    assert (~rec.valid).sum() == pytest.approx(25, abs=1)  # 0.5 s at 50 Hz
    assert not rec.valid[rec.t_s.searchsorted(4.25)]
    holes = [s for s in states if not (2.0 < s[1] < 4.0 or 5.0 < s[1] < 7.0)]
    with pytest.raises(DataQualityError, match="lies in state gaps longer than 0.1 s"):
        read_bag(write_custom_bag(tmp_path / "h", holes, commands))


def test_too_short_overlap_is_refused(tmp_path):
    states, commands = simple_streams(duration_s=3.0)
    with pytest.raises(DataQualityError, match="overlap for 2.99 s, need at least 5.0 s"):
        read_bag(write_custom_bag(tmp_path / "s", states, commands))


def test_header_stamps_on_another_clock_fall_back_to_log_time(tmp_path):
    states, commands = simple_streams()
    states = [(a, b + 1000.0, n, q) for a, b, n, q in states]  # robot clock 1000 s off
    rec = read_bag(write_custom_bag(tmp_path / "c", states, commands))
    assert rec.source["quality"]["state_clock"].startswith("log time (header stamps +1000")


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_truncated_bag_is_a_clear_error(tmp_path, proxy_bag, storage):
    from autotune_helpers import write_recording
    from gr1_description.physics import PhysicsParams
    from gr1_sim.proxy import ProxyConfig, ProxyRobot

    t = np.arange(0, 8, 0.02)
    cmd = np.tile(np.clip(np.zeros(26), jt.lower_limits(), jt.upper_limits()), (t.size, 1))
    rec = ProxyRobot(PhysicsParams.default(), ProxyConfig()).run(t, cmd)
    bag = write_recording(tmp_path / "b", rec, storage=storage)
    data = next(p for p in bag.iterdir() if p.suffix in (".db3", ".mcap"))
    raw = data.read_bytes()
    data.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BagError, match="cannot read bag"):
        read_bag(bag)


def test_not_a_bag_and_missing_bag(tmp_path, proxy_bag):
    with pytest.raises(FileNotFoundError, match="bag not found"):
        read_bag(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BagError, match="no metadata.yaml"):
        read_bag(empty)
    copy = tmp_path / "copy"
    shutil.copytree(proxy_bag, copy)
    (copy / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8}\n")
    with pytest.raises(BagError, match="cannot read bag"):
        read_bag(copy)


def test_cli_writes_nothing_on_error_and_never_overwrites(tmp_path, proxy_bag, capsys):
    out = tmp_path / "tuned.yaml"
    rc = main(["autotune", "--bag", str(tmp_path / "nothing"), "--out", str(out), "--quiet"])
    assert rc == 2 and not out.exists()
    assert "bag not found" in capsys.readouterr().err
    rc = main(["autotune", "--bag", str(proxy_bag), "--out", str(out), "--command-topic", "/cmd", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists() and "lacks topic(s) ['/cmd']" in err
    assert list(tmp_path.iterdir()) == []  # no temporary files left either
    out.write_text("precious\n")
    rc = main(["autotune", "--bag", str(proxy_bag), "--out", str(out), "--quiet"])
    assert rc == 2 and out.read_text() == "precious\n"
    assert "exists; pass --force" in capsys.readouterr().err
