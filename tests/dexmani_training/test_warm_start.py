"""Starting a run's actor from another task's checkpoint (``--actor-from``) and the critic
warm-up that protects it."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml
from dexmani_training.cli import main
from dexmani_training.cli_rl import actor_source, shipped_checkpoint
from dexmani_training.rl.train import FLAT_INPUT_STD, Trainer
from dexmani_training.tasks import TASKS, task_config
from dexmani_training.tasks.base import LEFT, RIGHT, side_mask

from gr1_description import joints as jt


def _cfg(task, **over):
    base = {"num_envs": 2, "episode_length_s": 0.6, "init": {"use_library": False}, "randomization": {"enabled": []}}
    base.update(over)
    return task_config(task, base)


@pytest.fixture(scope="module")
def grasp_checkpoint(tmp_path_factory, tiny_train_config):
    run_dir = tmp_path_factory.mktemp("runs") / "grasp"
    # A few iterations with a large rate, so that the source's actor is not a fresh one.
    Trainer(run_dir, _cfg("grasp_and_reach"), tiny_train_config(3, learning_rate=1e-2), seed=0, progress=False).run()
    return run_dir / "latest.pt"


def test_unused_actions_of_each_task():
    left, right = side_mask(LEFT), side_mask(RIGHT)
    grasp = TASKS["grasp_and_reach"][1]
    # Mirrored: every episode is right-handed, the left side is never applied.
    assert np.array_equal(grasp.unused_actions(task_config("grasp_and_reach")), left)
    assert np.array_equal(grasp.unused_actions(task_config("grasp_and_reach", {"mirror_symmetry": False})),
                          np.zeros(jt.NUM_CONTROLLED, bool))
    only_left = task_config("grasp_and_reach", {"mirror_symmetry": False, "sides": ["left"]})
    assert np.array_equal(grasp.unused_actions(only_left), right)
    for task in ("box_lift", "handover"):
        assert not TASKS[task][1].unused_actions(task_config(task)).any()


def test_warm_start_copies_the_actor_and_freshens_actions_the_source_never_used(grasp_checkpoint, tmp_path, tiny_train_config):
    src = torch.load(grasp_checkpoint, weights_only=False)["actor_state_dict"]
    train = replace(tiny_train_config(1), actor_from=str(grasp_checkpoint))
    tr = Trainer(tmp_path / "run", _cfg("handover"), train, seed=0, progress=False)
    own = tr.alg.actor.state_dict()
    left = torch.as_tensor(side_mask(LEFT))
    flat = src["obs_normalizer._std"].reshape(-1) < FLAT_INPUT_STD
    for k, v in src.items():
        if k in ("mlp.4.weight", "mlp.4.bias", "distribution.std_param"):  # the output layer and the noise: per action
            assert torch.equal(own[k][~left], v[~left]), k
        elif k == "mlp.0.weight" or k in ("obs_normalizer._var", "obs_normalizer._std"):  # per input
            assert torch.equal(own[k][:, ~flat], v[:, ~flat]), k
        else:
            assert torch.equal(own[k], v), k
    assert not (own["mlp.4.weight"][left] != 0).any() and not (own["mlp.4.bias"][left] != 0).any()
    assert torch.allclose(own["distribution.std_param"][left], torch.full((int(left.sum()),), tr.train.ppo.init_noise_std))
    # The mean action of the source's unused side is 0: those joints hold still.
    tr.alg.eval_mode()
    with torch.inference_mode():
        mean = tr.alg.actor(tr.env.get_observations())
    assert torch.all(mean[:, left] == 0) and torch.any(mean[:, ~left] != 0)
    record = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["actor_from"]
    assert record["task"] == "grasp_and_reach" and record["iteration"] == 3
    assert record["fresh_actions"] == [n for n, m in zip(jt.joint_names(), side_mask(LEFT)) if m]


def test_warm_start_noise_scale_scales_the_source_noise_only(grasp_checkpoint, tmp_path, tiny_train_config):
    """``actor_from_noise_scale`` multiplies the noise the source learned; actions the source
    never used keep a fresh actor's noise; the mean action is untouched."""
    src = torch.load(grasp_checkpoint, weights_only=False)["actor_state_dict"]
    left = torch.as_tensor(side_mask(LEFT))
    plain = Trainer(tmp_path / "a", _cfg("handover"), replace(tiny_train_config(1), actor_from=str(grasp_checkpoint)),
                    seed=0, progress=False)
    train = replace(tiny_train_config(1), actor_from=str(grasp_checkpoint), actor_from_noise_scale=0.4)
    tr = Trainer(tmp_path / "run", _cfg("handover"), train, seed=0, progress=False)
    std = tr.alg.actor.state_dict()["distribution.std_param"]
    assert torch.allclose(std[~left], 0.4 * src["distribution.std_param"][~left])
    assert torch.allclose(std[left], torch.full((int(left.sum()),), tr.train.ppo.init_noise_std))
    obs = tr.env.get_observations()
    for t in (plain, tr):
        t.alg.eval_mode()
    with torch.inference_mode():
        assert torch.equal(tr.alg.actor(obs), plain.alg.actor(obs))
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]
    assert saved["actor_from_noise_scale"] == 0.4
    with pytest.raises(ValueError, match="must be > 0"):
        Trainer(tmp_path / "z", _cfg("handover"), replace(train, actor_from_noise_scale=0.0), seed=0, progress=False)
    with pytest.raises(ValueError, match="needs actor_from"):
        Trainer(tmp_path / "n", _cfg("handover"), replace(tiny_train_config(1), actor_from_noise_scale=0.5),
                seed=0, progress=False)


