"""Task-aware initialization: init-state libraries (sampling, files, errors), environments that
start from them, keyboard teleop and rosbag2 recordings that make them."""

import json

import numpy as np
import pytest
from dexmani_training.cli import main
from dexmani_training.init_library import (
    InitLibrary,
    InitLibraryError,
    load_task_library,
)
from dexmani_training.tasks import task_config
from dexmani_training.tasks.base import LEFT, RIGHT, ready_pose

from gr1_description import joints as jt

NAMES = list(jt.joint_names())


def _yaw_quat(yaw):
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def make_library(k=5, seed=0, table_z=0.82 + 0.025):
    """K distinct states within the joint limits: the ready pose plus small offsets, the cube on
    the table at different places and yaws."""
    rng = np.random.default_rng(seed)
    lo, hi = jt.lower_limits(), jt.upper_limits()
    q = np.clip(ready_pose() + rng.uniform(-0.05, 0.05, (k, 26)), lo + 1e-3, hi - 1e-3)
    pos = np.stack([rng.uniform(0.30, 0.38, k), rng.uniform(-0.2, -0.1, k), np.full(k, table_z)], axis=1)
    quat = np.array([_yaw_quat(y) for y in rng.uniform(-0.5, 0.5, k)])
    return InitLibrary(q, np.concatenate([pos, quat], axis=1), {"task": "grasp_and_reach", "note": "test"})


def _save_npz(path, names, joint_pos, object_pose, meta="{}"):
    with open(path, "wb") as f:
        np.savez(f, joint_names=np.array(names), joint_pos=joint_pos, object_pose=object_pose, meta=np.array(meta))


def _row_of(lib, q):
    hits = [i for i in range(len(lib)) if np.array_equal(lib.joint_pos[i], q)]
    assert len(hits) == 1, "sample is not exactly one library row"
    return hits[0]


# --- the library itself ---------------------------------------------------------------------
def test_sampling_returns_exact_recorded_rows():
    lib = make_library(5)
    rng = np.random.default_rng(0)
    jp, op = lib.sample(50, rng)
    assert jp.shape == (50, 26) and op.shape == (50, 7)
    rows = [_row_of(lib, q) for q in jp]
    for r, o in zip(rows, op):
        np.testing.assert_array_equal(o, lib.object_pose[r])  # joint and object state from the same row
    assert len(set(rows)) == 5  # every state gets used
    # Same generator state, same samples; copies, so a caller cannot corrupt the library.
    jp2, _ = lib.sample(50, np.random.default_rng(0))
    np.testing.assert_array_equal(jp, jp2)
    jp[:] = 0.0
    assert not np.all(lib.joint_pos == 0.0)


def test_save_load_round_trip(tmp_path):
    lib = make_library(4)
    path = lib.save(tmp_path / "sub" / "lib.npz")
    assert path.is_file()
    back = InitLibrary.load(path)
    assert len(back) == 4
    np.testing.assert_allclose(back.joint_pos, lib.joint_pos, atol=1e-6)
    np.testing.assert_allclose(back.object_pose, lib.object_pose, atol=1e-6)
    assert back.meta == lib.meta
    np.testing.assert_array_equal(back.lead_hand, [-1, -1, -1, -1])  # not given: not known
    lib.lead_hand[:] = [0, 1, -1, 1]
    lib.save(path, force=True)
    np.testing.assert_array_equal(InitLibrary.load(path).lead_hand, [0, 1, -1, 1])
    np.testing.assert_array_equal(lib.mirrored().lead_hand, [1, 0, -1, 0])  # left and right swap
    np.testing.assert_array_equal(lib.concat(lib.mirrored()).lead_hand, [0, 1, -1, 1, 1, 0, -1, 0])
    with pytest.raises(InitLibraryError, match="lead_hand"):
        InitLibrary(lib.joint_pos, lib.object_pose, lead_hand=[0, 1, 2, 1])
    with np.load(path) as data:
        assert [str(n) for n in data["joint_names"]] == NAMES
    # Never overwrite without force; .npz only.
    with pytest.raises(FileExistsError, match="force"):
        lib.save(path)
    lib.save(path, force=True)
    with pytest.raises(InitLibraryError, match=r"\.npz"):
        lib.save(tmp_path / "lib.txt")
    assert load_task_library("grasp_and_reach", path).meta == lib.meta
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["lib.npz"]  # no temp files left


def test_joint_names_that_do_not_match_are_named(tmp_path):
    lib = make_library(2)
    names = list(NAMES)
    names[3] = "left_elbow_bogus_joint"
    bad = tmp_path / "bad.npz"
    _save_npz(bad, names, lib.joint_pos, lib.object_pose)
    with pytest.raises(InitLibraryError) as e:
        InitLibrary.load(bad)
    msg = str(e.value)
    assert "left_elbow_bogus_joint" in msg and NAMES[3] in msg and "joint table" in msg
    # Fewer joints: the missing ones are named.
    short = tmp_path / "short.npz"
    _save_npz(short, NAMES[:-1], lib.joint_pos[:, :-1], lib.object_pose)
    with pytest.raises(InitLibraryError, match=NAMES[-1]):
        InitLibrary.load(short)


