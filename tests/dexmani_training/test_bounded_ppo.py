"""The bound on the actor's mean action (``ppo.action_bound``, rl/bounded_ppo.py)."""

import json

import pytest
import torch
from dexmani_training.rl.bounded_ppo import BoundedPPO
from dexmani_training.rl.train import PPOConfig, TrainConfig, Trainer
from dexmani_training.tasks import task_config


def _trainer(run_dir, tiny_train_config, bound, iterations=1, **train):
    cfg = task_config("grasp_and_reach", {"num_envs": 2, "episode_length_s": 0.6, "init": {"use_library": False},
                                          "randomization": {"enabled": []}})
    tc = tiny_train_config(iterations, action_bound=bound)
    for k, v in train.items():
        setattr(tc, k, v)
    return Trainer(run_dir, cfg, tc, seed=0, progress=False)


def _last_linear(actor):
    return [m for m in actor.mlp.modules() if isinstance(m, torch.nn.Linear)][-1]


def _progress(run_dir):
    return [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]


def test_bound_penalty_is_the_squared_excess_past_the_bound(tmp_path, tiny_train_config):
    alg = _trainer(tmp_path / "run", tiny_train_config, 1.0).alg
    mean = torch.tensor([[2.0, -0.5, -3.0, 1.0], [0.0, 0.0, 0.0, -1.5]])
    assert torch.allclose(alg.bound_penalty(mean), torch.tensor([1.0 + 4.0, 0.25]))
    alg.action_bound = 2.0
    assert torch.allclose(alg.bound_penalty(mean), torch.tensor([1.0, 0.0]))


def test_bound_step_pulls_a_mean_past_the_bound_back_towards_it(tmp_path, tiny_train_config):
    tr = _trainer(tmp_path / "run", tiny_train_config, 1.0)
    alg, obs = tr.alg, tr.env.get_observations()
    with torch.no_grad():
        _last_linear(alg.actor).bias[3] += 4.0
        before = alg.actor(obs)[:, 3].clone()
    assert (before > 3.0).all()
    first = alg._bound_step(obs)
    for _ in range(60):
        last = alg._bound_step(obs)
    with torch.no_grad():
        after = alg.actor(obs)[:, 3]
    assert (after < before - 0.5).all(), (before, after)
    assert last["action_bound"] < first["action_bound"]
    assert 0.0 < first["action_outside"] <= 1.0


def test_bound_step_leaves_a_policy_inside_the_bound_unchanged(tmp_path, tiny_train_config):
    tr = _trainer(tmp_path / "run", tiny_train_config, 1.0)
    alg, obs = tr.alg, tr.env.get_observations()
    with torch.no_grad():
        last = _last_linear(alg.actor)
        last.weight.mul_(1e-3)
        last.bias.zero_()
        assert alg.actor(obs).abs().max() < 1.0
    before = {k: v.clone() for k, v in alg.actor.state_dict().items()}
    out = alg._bound_step(obs)
    assert out == {"action_bound": 0.0, "action_outside": 0.0}
    for k, v in alg.actor.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_training_with_the_bound_logs_it_and_resumes_its_optimizer(tmp_path, tiny_train_config):
    run_dir = tmp_path / "run"
    first = _trainer(run_dir, tiny_train_config, 1.0, iterations=2)
    first.run()
    rows = _progress(run_dir)
    assert all("loss/action_bound" in r and 0.0 <= r["loss/action_outside"] <= 1.0 for r in rows)
    saved = torch.load(run_dir / "latest.pt", weights_only=False)
    assert saved["bound_optimizer_state_dict"]["state"], "the bound's Adam has moments after two updates"
    resumed = Trainer(run_dir, None, None, 0, resume=True, progress=False)
    assert resumed.train.ppo.action_bound == 1.0
    got, want = resumed.alg.bound_optimizer.state_dict(), saved["bound_optimizer_state_dict"]
    assert got["state"].keys() == want["state"].keys()
    for k in want["state"]:
        for name, value in want["state"][k].items():
            assert torch.equal(torch.as_tensor(got["state"][k][name]), torch.as_tensor(value)), (k, name)
    resumed.run(3)
    steps = [float(s["step"]) for s in resumed.alg.bound_optimizer.state_dict()["state"].values()]
    assert steps and all(s == 3.0 for s in steps)  # one step per iteration (one minibatch), continued


def test_without_the_bound_training_is_plain_ppo(tmp_path, tiny_train_config):
    run_dir = tmp_path / "run"
    tr = _trainer(run_dir, tiny_train_config, None)
    assert isinstance(tr.alg, BoundedPPO) and tr.alg.bound_optimizer is None
    tr.run()
    assert not any(k.startswith("loss/action_") for k in _progress(run_dir)[0])
    assert "bound_optimizer_state_dict" not in torch.load(run_dir / "latest.pt", weights_only=False)


def test_the_bound_waits_while_the_critic_warms_up(tmp_path, tiny_train_config):
    run_dir = tmp_path / "run"
    tr = _trainer(run_dir, tiny_train_config, 1.0, iterations=2, critic_warmup_iterations=1)
    tr.run()
    rows = _progress(run_dir)
    assert "loss/action_bound" not in rows[0] and "loss/action_bound" in rows[1]


@pytest.mark.parametrize("bound", [0.0, -1.0])
def test_a_bound_that_is_not_positive_is_refused(bound):
    with pytest.raises(ValueError, match="action_bound"):
        TrainConfig(ppo=PPOConfig(action_bound=bound)).validate()