def test_inputs_the_source_never_saw_change_start_ignored(grasp_checkpoint, tmp_path, tiny_train_config):
    """grasp_and_reach holds its idle arm at the default pose, so the normalizer's spread of
    those joint positions is the encoder noise (here, without randomization, nothing). Moving
    that arm must not change the warm-started actor's output until it has learned to use it."""
    src = torch.load(grasp_checkpoint, weights_only=False)["actor_state_dict"]
    flat = src["obs_normalizer._std"].reshape(-1) < FLAT_INPUT_STD
    left = torch.as_tensor(side_mask(LEFT))
    assert torch.all(flat[:jt.NUM_CONTROLLED][left]) and not torch.any(flat[:jt.NUM_CONTROLLED][~left])
    tr = Trainer(tmp_path / "run", _cfg("handover"), replace(tiny_train_config(1), actor_from=str(grasp_checkpoint)),
                 seed=0, progress=False)
    own = tr.alg.actor.state_dict()
    assert not (own["mlp.0.weight"][:, flat] != 0).any()
    assert torch.all(own["obs_normalizer._std"].reshape(-1)[flat] == 1.0)
    record = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["actor_from"]
    assert record["flat_inputs"] == [int(i) for i in torch.nonzero(flat).reshape(-1)]
    tr.alg.eval_mode()
    obs = tr.env.get_observations()
    moved = obs.clone()
    moved["policy"][:, :jt.NUM_CONTROLLED][:, left] += 0.3  # the left arm and hand 0.3 rad away from the default pose
    with torch.inference_mode():
        assert torch.allclose(tr.alg.actor(obs), tr.alg.actor(moved))


def test_warm_start_from_a_task_that_used_every_action_keeps_every_row(tmp_path, tiny_train_config):
    Trainer(tmp_path / "h", _cfg("handover"), tiny_train_config(2, learning_rate=1e-2), seed=1, progress=False).run()
    src = torch.load(tmp_path / "h" / "latest.pt", weights_only=False)["actor_state_dict"]
    tr = Trainer(tmp_path / "g", _cfg("grasp_and_reach"), replace(tiny_train_config(1), actor_from=str(tmp_path / "h" / "latest.pt")),
                 seed=0, progress=False)
    own = tr.alg.actor.state_dict()
    # Every action row is the source's (no action was unused in handover) ...
    for k in ("mlp.4.weight", "mlp.4.bias", "distribution.std_param", "mlp.2.weight"):
        assert torch.equal(own[k], src[k]), k
    # ... and every input the source saw vary keeps its weights and statistics.
    flat = src["obs_normalizer._std"].reshape(-1) < FLAT_INPUT_STD
    assert torch.equal(own["mlp.0.weight"][:, ~flat], src["mlp.0.weight"][:, ~flat])
    assert torch.equal(own["obs_normalizer._mean"], src["obs_normalizer._mean"])


def test_warm_start_refuses_another_actor_layout_or_network(grasp_checkpoint, tmp_path, tiny_train_config):
    train = replace(tiny_train_config(1), actor_from=str(grasp_checkpoint))
    with pytest.raises(ValueError, match="actor observations.*actor_fingertips: True in grasp_and_reach, False here"):
        Trainer(tmp_path / "b", _cfg("box_lift"), train, seed=0, progress=False)
    with pytest.raises(ValueError, match="actor_goal_offset: False in grasp_and_reach, True here"):
        Trainer(tmp_path / "o", _cfg("handover", actor_goal_offset=True), train, seed=0, progress=False)
    wide = replace(train, ppo=replace(train.ppo, hidden_dims=(32, 32)))
    with pytest.raises(ValueError, match=r"network \[64, 64\]/elu in grasp_and_reach, \[32, 32\]/elu here"):
        Trainer(tmp_path / "n", _cfg("handover"), wide, seed=0, progress=False)


def _params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v.detach())}


def test_critic_warmup_freezes_the_actor_then_lets_it_learn(grasp_checkpoint, tmp_path, tiny_train_config):
    train = replace(tiny_train_config(1, learning_rate=1e-2), actor_from=str(grasp_checkpoint), critic_warmup_iterations=2)
    tr = Trainer(tmp_path / "run", _cfg("handover"), train, seed=0, progress=False)
    actor0, critic0 = _params(tr.alg.actor), _params(tr.alg.critic)
    tr.run(2)
    assert not _changed(actor0, tr.alg.actor)
    assert _changed(critic0, tr.alg.critic)
    tr.run(3)
    assert _changed(actor0, tr.alg.actor)