def test_wrong_joint_pos_width_with_the_right_names_is_an_init_library_error(tmp_path, capsys):
    lib = make_library(2)
    bad = tmp_path / "narrow.npz"
    _save_npz(bad, NAMES, lib.joint_pos[:, :25], lib.object_pose)
    with pytest.raises(InitLibraryError, match="26"):
        InitLibrary.load(bad)


def test_same_joints_in_another_order_are_reordered(tmp_path):
    lib = make_library(3)
    perm = np.random.default_rng(0).permutation(26)
    path = tmp_path / "perm.npz"
    _save_npz(path, [NAMES[i] for i in perm], lib.joint_pos[:, perm], lib.object_pose)
    np.testing.assert_allclose(InitLibrary.load(path).joint_pos, lib.joint_pos)


@pytest.mark.parametrize(
    "joint_pos, object_pose, match",
    [
        (np.zeros((3, 25)), np.tile([0, 0, 1, 1, 0, 0, 0], (3, 1)), "K×26"),
        (np.zeros((3, 26)), np.tile([0, 0, 1, 1, 0, 0], (3, 1)), "3×7"),
        (np.zeros((3, 26)), np.tile([0, 0, 1, 1, 0, 0, 0], (2, 1)), "3×7"),
        (np.zeros((0, 26)), np.zeros((0, 7)), "at least one"),
        (np.full((2, 26), np.nan), np.tile([0, 0, 1, 1, 0, 0, 0], (2, 1)), "NaN"),
        (np.zeros((2, 26)), np.array([[0, 0, 1, 1, 0, 0, 0], [0, 0, np.inf, 1, 0, 0, 0]]), "NaN or infinite"),
        (np.zeros((2, 26)), np.tile([0, 0, 1, 0, 0, 0, 0], (2, 1)), "zero length"),
    ],
)
def test_bad_arrays_are_refused(joint_pos, object_pose, match):
    with pytest.raises(InitLibraryError, match=match):
        InitLibrary(joint_pos, object_pose)


def test_bad_files_are_refused(tmp_path):
    lib = make_library(2)
    nan = tmp_path / "nan.npz"
    jp = lib.joint_pos.copy()
    jp[1, 4] = np.nan
    _save_npz(nan, NAMES, jp, lib.object_pose)
    with pytest.raises(InitLibraryError, match="NaN"):
        InitLibrary.load(nan)
    wrong = tmp_path / "wrong.npz"
    _save_npz(wrong, NAMES, lib.joint_pos, lib.object_pose[:, :6])
    with pytest.raises(InitLibraryError, match="×7"):
        InitLibrary.load(wrong)
    no_names = tmp_path / "no_names.npz"
    np.savez(no_names, joint_pos=lib.joint_pos, object_pose=lib.object_pose)
    with pytest.raises(InitLibraryError, match="not an init library"):
        InitLibrary.load(no_names)
    with pytest.raises(FileNotFoundError):
        InitLibrary.load(tmp_path / "missing.npz")


