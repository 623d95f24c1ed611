"""Demonstrations (``dexmani_training.demos``) and the trainer's pull towards them
(``ppo.demo_weight``, rl/bounded_ppo.py)."""

from __future__ import annotations

import json

import numpy as np
import yaml
import pytest
import torch
from dexmani_training.cli import main
from dexmani_training.demos import (
    DemoError,
    DemoSet,
    limit_push,
    record_handoff_demos,
    record_wait_demos,
    recording_config,
    replay_episode,
)
from dexmani_training.handoff import HandoffConfig
from dexmani_training.init_library import DATA_DIR
from dexmani_training.rl.train import TrainConfig, Trainer
from dexmani_training.tasks import make_env, task_config
from gr1_description import joints as jt

BAR = "bar_5x18x5cm"


@pytest.fixture(scope="module")
def bar_cfg():
    return task_config("handover", {"objects": BAR, "sticker_pattern_a": "right_end", "sticker_pattern_b": "left_end"})


@pytest.fixture(scope="module")
def recorded(bar_cfg):
    return record_handoff_demos(DATA_DIR / "handover_bar.npz", bar_cfg, episodes=12, seed=0,
                                handoff_cfg=HandoffConfig(hold_check_steps=100))


def _synthetic(n=40, obs_dim=10, task="grasp_and_reach", seed=0, **meta):
    rng = np.random.default_rng(seed)
    return DemoSet(rng.normal(size=(n, obs_dim)), rng.uniform(-1, 1, (n, jt.NUM_CONTROLLED)), np.arange(n) // 10,
                   np.zeros(n), {"task": task, **meta})


def test_recorded_handoffs_are_successes_of_the_env_that_replay_exactly(recorded, bar_cfg):
    demos, outcome = recorded
    assert outcome["kept"] == demos.episodes >= 2, outcome
    assert sum(v for k, v in outcome.items() if k != "episodes") == outcome["episodes"]
    env = make_env(recording_config(bar_cfg), seed=0, num_threads=1)
    try:
        assert demos.obs.shape[1] == env.get_observations()["policy"].shape[1]
    finally:
        env.close()
    assert np.abs(demos.actions).max() <= 1.0
    for k in range(demos.episodes):
        stages = demos.stage[demos.episode == k]
        assert stages[0] == 2 and np.all(np.diff(stages) >= 0), stages  # from A holding, in order
        assert 3 in stages  # B's touch was recorded
    for k in (0, demos.episodes - 1):
        out = replay_episode(demos, k, bar_cfg)
        assert out["success"] and out["max_obs_difference"] == 0.0, out


def test_a_held_grip_is_recorded_as_the_full_push_into_its_limit(recorded):
    demos, _ = recorded
    # A (the right hand) closes its grip at the start and holds it until it lets go: its finger
    # actions there push into the closing limit, never 0 (the policy's noise would open it).
    first = demos.actions[demos.episode == 0][:20]
    fingers = np.flatnonzero([n.startswith("R_") for n in jt.joint_names()])
    held = first[10:, fingers]  # once the closing (at most 8 control steps) is done
    assert np.all(np.abs(held) == 1.0), held


def test_replaying_other_actions_does_not_reproduce_the_observations(recorded, bar_cfg):
    demos, _ = recorded
    changed = DemoSet(demos.obs, np.clip(demos.actions + 0.5, -1, 1), demos.episode, demos.stage, demos.meta,
                      demos.start_joint_pos, demos.start_object_pose)
    assert replay_episode(changed, 0, bar_cfg)["max_obs_difference"] > 0.01


