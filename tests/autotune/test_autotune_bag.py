"""Bag ingestion: both storage formats, both typestores (Humble and Jazzy on-disk formats), all
three command types; the arrays come back as the proxy robot produced them."""

import sqlite3

import numpy as np
import pytest
import yaml
from autotune_helpers import write_recording
from dexmani_training.autotune.bag import Recording, list_topics, read_bag
from dexmani_training.autotune.config import IngestConfig

from gr1_description import joints as jt


def _check_matches(rec: Recording, proxy):
    """Grid data equals the proxy's measurement (interpolated) and the commands are intact."""
    assert rec.rate_hz == 50.0
    np.testing.assert_allclose(np.diff(rec.t_s), 0.02)
    # The grid starts at the first command (t = 0 of the proxy) and ends at the last state.
    assert rec.duration_s == pytest.approx(proxy.state_t_s[-1], abs=0.021)
    for k in (0, 100, 700):
        i = int(np.argmin(np.abs(proxy.state_t_s - rec.t_s[k])))
        assert proxy.state_t_s[i] == pytest.approx(rec.t_s[k], abs=1e-6)
        np.testing.assert_allclose(rec.q_rad[k], proxy.position_rad[i, :26], atol=1e-9)
        np.testing.assert_allclose(rec.mimic_q_rad[k], proxy.position_rad[i, 26:], atol=1e-9)
    np.testing.assert_allclose(rec.cmd_rad, proxy.command_rad)
    np.testing.assert_allclose(rec.cmd_t_s, proxy.command_t_s, atol=2e-3)
    assert rec.valid.all()


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_both_storages_and_typestores(tmp_path, proxy_recording, storage, distro):
    bag = write_recording(tmp_path / "bag", proxy_recording, storage=storage, distro=distro)
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == storage
    topic_meta = meta["topics_with_message_count"][0]["topic_metadata"]
    if distro == "humble":  # what Humble's rosbag2 writes: version 5, no type hashes
        assert meta["version"] == 5 and "type_description_hash" not in topic_meta
        if storage == "sqlite3":
            db = sqlite3.connect(next(bag.glob("*.db3")))
            assert db.execute("SELECT schema_version FROM schema").fetchone()[0] == 3
            assert not db.execute("SELECT name FROM sqlite_master WHERE name='message_definitions'").fetchall()
    else:
        assert meta["version"] == 8 and topic_meta["type_description_hash"].startswith("RIHS01_")
    rec = read_bag(bag)
    _check_matches(rec, proxy_recording)
    assert rec.source["quality"]["state_clock"] == "header stamps"
    assert rec.source["quality"]["velocity"] == "measured"
    assert list_topics(bag) == {"/joint_states": "sensor_msgs/msg/JointState", "/joint_commands": "sensor_msgs/msg/JointState"}


@pytest.mark.parametrize("command_type", ["float64_multi_array", "joint_trajectory"])
def test_other_command_types(tmp_path, proxy_recording, command_type):
    bag = write_recording(tmp_path / "bag", proxy_recording, command_type=command_type, storage="mcap", compress=True)
    rec = read_bag(bag)
    np.testing.assert_allclose(rec.cmd_rad, proxy_recording.command_rad)
    # Float64MultiArray has no header: commands are timed by their log (receive) time.
    expected = "log time" if command_type == "float64_multi_array" else "header stamps"
    assert rec.source["quality"]["command_clock"] == expected
    np.testing.assert_allclose(rec.cmd_t_s, proxy_recording.command_t_s, atol=2e-3)


def test_float64_multi_array_uses_the_configured_joint_order(tmp_path, proxy_recording):
    order = list(reversed(jt.joint_names()))
    idx = [jt.joint_names().index(n) for n in order]
    from dexmani_training.autotune.bagwrite import write_joint_bag

    r = proxy_recording
    bag = write_joint_bag(tmp_path / "bag", state_t_s=r.state_t_s, state_names=r.state_names, position=r.position_rad,
                          command_t_s=r.command_t_s, command_names=order, command=r.command_rad[:, idx],
                          command_type="float64_multi_array")
    rec = read_bag(bag, IngestConfig(command_joint_order=tuple(order)))
    np.testing.assert_allclose(rec.cmd_rad, r.command_rad)
    wrong = read_bag(bag)  # canonical order assumed: the values land on the wrong joints
    assert not np.allclose(wrong.cmd_rad, r.command_rad)


def test_velocity_is_differentiated_when_the_bag_has_none(tmp_path, proxy_recording):
    from dexmani_training.autotune.bagwrite import write_joint_bag

    r = proxy_recording
    bag = write_joint_bag(tmp_path / "bag", state_t_s=r.state_t_s, state_names=r.state_names[:26], position=r.position_rad[:, :26],
                          command_t_s=r.command_t_s, command_names=r.command_names, command=r.command_rad)
    rec = read_bag(bag)
    assert rec.source["quality"]["velocity"] == "differentiated"
    assert rec.mimic_q_rad is None and not rec.source["mimic_measured"]
    true_v = np.interp(rec.t_s, r.state_t_s, r.velocity_rad_s[:, 3])
    assert np.corrcoef(rec.qd_rad_s[:, 3], true_v)[0, 1] > 0.95


def test_split_holds_out_the_end(proxy_bag):
    rec = read_bag(proxy_bag)
    train, val = rec.split(0.2)
    assert train.t_s[0] == 0 and val.t_s[0] == 0
    assert val.duration_s == pytest.approx(0.2 * rec.duration_s, abs=0.05)
    np.testing.assert_array_equal(val.q_rad[0], train.q_rad[-1])  # contiguous
    # Commands are kept whole, shifted into the segment's time.
    assert val.cmd_t_s[0] < 0 < val.cmd_t_s[-1]