def test_quaternions_are_normalized_and_joints_clipped():
    q = np.tile(jt.upper_limits() + 0.5, (1, 1))
    lib = InitLibrary(q, [[0.3, 0.0, 0.9, 2.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(lib.object_pose[0, 3:], [1, 0, 0, 0])
    np.testing.assert_allclose(lib.joint_pos[0], jt.upper_limits())


# --- environments that start from a library ---------------------------------------------------
def test_env_with_probability_one_starts_from_library_states(small_env, tmp_path):
    lib = make_library(3)
    path = lib.save(tmp_path / "lib.npz")
    env = small_env("grasp_and_reach", num_envs=6, init={"use_library": True, "library": str(path), "probability": 1.0})
    loaded = InitLibrary.load(path)
    assert env.from_library.all()
    rows = [_row_of(loaded, q) for q in env.init_library.joint_pos]  # the env holds the file's library
    assert rows == [0, 1, 2]
    used = set()
    for i in range(env.num_envs):
        q = env.sim.joint_pos()[i]
        r = int(np.argmin(np.abs(loaded.joint_pos - q).max(axis=1)))
        np.testing.assert_allclose(q, loaded.joint_pos[r], atol=1e-12)
        np.testing.assert_allclose(env.sim.object_pose()[i], loaded.object_pose[r], atol=1e-12)
        np.testing.assert_allclose(env.targets[i], loaded.joint_pos[r], atol=1e-12)  # held where it starts
        used.add(r)
    assert len(used) > 1
    # Episode records say where the episode started.
    env.reset()
    assert env.from_library.all()


def test_position_and_yaw_jitter_spare_library_states(small_env):
    """Object position / yaw jitter applies to nominal placements only: a library state may have
    the object in the hand."""
    lib = make_library(2)
    env = small_env("grasp_and_reach", num_envs=6, enabled=("object_position", "object_yaw"), init_library=lib,
                    init={"probability": 0.5}, seed=2)
    assert 0 < env.from_library.sum() < 6
    for i in range(6):
        pose = env.sim.object_pose()[i]
        if env.from_library[i]:
            r = _row_of(lib, env.sim.joint_pos()[i])
            np.testing.assert_allclose(pose, lib.object_pose[r], atol=1e-12)
        else:
            np.testing.assert_allclose(env.sim.joint_pos()[i], ready_pose(), atol=1e-12)
            yaw = 2 * np.arctan2(pose[6], pose[3])
            assert 0 < abs(yaw) <= 0.75 + 1e-9  # nominal placements are jittered


def test_shipped_default_libraries_load_and_are_used(small_env):
    for task in ("grasp_and_reach", "box_lift", "handover"):
        lib = load_task_library(task)
        assert lib is not None and len(lib) > 10 and lib.meta["task"] == task
        assert np.all(lib.object_pose[:, 2] > 0.82)  # objects on or above the table
    env = small_env("grasp_and_reach", num_envs=8, init={"use_library": True, "probability": 1.0})
    assert env.init_library is not None and env.from_library.all()
    lib = load_task_library("grasp_and_reach")
    for q in env.sim.joint_pos():
        assert np.min(np.abs(lib.joint_pos - q).max(axis=1)) < 1e-12


def test_a_shipped_library_is_found_by_name(small_env, tmp_path, monkeypatch):
    lib = load_task_library("handover", "handover_bar")
    assert lib.meta["object"] == "bar_5x18x5cm" and lib.meta["task"] == "handover"
    assert np.all(lib.lead_hand >= 0) and np.any(lib.stage == 3)  # rollouts: roles and stages kept
    assert len(load_task_library("handover", "handover_bar.npz")) == len(lib)
    with pytest.raises(FileNotFoundError, match="shipped: .*handover_bar"):
        load_task_library("handover", "handover_baz")
    # A file of that name in the working directory is a path, and wins.
    monkeypatch.chdir(tmp_path)
    make_library(3).save(tmp_path / "handover_bar.npz")
    assert len(load_task_library("handover", "handover_bar.npz")) == 3
    env = small_env("handover", num_envs=2, objects="bar_5x18x5cm", init={"use_library": True, "library": "handover_bar", "probability": 1.0})
    assert env.from_library.all()


def test_grip_closes_the_finger_targets_of_hands_touching_the_object(small_env):
    """init.grip_rad: on a library reset, each hand touching the object gets finger targets that
    much further closed than its recorded fingers; the other hand and the arms keep theirs."""
    from dexmani_training.init_library import DATA_DIR
    from dexmani_training.tasks.base import LEFT, RIGHT, _arm_mask, hand_open_closed, side_mask

    src = InitLibrary.load(DATA_DIR / "handover_bar.npz")
    rows = np.flatnonzero(src.stage < 0)[:6]  # the grasp specialist's one-hand grasps
    lib = InitLibrary(src.joint_pos[rows], src.object_pose[rows], src.meta, src.lead_hand[rows], src.stage[rows])
    envs = {g: small_env("handover", num_envs=6, init_library=lib, objects="bar_5x18x5cm",
                         init={"probability": 1.0, "grip_rad": g}) for g in (0.0, 0.3)}
    for env in envs.values():
        env.reset()
    plain, gripped = envs[0.0], envs[0.3]
    np.testing.assert_allclose(plain.targets, plain.sim.joint_pos(), atol=1e-9)  # recorded positions
    touch = gripped.sim.contacts()[:, :2]
    assert touch.any() and not touch.all()
    open_q, closed_q = hand_open_closed()
    closing = np.sign(closed_q - open_q)
    lo, hi = jt.lower_limits(), jt.upper_limits()
    for i in range(6):
        q = gripped.sim.joint_pos()[i]
        for side in (LEFT, RIGHT):
            fingers = ~_arm_mask() & side_mask(side)
            want = np.clip(q[fingers] + 0.3 * closing[fingers], lo[fingers], hi[fingers]) if touch[i, side] else q[fingers]
            np.testing.assert_allclose(gripped.targets[i, fingers], want, atol=1e-9)
        np.testing.assert_allclose(gripped.targets[i, _arm_mask()], q[_arm_mask()], atol=1e-9)
    assert np.any(np.abs(gripped.targets - plain.targets) > 0.1)
    np.testing.assert_allclose(gripped.commanded, gripped.targets)
    with pytest.raises(ValueError, match="grip_rad"):
        task_config("handover", {"init": {"grip_rad": -0.1}}).validate()


def test_env_with_probability_zero_or_library_off_uses_the_nominal_start(small_env):
    lib = make_library(2)
    for init in ({"probability": 0.0}, {"probability": 1.0, "use_library": False}):
        env = small_env("grasp_and_reach", num_envs=3, init_library=lib, init=init)
        assert not env.from_library.any()
        np.testing.assert_allclose(env.sim.joint_pos(), np.tile(ready_pose(), (3, 1)), atol=1e-12)


def test_env_with_a_bad_library_file_fails(small_env, tmp_path):
    lib = make_library(2)
    names = list(NAMES)
    names[0] = "tail_joint"
    bad = tmp_path / "bad.npz"
    _save_npz(bad, names, lib.joint_pos, lib.object_pose)
    with pytest.raises(InitLibraryError, match="tail_joint"):
        small_env("grasp_and_reach", num_envs=1, init={"use_library": True, "library": str(bad), "probability": 0.5})


# --- teleop -----------------------------------------------------------------------------------------
def test_parse_key_script():
    from dexmani_training.teleop import parse_key_script

    text = "w*3 a  # three forward, one left\n\n# a comment line\nspace tab r*2 .\nx\n"
    assert parse_key_script(text) == ["w", "w", "w", "a", "space", "tab", "r", "r", ".", "x"]
    assert parse_key_script("") == []
    with pytest.raises(ValueError) as e:
        parse_key_script("w q")
    assert "'q'" in str(e.value) and "valid keys" in str(e.value) and "space" in str(e.value)
    with pytest.raises(ValueError, match="repeat count"):
        parse_key_script("w*two")


@pytest.fixture(scope="module")
def teleop_session():
    from dexmani_training.teleop import TeleopSession

    return TeleopSession("grasp_and_reach")


@pytest.mark.parametrize("key, axis, sign", [("w", 0, 1), ("a", 1, 1), ("r", 2, 1), ("d", 1, -1), ("f", 2, -1)])
def test_teleop_keys_move_the_hand_point(teleop_session, key, axis, sign):
    from dexmani_training.teleop import RIGHT

    s = teleop_session
    s.press("n")
    assert s.side == RIGHT
    for _ in range(6):  # settle at the ready pose
        s.press(".")
    p0, other0 = s.hand_point().copy(), s.hand_point(1 - RIGHT).copy()
    for _ in range(4):
        s.press(key)
    for _ in range(4):
        s.press(".")
    d = s.hand_point() - p0
    assert sign * d[axis] > 0.025, d  # 4 presses of 1 cm
    others = [a for a in range(3) if a != axis]
    assert np.all(np.abs(d[others]) < 0.015), d
    # The other hand stayed where it was.
    assert np.linalg.norm(s.hand_point(1 - RIGHT) - other0) < 0.005


def test_teleop_tab_switches_hand_and_space_closes_it(teleop_session):
    from dexmani_training.teleop import LEFT, RIGHT

    s = teleop_session
    s.press("n")
    for _ in range(8):
        s.press(".")
    right0, left0 = s.hand_point(RIGHT).copy(), s.hand_point(LEFT).copy()
    s.press("tab")
    assert s.side == LEFT
    for _ in range(4):
        s.press("a")
    for _ in range(4):
        s.press(".")
    assert s.hand_point(LEFT)[1] - left0[1] > 0.025
    assert np.linalg.norm(s.hand_point(RIGHT) - right0) < 0.02
    hand = s.hand_idx[LEFT]
    q_open = s.sim.joint_pos()[0, hand].copy()
    s.press("space")
    for _ in range(4):
        s.press(".")
    assert s.closure[LEFT] == 1.0 and s.closure[RIGHT] == 0.0
    assert np.abs(s.sim.joint_pos()[0, hand] - q_open).max() > 0.3
    assert s.press("x") is False


def test_run_teleop_with_a_key_script_makes_a_thinned_library(tmp_path):
    from dexmani_training.teleop import TeleopSession, parse_key_script, run_teleop

    keys = tmp_path / "keys.txt"
    keys.write_text("w*4  # reach forward\nr*2 .*4\n")
    lib = run_teleop("grasp_and_reach", None, keys, every_s=0.25)
    presses = 10
    steps = presses * 2  # steps_per_key
    assert lib.meta["task"] == "grasp_and_reach" and lib.meta["object"] == "cube_5cm"
    assert lib.meta["source"] == {"kind": "teleop", "keys": str(keys), "presses": presses}
    assert lib.meta["recorded_steps"] == steps and lib.meta["every_s"] == 0.25
    stride = round(0.25 / lib.meta["control_dt_s"])
    assert stride == 5
    assert len(lib) == len(range(0, steps, stride)) == 4
    # The rows are every 5th recorded control step of the same (deterministic) session.
    s = TeleopSession("grasp_and_reach")
    for k in parse_key_script(keys.read_text()):
        s.press(k)
    np.testing.assert_allclose(lib.joint_pos, np.clip(np.array(s.states_q)[::5], jt.lower_limits(), jt.upper_limits()))
    np.testing.assert_allclose(lib.object_pose, np.array(s.states_obj)[::5])
    # x ends the script early.
    keys.write_text("w*3 x w*5")
    lib = run_teleop("grasp_and_reach", "sphere_r3cm", keys, every_s=0.1)
    assert lib.meta["recorded_steps"] == 6 and lib.meta["object"] == "sphere_r3cm"
    assert len(lib) == 3  # steps 0, 2, 4
    with pytest.raises(FileNotFoundError):
        run_teleop("grasp_and_reach", None, tmp_path / "nope.txt")


def test_cli_init_record_teleop_and_show(tmp_path, capsys):
    keys = tmp_path / "keys.txt"
    keys.write_text("w*2 .*3")
    out = tmp_path / "lib.npz"
    argv = ["init", "record", "--task", "grasp_and_reach", "--teleop", "--keys", str(keys), "--out", str(out)]
    assert main(argv) == 0
    assert "2 states" in capsys.readouterr().out
    assert len(InitLibrary.load(out)) == 2
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["init", "show", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["states"] == 2 and info["meta"]["source"]["kind"] == "teleop"
    assert info["lead_hand"] == {"left": 0, "right": 0, "not_known": 2} and info["stage"] == {"not_known": 2}  # teleop knows neither
    assert main(["init", "record", "--task", "pour", "--teleop", "--keys", str(keys), "--out", str(tmp_path / "o.npz")]) == 2
    assert "valid tasks" in capsys.readouterr().err


# --- rosbag2 recordings -------------------------------------------------------------------------
EXTRA = ["waist_yaw_joint", "head_pitch_joint", "L_index_intermediate_joint"]
BAG_T0_NS = 1_700_000_000_000_000_000


def joint_values(idx):
    """Joint positions (canonical order) that encode the message index."""
    lo, hi = jt.lower_limits(), jt.upper_limits()
    return (lo + hi) / 2 + 0.001 * idx + 0.0001 * np.arange(26)


def write_bag(path, n=20, rate_hz=10.0, object_topic="/object_pose", missing=None, storage="sqlite3"):
    """A rosbag2 with JointState (joints in a shuffled order plus extra joints) and PoseStamped."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_JAZZY)
    T = ts.types
    perm = np.random.default_rng(0).permutation(26)
    names = [NAMES[i] for i in perm if NAMES[i] != missing] + EXTRA
    writer = Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3 if storage == "sqlite3" else StoragePlugin.MCAP)
    with writer:
        cj = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=ts)
        co = writer.add_connection(object_topic, "geometry_msgs/msg/PoseStamped", typestore=ts) if object_topic else None
        for i in range(n):
            t_ns = BAG_T0_NS + round(i / rate_hz * 1e9)
            stamp = T["builtin_interfaces/msg/Time"](sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)
            header = T["std_msgs/msg/Header"](stamp=stamp, frame_id="world")
            q = joint_values(i)
            pos = np.array([q[j] for j in perm if NAMES[j] != missing] + [0.1, 0.2, 0.3])
            js = T["sensor_msgs/msg/JointState"](header=header, name=names, position=pos,
                                                 velocity=np.zeros(0), effort=np.zeros(0))
            writer.write(cj, t_ns + 500_000, ts.serialize_cdr(js, "sensor_msgs/msg/JointState"))
            if co is not None:
                P = T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=0.3 + 0.001 * i, y=-0.1, z=0.85),
                                                orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
                ps = T["geometry_msgs/msg/PoseStamped"](header=header, pose=P)
                writer.write(co, t_ns + 700_000, ts.serialize_cdr(ps, "geometry_msgs/msg/PoseStamped"))
    return path


def _index_of(q):
    """Decode which message a library row came from."""
    return round((q[0] - joint_values(0)[0]) / 0.001)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_library_from_bag_matches_names_and_thins(tmp_path, storage):
    from dexmani_training.init_record import library_from_bag

    bag = write_bag(tmp_path / "bag", storage=storage)
    lib = library_from_bag(bag, "grasp_and_reach", "/joint_states", "/object_pose", every_s=0.5)
    idx = [_index_of(q) for q in lib.joint_pos]
    assert idx == [0, 5, 10, 15]  # one state per 0.5 s of 10 Hz messages
    for row, i in zip(lib.joint_pos, idx):
        np.testing.assert_allclose(row, joint_values(i), atol=1e-12)  # names matched, extras ignored
    np.testing.assert_allclose(lib.object_pose[:, 0], [0.3 + 0.001 * i for i in idx], atol=1e-12)
    np.testing.assert_allclose(lib.object_pose[:, 1:], np.tile([-0.1, 0.85, 1, 0, 0, 0], (4, 1)), atol=1e-12)
    assert lib.meta["task"] == "grasp_and_reach" and lib.meta["every_s"] == 0.5
    lib_all = library_from_bag(bag, "grasp_and_reach", "/joint_states", "/object_pose", every_s=0.1)
    assert len(lib_all) == 20


def test_library_from_bag_without_object_topic_uses_the_resting_object(tmp_path):
    from dexmani_training.init_record import library_from_bag

    bag = write_bag(tmp_path / "bag", object_topic=None)
    lib = library_from_bag(bag, "grasp_and_reach", "/joint_states", None, every_s=0.5)
    assert [_index_of(q) for q in lib.joint_pos] == [0, 5, 10, 15]
    # The task's object (a 5 cm cube) at rest on the 0.82 m table.
    np.testing.assert_allclose(lib.object_pose[:, 2], 0.82 + 0.025, atol=0.003)
    np.testing.assert_allclose(lib.object_pose[:, 3:], np.tile([1.0, 0, 0, 0], (4, 1)))


def test_library_from_bag_keeps_one_state_per_every_s_cell(tmp_path):
    from dexmani_training.init_record import library_from_bag

    bag = write_bag(tmp_path / "bag", n=40, rate_hz=10.0)
    for every_s in (0.25, 0.35, 1.0):
        idx = [_index_of(q) for q in library_from_bag(bag, "grasp_and_reach", "/joint_states", None, every_s).joint_pos]
        # The first message at or after each multiple of every_s: no drift with the message rate.
        expected = sorted({int(np.ceil(round(k * every_s * 10.0, 9))) for k in range(100) if k * every_s * 10.0 <= 39})
        assert idx == expected, (every_s, idx, expected)


def test_library_from_bag_errors(tmp_path):
    from dexmani_training.init_record import library_from_bag

    missing = NAMES[10]
    bag = write_bag(tmp_path / "missing", missing=missing)
    with pytest.raises(InitLibraryError, match=missing):
        library_from_bag(bag, "grasp_and_reach", "/joint_states", None, 0.25)
    bag = write_bag(tmp_path / "bag")
    with pytest.raises(ValueError) as e:
        library_from_bag(bag, "grasp_and_reach", "/robot/joint_states", None, 0.25)
    assert "/robot/joint_states" in str(e.value) and "/joint_states" in str(e.value)
    with pytest.raises(ValueError, match="/cube_pose"):
        library_from_bag(bag, "grasp_and_reach", "/joint_states", "/cube_pose", 0.25)
    with pytest.raises(ValueError, match="expected sensor_msgs/msg/JointState"):
        library_from_bag(bag, "grasp_and_reach", "/object_pose", None, 0.25)
    with pytest.raises(FileNotFoundError):
        library_from_bag(tmp_path / "nope", "grasp_and_reach", "/joint_states", None, 0.25)


def test_cli_init_record_from_bag(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag")
    out = tmp_path / "lib.npz"
    argv = ["init", "record", "--task", "grasp_and_reach", "--bag", str(bag), "--object-topic", "/object_pose",
            "--every-s", "0.5", "--out", str(out)]
    assert main(argv) == 0
    assert "4 states" in capsys.readouterr().out
    lib = InitLibrary.load(out)
    assert [_index_of(q) for q in lib.joint_pos] == [0, 5, 10, 15]
    assert lib.meta["source"]["kind"] == "rosbag2"
    bad = write_bag(tmp_path / "bad", missing=NAMES[0])
    assert main(argv[:5] + [str(bad), "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dexmani: error:") and NAMES[0] in err
    assert not (tmp_path / "x.npz").exists()


def test_library_from_a_policy_keeps_lifted_held_states(tmp_path, capsys):
    """The shipped grasp specialist's rollouts give states with the cube held ≥ 5 cm up; an env
    reset from them starts with the object off the table in the hand; a height no rollout reaches
    is an error that says so."""
    from dexmani_training.cli import main
    from dexmani_training.cli_rl import shipped_checkpoint
    from dexmani_training.init_policy import library_from_policy
    from dexmani_training.tasks import make_env, task_config

    ckpt = shipped_checkpoint("grasp_and_reach")
    lib = library_from_policy(ckpt, "grasp_and_reach", episodes=8, num_envs=8, num_threads=1)
    assert len(lib) > 0 and lib.meta["source"]["kind"] == "policy" and lib.meta["object"] == "cube_5cm"
    assert 1 <= lib.meta["episodes_with_states"] <= 8
    rest_z = 0.82 + 0.025
    assert np.all(lib.object_pose[:, 2] >= rest_z + 0.05 - 1e-6)
    env = make_env(task_config("grasp_and_reach", {"num_envs": 4, "randomization": {"enabled": []},
                                                   "init": {"probability": 1.0}}), seed=0, num_threads=1, init_library=lib)
    st = env._state()
    assert not st["contact_table"].any() and np.all(st["object_height"] >= 0.05 - 1e-6)
    # Each state keeps the hand that grasped in its episode; the reset gives that hand the task.
    assert np.isin(lib.lead_hand, (0, 1)).all()
    np.testing.assert_array_equal(env.active_side, env.library_lead_hand)
    touching = np.where(env.active_side == 0, st["contact_left"], st["contact_right"])
    assert touching.all()
    # Held and lifted: the episode had reached contact and pickup (its own task's stages).
    assert np.all(lib.stage >= 2)
    # Rollouts of another task's policy do not know this task's stages.
    other = library_from_policy(ckpt, "handover", episodes=32, num_envs=32, num_threads=1)
    assert np.all(other.stage == -1) and np.isin(other.lead_hand, (0, 1)).all()
    with pytest.raises(InitLibraryError, match="in none of 2 episodes"):
        library_from_policy(ckpt, "grasp_and_reach", episodes=2, num_envs=2, min_height_m=1.0, num_threads=1)
    out = tmp_path / "lib.npz"
    assert main(["init", "record", "--task", "grasp_and_reach", "--policy", str(ckpt), "--episodes", "8", "--out", str(out)]) == 0
    assert InitLibrary.load(out).meta["source"]["policy_task"] == "grasp_and_reach"


def test_library_from_a_policy_by_stage_and_from_library_states(tmp_path, capsys):
    """``stage`` keeps a subset of the same rollouts (only episodes that reached it); an unknown
    stage names the valid ones; ``from_library`` starts every rollout from the library's lifted
    states, so every episode yields states at once; ``--append`` writes old then new states."""
    from dexmani_training.cli import main
    from dexmani_training.cli_rl import shipped_checkpoint
    from dexmani_training.init_policy import library_from_policy

    ckpt = shipped_checkpoint("grasp_and_reach")
    kw = {"episodes": 8, "num_envs": 8, "num_threads": 1, "every_s": 1e-3}  # every control step: no thinning offsets
    every = library_from_policy(ckpt, "grasp_and_reach", **kw)
    picked = library_from_policy(ckpt, "grasp_and_reach", stage="success", **kw)
    assert 0 < len(picked) < len(every) and picked.meta["stage"] == "success"
    rows = {tuple(np.round(r, 6)) for r in every.joint_pos}
    assert all(tuple(np.round(r, 6)) in rows for r in picked.joint_pos)
    with pytest.raises(ValueError, match=r"'grip' is not a stage of grasp_and_reach.*'pickup'"):
        library_from_policy(ckpt, "grasp_and_reach", stage="grip", **kw)

    src = tmp_path / "lifted.npz"
    every.save(src)
    started = library_from_policy(ckpt, "grasp_and_reach", from_library=src, **kw)
    assert started.meta["from_library"] == str(src)
    assert started.meta["episodes_with_states"] > every.meta["episodes_with_states"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        library_from_policy(ckpt, "grasp_and_reach", from_library=tmp_path / "none.npz", **kw)

    out = tmp_path / "grown.npz"
    assert main(["init", "record", "--task", "grasp_and_reach", "--policy", str(ckpt), "--episodes", "8",
                 "--from-library", str(src), "--stage", "pickup", "--append", str(src), "--out", str(out)]) == 0
    grown = InitLibrary.load(out)
    assert len(grown) > len(every) and np.allclose(grown.joint_pos[: len(every)], every.joint_pos, atol=1e-5)
    assert grown.meta["parts"][0]["states"] == len(every) and grown.meta["parts"][1]["meta"]["stage"] == "pickup"
    assert main(["init", "record", "--task", "grasp_and_reach", "--teleop", "--stage", "pickup", "--out", str(tmp_path / "x.npz")]) != 0
    assert "need --policy" in capsys.readouterr().err


def test_library_from_a_policy_with_sampled_actions_differs_and_repeats(capsys):
    """``stochastic`` samples from the action distribution: other states than the mean action's,
    the same ones again for the same seed, recorded in the meta; --stochastic needs --policy."""
    from dexmani_training.cli import main
    from dexmani_training.cli_rl import shipped_checkpoint
    from dexmani_training.init_policy import library_from_policy

    ckpt = shipped_checkpoint("grasp_and_reach")
    kw = {"episodes": 4, "num_envs": 4, "num_threads": 1}
    mean = library_from_policy(ckpt, "grasp_and_reach", **kw)
    sampled = library_from_policy(ckpt, "grasp_and_reach", stochastic=True, **kw)
    again = library_from_policy(ckpt, "grasp_and_reach", stochastic=True, **kw)
    assert sampled.meta["stochastic"] is True and mean.meta["stochastic"] is False
    n = min(len(mean), len(sampled))
    assert len(mean) != len(sampled) or not np.allclose(mean.joint_pos[:n], sampled.joint_pos[:n], atol=1e-4)
    assert len(again) == len(sampled) and np.allclose(again.joint_pos, sampled.joint_pos)
    assert main(["init", "record", "--task", "grasp_and_reach", "--teleop", "--stochastic", "--out", "x.npz"]) != 0
    assert "need --policy" in capsys.readouterr().err


def test_library_from_a_policy_rolls_out_on_the_policy_s_own_objects(tmp_path):
    """Without --object, a policy of the library's task keeps the objects it was trained on (a
    handover policy trained on the bar grows a bar library, not a cylinder one); another task's
    policy gets the library task's default objects."""
    import torch
    from dexmani_training.cli_rl import shipped_checkpoint
    from dexmani_training.init_policy import library_from_policy

    d = torch.load(shipped_checkpoint("grasp_and_reach"), map_location="cpu", weights_only=False)
    d["dexmani"]["task_config"]["objects"] = "cube_6cm"
    ckpt = tmp_path / "cube6.pt"
    torch.save(d, ckpt)
    kw = {"episodes": 4, "num_envs": 4, "num_threads": 1}
    assert library_from_policy(ckpt, "grasp_and_reach", **kw).meta["object"] == "cube_6cm"
    # The grasp specialist lifts the handover cylinder in about a third of its episodes (5 of 16 at seed 0).
    assert library_from_policy(ckpt, "handover", **{**kw, "episodes": 16, "num_envs": 16}).meta["object"] == "cylinder_r3_h10cm"
    assert library_from_policy(ckpt, "grasp_and_reach", object_name="cube_4cm", **kw).meta["object"] == "cube_4cm"


def test_the_shipped_bar_handover_config_builds_an_env_on_the_bar_library(small_env):
    from pathlib import Path

    from dexmani_training.rl.train import make_task_config

    path = Path(__file__).resolve().parents[2] / "config" / "handover_bar.yaml"
    cfg = make_task_config("handover", path, {})
    assert (cfg.objects, cfg.sticker_pattern_a, cfg.sticker_pattern_b) == ("bar_5x18x5cm", "right_end", "left_end")
    env = small_env("handover", num_envs=4, objects=cfg.objects, init={**cfg.to_dict()["init"], "probability": 1.0})
    assert env.from_library.all() and env.init_library.meta["object"] == "bar_5x18x5cm"
    # Bar states: the bar's centre is 2.5 cm above the table when it rests, higher when held.
    assert np.all(env.sim.object_pose()[:, 2] > 0.82 + 0.02)


def test_library_states_by_recorded_stage(small_env, tmp_path):
    """``init.stages`` keeps the library's states recorded at those stages only (``with_stages``);
    a choice no state has is an error naming the stages the library does have."""
    base = make_library(6)
    lib = InitLibrary(base.joint_pos, base.object_pose, base.meta, np.array([1, 1, 0, 0, 1, -1]),
                      np.array([2, 3, 2, 3, -1, 2]))
    two = lib.with_stages([2])
    assert len(two) == 3 and (two.stage == 2).all() and two.meta["stages"] == [2]
    np.testing.assert_array_equal(two.joint_pos, lib.joint_pos[[0, 2, 5]])
    np.testing.assert_array_equal(two.lead_hand, [1, 0, -1])
    assert len(lib.with_stages([2, 3])) == 5
    with pytest.raises(InitLibraryError, match=r"no init library state has a stage in \[4\]; its stages: \[-1, 2, 3\]"):
        lib.with_stages([4])
    path = lib.save(tmp_path / "staged.npz")
    env = small_env("handover", num_envs=8, init={"use_library": True, "library": str(path), "probability": 1.0, "stages": [3]})
    assert len(env.init_library) == 2 and env.from_library.all()
    assert (env.library_stage == 3).all() and (env.stage == 3).all()  # resumed at the recorded stage
    for bad in ([-1], [1.5], [True]):
        with pytest.raises(ValueError, match="init.stages must be whole numbers"):
            task_config("handover", {"init": {"stages": bad}}).validate()


def test_the_b_drill_config_starts_every_episode_at_stage_2_with_hand_a_held(small_env):
    from pathlib import Path

    from dexmani_training.rl.train import make_task_config

    path = Path(__file__).resolve().parents[2] / "config" / "handover_bar_b_drill.yaml"
    cfg = make_task_config("handover", path, {})
    assert cfg.assist_hold_a and cfg.assist_release_probability == 1.0 and cfg.assist_release_trigger == "stage_2"
    assert not cfg.without_training_aids().assist_hold_a
    env = small_env("handover", num_envs=4, objects=cfg.objects, init=cfg.to_dict()["init"],
                    assist_release_probability=1.0, assist_release_trigger="stage_2", assist_hold_a=True)
    assert env.from_library.all() and (env.library_stage == 2).all() and (env.stage == 2).all()
    assert env.assist_drawn.all() and not env.assist_active.any()


def test_the_crossed_bar_config_puts_hand_a_on_the_end_towards_the_midline(small_env):
    """``config/handover_bar_crossed.yaml``: at a nominal reset, in both directions, hand A's
    stickers lie on the bar's end nearer the midline (smaller |y|) and B's on the far end; its
    hold gates and B's grip-weighted hold are on."""
    from pathlib import Path

    from dexmani_training.rl.train import make_task_config

    path = Path(__file__).resolve().parents[2] / "config" / "handover_bar_crossed.yaml"
    cfg = make_task_config("handover", path, {})
    assert (cfg.sticker_pattern_a, cfg.sticker_pattern_b) == ("left_end", "right_end")
    assert cfg.hold_b_weight > 0 and cfg.hold_b_min_contact_b > 0 and cfg.hold_min_contact_a_from_stage == 0
    env = small_env("handover", num_envs=16, objects=cfg.objects, sticker_pattern_a=cfg.sticker_pattern_a,
                    sticker_pattern_b=cfg.sticker_pattern_b)
    env.reset()
    a_y = env.stickers_world(LEFT).mean(axis=1)[:, 1]  # side LEFT: pattern A
    b_y = env.stickers_world(RIGHT).mean(axis=1)[:, 1]
    assert np.all(np.abs(a_y) < np.abs(b_y))
    # Hand A's end is on hand A's side of the bar's centre: towards the midline from it.
    centre_y = env.sim.object_pose()[:, 1]
    assert np.all(np.abs(a_y) < np.abs(centre_y)) and np.all(np.abs(b_y) > np.abs(centre_y))
    assert set(env.hand_a.tolist()) == {LEFT, RIGHT}  # both directions drawn