def test_limit_push_records_a_held_limit_as_the_full_push():
    lower, upper = np.array([-1.0, -1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    before = np.array([1.0, -1.0, 0.2, 1.0])
    after = np.array([1.0, -1.0, 0.2, 0.9])  # held at upper, held at lower, held inside, leaving upper
    got = limit_push(np.array([0.0, 0.0, 0.0, -0.5]), before, after, lower, upper)
    assert got.tolist() == [1.0, -1.0, 0.0, -0.5]


def test_waiting_demos_bring_hand_b_back_before_the_intermediate_goal(bar_cfg):
    ckpt = DATA_DIR.parent / "checkpoints" / "grasp_and_reach.pt"
    demos, counts = record_wait_demos(ckpt, bar_cfg, episodes=3, seed=0)
    assert counts["episodes"] == 3 and demos.episodes == 3 and demos.meta["source"]["kind"] == "wait"
    assert np.all(demos.stage < 2)
    names = jt.joint_names()
    b_arm = np.array([n.startswith("left_") for n in names])
    # B drifts with its noise; the recorded action turns it back: against its offset from the
    # default pose (the actor's first inputs are the joint positions less the default pose).
    offset = demos.obs[:, : jt.NUM_CONTROLLED][:, b_arm]
    label = demos.actions[:, b_arm]
    far = np.abs(offset) > 0.1
    assert far.sum() > 50
    assert np.mean(np.sign(label[far]) == -np.sign(offset[far])) > 0.9
    assert np.abs(demos.actions[:, ~np.array([n.startswith(("L_", "left_")) for n in names])]).max() > 0.1  # A acts
    still, _ = record_wait_demos(ckpt, bar_cfg, episodes=2, seed=0, b_noise=0.0)
    b = np.array([n.startswith(("L_", "left_")) for n in names])
    assert np.isin(still.actions[:, b], (-1.0, 0.0, 1.0)).all()  # B never left: held, or pushing into a limit
    env = make_env(bar_cfg, seed=0, num_threads=1)
    try:
        demos.check_against(bar_cfg, int(env.get_observations()["policy"].shape[1]))
    finally:
        env.close()
    with pytest.raises(ValueError, match="handover"):
        record_wait_demos(ckpt, task_config("grasp_and_reach"), episodes=1)


def test_demo_sets_round_trip_and_refuse_bad_input(tmp_path, recorded):
    demos, _ = recorded
    path = demos.save(tmp_path / "d.npz")
    back = DemoSet.load(path)
    assert np.array_equal(back.obs, demos.obs) and np.array_equal(back.actions, demos.actions)
    assert np.array_equal(back.start_joint_pos, demos.start_joint_pos) and back.meta["task"] == "handover"
    assert back.summary()["episodes"] == demos.episodes
    with pytest.raises(FileExistsError):
        demos.save(path)
    with pytest.raises(DemoError, match=".npz"):
        demos.save(tmp_path / "d.pt")
    with pytest.raises(DemoError, match="\\[-1, 1\\]"):
        DemoSet(np.zeros((2, 3)), np.full((2, jt.NUM_CONTROLLED), 2.0), np.zeros(2), np.zeros(2))
    with pytest.raises(DemoError, match="actions must be"):
        DemoSet(np.zeros((2, 3)), np.zeros((2, 5)), np.zeros(2), np.zeros(2))
    with pytest.raises(DemoError, match="one per episode"):
        DemoSet(np.zeros((2, 3)), np.zeros((2, jt.NUM_CONTROLLED)), np.array([0, 1]), np.zeros(2), {},
                np.zeros((1, jt.NUM_CONTROLLED)), np.zeros((1, 7)))
    with np.load(path) as f:
        parts = dict(f)
    meta = json.loads(str(parts["meta"]))
    meta["joint_names"] = meta["joint_names"][:-1]
    parts["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "other_table.npz", **parts)
    with pytest.raises(DemoError, match="joint table"):
        DemoSet.load(tmp_path / "other_table.npz")
    with pytest.raises(FileNotFoundError):
        DemoSet.load(tmp_path / "missing.npz")


def test_demos_of_another_task_or_other_inputs_are_refused(bar_cfg):
    demos = _synthetic(task="handover", obs_dim=82, observation_options={"actor_fingertips": True})
    demos.check_against(bar_cfg, 82)
    with pytest.raises(DemoError, match="task"):
        demos.check_against(task_config("grasp_and_reach"), 82)
    with pytest.raises(DemoError, match="81 here"):
        demos.check_against(bar_cfg, 81)
    other = _synthetic(task="handover", obs_dim=82, observation_options={"actor_fingertips": False})
    with pytest.raises(DemoError, match="actor_fingertips"):
        other.check_against(bar_cfg, 82)


def test_recording_refuses_other_tasks_and_objects(bar_cfg, tmp_path):
    with pytest.raises(ValueError, match="handover"):
        record_handoff_demos(DATA_DIR / "handover_bar.npz", task_config("grasp_and_reach"), episodes=1)
    with pytest.raises(DemoError, match="holds bar_5x18x5cm states"):  # the bar library, another object
        record_handoff_demos(DATA_DIR / "handover_bar.npz", task_config("handover", {"objects": "cylinder"}), episodes=1)
    with pytest.raises(FileNotFoundError):
        record_handoff_demos(tmp_path / "none.npz", bar_cfg, episodes=1)


# --- the trainer's pull towards the demonstrations ---------------------------------------------


def _trainer(run_dir, tiny_train_config, demos_path, iterations=1, weight=1.0, decay=0.9, **train):
    cfg = task_config("grasp_and_reach", {"num_envs": 2, "episode_length_s": 0.6, "init": {"use_library": False},
                                          "randomization": {"enabled": []}})
    tc = tiny_train_config(iterations, demo_weight=weight, demo_decay=decay)
    tc.demos = None if demos_path is None else (str(demos_path),)
    for k, v in train.items():
        setattr(tc, k, v)
    return Trainer(run_dir, cfg, tc, seed=0, progress=False)


def _grasp_demos(tmp_path, n=64, seed=0):
    """Observations of the env the trainer runs (as a recorder's are), actions a fixed function of them."""
    env = make_env(task_config("grasp_and_reach", {"num_envs": 2, "episode_length_s": 0.6, "init": {"use_library": False},
                                                   "randomization": {"enabled": []}}), seed=seed, num_threads=1)
    rng = np.random.default_rng(seed)
    obs = []
    try:
        while len(obs) * 2 < n:
            out, _, _, _ = env.step(torch.as_tensor(rng.uniform(-1, 1, (2, jt.NUM_CONTROLLED)), dtype=torch.float32))
            obs.append(out["policy"].numpy())
    finally:
        env.close()
    o = np.concatenate(obs)[:n]
    actions = np.clip(0.5 * np.tanh(o[:, :jt.NUM_CONTROLLED] * 5.0), -1, 1)
    return DemoSet(o, actions, np.arange(n) // 8, np.zeros(n), {"task": "grasp_and_reach"}).save(tmp_path / "demos.npz")


def test_demo_loss_counts_only_the_shortfall_at_the_clip(tmp_path, tiny_train_config):
    alg = _trainer(tmp_path / "run", tiny_train_config, _grasp_demos(tmp_path)).alg
    alg.demo_obs = alg.demo_obs[:2]
    act = torch.zeros(2, jt.NUM_CONTROLLED)
    act[0, 0], act[0, 1], act[1, 2] = 1.0, -1.0, 0.3
    alg.demo_actions = act
    with torch.no_grad():
        mean = alg.actor(alg.demo_obs)
        want = mean - act
        want[0, 0] = min(float(want[0, 0]), 0.0)  # beyond +1 is the same action
        want[0, 1] = max(float(want[0, 1]), 0.0)  # beyond −1 likewise
        assert torch.allclose(alg.demo_loss(), want.pow(2).sum(-1).mean())


def test_demo_joints_limit_the_pull_to_those_actions(tmp_path, tiny_train_config):
    path = _grasp_demos(tmp_path)
    alg = _trainer(tmp_path / "all", tiny_train_config, path).alg
    tc = tiny_train_config(1, demo_joints=("left_*",))
    picked = [i for i, n in enumerate(jt.joint_names()) if n.startswith("left_")]
    cfg = task_config("grasp_and_reach", {"num_envs": 2, "episode_length_s": 0.6, "init": {"use_library": False},
                                          "randomization": {"enabled": []}})
    tc.demos = (str(path),)
    some = Trainer(tmp_path / "some", cfg, tc, seed=0, progress=False).alg
    assert some.demo_mask.nonzero().flatten().tolist() == picked
    with torch.no_grad():
        err = (alg.actor(alg.demo_obs) - alg.demo_actions).pow(2)
        assert torch.allclose(alg.demo_loss(), err.sum(-1).mean())
        err_some = (some.actor(some.demo_obs) - some.demo_actions).pow(2)
        assert torch.allclose(some.demo_loss(), err_some[:, picked].sum(-1).mean())
    with pytest.raises(ValueError, match="matches no joint"):
        Trainer(tmp_path / "bad", cfg, tiny_train_config(1, demo_joints=("no_such_*",)), seed=0, progress=False)


def test_training_with_demos_pulls_the_actor_to_them_and_resumes(tmp_path, tiny_train_config):
    path = _grasp_demos(tmp_path)
    run_dir = tmp_path / "run"
    tr = _trainer(run_dir, tiny_train_config, path, iterations=3, weight=20.0)
    tr.run()
    same = _trainer(tmp_path / "weight0", tiny_train_config, path, iterations=3, weight=0.0)  # same seed, PPO alone
    same.run()
    with torch.no_grad():
        pulled, plain = float(tr.alg.demo_loss()), float(same.alg.demo_loss())
    assert pulled < 0.5 * plain, (pulled, plain)
    rows = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    assert [round(r["loss/demo_weight"], 6) for r in rows] == [20.0, 18.0, 16.2]
    assert "loss/demo" not in json.loads((tmp_path / "weight0" / "progress.jsonl").read_text().splitlines()[0])
    saved = torch.load(run_dir / "latest.pt", weights_only=False)
    assert saved["demo_updates"] == 3 and saved["demo_optimizer_state_dict"]["state"]
    resumed = Trainer(run_dir, None, None, 0, resume=True, progress=False)
    assert resumed.alg.demo_updates == 3 and resumed.train.demos == (str(path),)
    resumed.run(4)
    last = json.loads((run_dir / "progress.jsonl").read_text().splitlines()[-1])
    assert round(last["loss/demo_weight"], 6) == 14.58


def test_without_demos_or_while_the_critic_warms_up_no_demo_step(tmp_path, tiny_train_config):
    tr = _trainer(tmp_path / "plain", tiny_train_config, None)
    tr.run()
    assert "loss/demo" not in json.loads((tmp_path / "plain" / "progress.jsonl").read_text().splitlines()[0])
    tr = _trainer(tmp_path / "warm", tiny_train_config, _grasp_demos(tmp_path), iterations=2, critic_warmup_iterations=1)
    tr.run()
    rows = [json.loads(line) for line in (tmp_path / "warm" / "progress.jsonl").read_text().splitlines()]
    assert "loss/demo" not in rows[0] and rows[1]["loss/demo_weight"] == 1.0


def test_demos_of_another_task_are_refused_by_the_trainer(tmp_path, tiny_train_config):
    d = _synthetic(task="handover", obs_dim=10)
    path = d.save(tmp_path / "ho.npz")
    with pytest.raises(DemoError, match="handover"):
        _trainer(tmp_path / "run", tiny_train_config, path)


@pytest.mark.parametrize("field,value", [("demo_weight", -1.0), ("demo_decay", 0.0), ("demo_decay", 1.5)])
def test_bad_demo_settings_are_refused(field, value):
    tc = TrainConfig()
    setattr(tc.ppo, field, value)
    with pytest.raises(ValueError, match=field):
        tc.validate()


def test_cli_demos_record_show_and_train_flags(tmp_path, capsys):
    out = tmp_path / "d.npz"
    cfg = tmp_path / "bar.yaml"
    cfg.write_text(f"objects: {BAR}\nsticker_pattern_a: right_end\nsticker_pattern_b: left_end\n")
    assert main(["demos", "record", "--task", "handover", "--handoff", "handover_bar", "--config", str(cfg),
                 "--episodes", "6", "--out", str(out)]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["episodes"] >= 1 and rec["obs_dim"] > 0 and rec["source"]["episodes"] == 6
    wait = tmp_path / "w.npz"
    assert main(["demos", "record", "--task", "handover", "--wait", "grasp_and_reach", "--config", str(cfg),
                 "--episodes", "2", "--out", str(wait)]) == 0
    assert json.loads(capsys.readouterr().out)["source"]["kind"] == "wait"
    assert main(["demos", "show", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == rec["steps"]
    assert main(["demos", "record", "--task", "handover", "--handoff", "handover_bar", "--episodes", "1", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["demos", "record", "--task", "handover", "--handoff", "no_such_library", "--episodes", "1",
                 "--out", str(tmp_path / "e.npz")]) == 2
    assert "shipped" in capsys.readouterr().err
    assert main(["train", "--task", "grasp_and_reach", "--demo-weight", "2", "--run-dir", str(tmp_path / "r")]) == 2
    assert "--demos" in capsys.readouterr().err


def test_demo_pretraining_fits_the_actor_before_ppo_and_iterations_0_saves_it(tmp_path, tiny_train_config):
    path = _grasp_demos(tmp_path)
    tr = _trainer(tmp_path / "run", tiny_train_config, path, iterations=0, demo_pretrain_epochs=40)
    tr.run(0)
    rec = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["demo_pretrain"]
    assert rec["samples"] == 64 and rec["epochs"] == 40
    assert rec["demo_loss_after"] < 0.5 * rec["demo_loss_before"], rec
    with torch.no_grad():
        assert abs(float(tr.alg.demo_loss()) - rec["demo_loss_after"]) < 1e-5  # the actor as fitted
    assert (tmp_path / "run" / "model_0.pt").is_file()
    tc = TrainConfig(demo_pretrain_epochs=5)
    with pytest.raises(ValueError, match="needs demos"):
        tc.validate()
    with pytest.raises(ValueError, match=">= 0"):
        TrainConfig(demo_pretrain_epochs=-1, demos=(str(path),)).validate()


def test_cli_iterations_0_and_demo_pretrain_need_their_inputs(tmp_path, capsys):
    assert main(["train", "--task", "grasp_and_reach", "--demo-pretrain", "3", "--run-dir", str(tmp_path / "r")]) == 2
    assert "--demos" in capsys.readouterr().err
    assert main(["train", "--task", "grasp_and_reach", "--iterations", "-1", "--run-dir", str(tmp_path / "r")]) == 2
    assert ">= 0" in capsys.readouterr().err