def test_actor_source_resolves_task_names_and_refuses_unknown_ones(tmp_path, capsys):
    assert actor_source("grasp_and_reach") == shipped_checkpoint("grasp_and_reach")
    with pytest.raises(FileNotFoundError, match="not a task name"):
        actor_source(str(tmp_path / "missing.pt"))
    rc = main(["train", "--task", "handover", "--actor-from", "graps_and_reach", "--iterations", "1",
               "--run-dir", str(tmp_path / "r"), "--quiet"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "graps_and_reach" in err and "grasp_and_reach" in err


def test_cli_train_starts_handover_from_the_shipped_grasp_specialist(tmp_path, capsys):
    rc = main(["train", "--task", "handover", "--actor-from", "grasp_and_reach", "--iterations", "1", "--num-envs", "2",
               "--run-dir", str(tmp_path / "r"), "--no-init", "--no-randomization", "--quiet", "--threads", "1"])
    assert rc == 0
    doc = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert doc["train"]["critic_warmup_iterations"] == 25
    assert doc["actor_from"]["task"] == "grasp_and_reach"
    src = torch.load(shipped_checkpoint("grasp_and_reach"), weights_only=False)["actor_state_dict"]
    # After one iteration inside the warm-up the actor is still the shipped one (its normalizer
    # statistics aside, which follow the new task's observations).
    saved = torch.load(tmp_path / "r" / "latest.pt", weights_only=False)["actor_state_dict"]
    left = torch.as_tensor(side_mask(LEFT))
    flat = torch.as_tensor(doc["actor_from"]["flat_inputs"], dtype=torch.long)
    assert flat.numel() == int(left.sum())  # the shipped specialist's idle joints, nothing else
    keep = torch.ones(saved["mlp.0.weight"].shape[1], dtype=torch.bool)
    keep[flat] = False
    assert torch.equal(saved["mlp.0.weight"][:, keep], src["mlp.0.weight"][:, keep])
    assert torch.equal(saved["mlp.6.weight"][~left], src["mlp.6.weight"][~left])


def test_cli_actor_from_noise_scale(tmp_path, capsys):
    common = ["--iterations", "1", "--num-envs", "2", "--no-init", "--no-randomization", "--quiet", "--threads", "1"]
    rc = main(["train", "--task", "handover", "--actor-from", "grasp_and_reach", "--actor-from-noise-scale", "0.5",
               "--run-dir", str(tmp_path / "r"), *common])
    assert rc == 0
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["train"]["actor_from_noise_scale"] == 0.5
    src = torch.load(shipped_checkpoint("grasp_and_reach"), weights_only=False)["actor_state_dict"]
    saved = torch.load(tmp_path / "r" / "latest.pt", weights_only=False)["actor_state_dict"]
    right = ~torch.as_tensor(side_mask(LEFT))
    # inside the critic warm-up the actor, its noise included, does not learn
    assert torch.allclose(saved["distribution.std_param"][right], 0.5 * src["distribution.std_param"][right])
    capsys.readouterr()
    rc = main(["train", "--task", "handover", "--actor-from-noise-scale", "0.5", "--run-dir", str(tmp_path / "n"), *common])
    assert rc != 0 and "needs actor_from" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


def test_with_critic_loads_the_source_critic_of_the_same_task_only(grasp_checkpoint, tmp_path, tiny_train_config):
    Trainer(tmp_path / "h", _cfg("handover"), tiny_train_config(2, learning_rate=1e-2), seed=1, progress=False).run()
    src = torch.load(tmp_path / "h" / "latest.pt", weights_only=False)["critic_state_dict"]
    train = replace(tiny_train_config(1), actor_from=str(tmp_path / "h" / "latest.pt"), actor_from_with_critic=True)
    tr = Trainer(tmp_path / "w", _cfg("handover"), train, seed=0, progress=False)
    own = tr.alg.critic.state_dict()
    assert set(own) == set(src) and all(torch.equal(own[k], src[k]) for k in src)
    assert yaml.safe_load((tmp_path / "w" / "config.yaml").read_text())["actor_from"]["critic"] is True
    # without the option the critic starts fresh
    fresh = Trainer(tmp_path / "f", _cfg("handover"), replace(train, actor_from_with_critic=False), seed=0, progress=False)
    assert not torch.equal(fresh.alg.critic.state_dict()["mlp.0.weight"], src["mlp.0.weight"])
    with pytest.raises(ValueError, match="cannot start the critic.*task grasp_and_reach there, handover here"):
        Trainer(tmp_path / "g", _cfg("handover"), replace(train, actor_from=str(grasp_checkpoint)), seed=0, progress=False)
    with pytest.raises(ValueError, match="needs actor_from"):
        Trainer(tmp_path / "n", _cfg("handover"), replace(tiny_train_config(1), actor_from_with_critic=True),
                seed=0, progress=False)
