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
    mean = torch.zeros(2, 26)
    mean[0, :4] = torch.tensor([2.0, -0.5, -3.0, 1.0])
    mean[1, 3] = -1.5
    assert torch.allclose(alg.bound_penalty(mean), torch.tensor([1.0 + 4.0, 0.25]))
    alg.action_bound = 2.0
    assert torch.allclose(alg.bound_penalty(mean), torch.tensor([1.0, 0.0]))
    alg.action_bound = 1.0
    alg.bound_mask[:] = False
    alg.bound_mask[2:] = True  # only some joints bounded: the others cost nothing
    assert torch.allclose(alg.bound_penalty(mean), torch.tensor([4.0, 0.25]))


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


def _rollout_obs(tr, steps=8):
    seen, obs = [], tr.env.get_observations()
    with torch.no_grad():
        for _ in range(steps):
            seen.append(obs)
            obs, _, _, _ = tr.env.step(tr.alg.actor(obs, stochastic_output=True))
    return torch.cat(seen)


def test_fit_inside_brings_means_in_without_changing_the_clipped_actions(tmp_path, tiny_train_config):
    tr = _trainer(tmp_path / "run", tiny_train_config, 1.0)
    alg = tr.alg
    with torch.no_grad():
        _last_linear(alg.actor).bias[3] += 4.0
        _last_linear(alg.actor).bias[5] -= 3.0
    obs = _rollout_obs(tr)
    with torch.no_grad():
        clipped_before = alg.actor(obs).clamp(-1, 1)
    std_before = alg.actor.output_std.clone() if hasattr(alg.actor, "output_std") else None
    rec = alg.fit_inside(obs, epochs=200)
    with torch.no_grad():
        after = alg.actor(obs)
    assert rec["samples"] == obs.batch_size[0] == 2 * 8
    assert rec["outside_before"] >= 2 / 26 and rec["max_excess_before"] > 1.5
    assert rec["max_excess_after"] < 0.2 and rec["outside_after"] < rec["outside_before"]
    assert (after[:, 3] < 1.2).all() and (after[:, 5] > -1.2).all()
    assert (after.clamp(-1, 1) - clipped_before).abs().max() < 0.1  # the same actions
    assert rec["clipped_max_change"] == pytest.approx(float((after.clamp(-1, 1) - clipped_before).abs().max()), abs=1e-5)
    if std_before is not None:
        assert torch.equal(alg.actor.output_std, std_before)


def test_a_warm_started_actor_is_fitted_inside_the_bound_before_training(tmp_path, tiny_train_config):
    src = _trainer(tmp_path / "src", tiny_train_config, None)
    src.run()
    d = torch.load(tmp_path / "src" / "latest.pt", weights_only=False)
    out = [k for k in d["actor_state_dict"] if k.startswith("mlp.") and k.endswith(".bias")][-1]
    d["actor_state_dict"][out][3] += 4.0  # one joint far past the clip, as a saturated policy's
    torch.save(d, tmp_path / "saturated.pt")

    def started(name, **train):
        tr = _trainer(tmp_path / name, tiny_train_config, 1.0, actor_from=str(tmp_path / "saturated.pt"), **train)
        import yaml

        return yaml.safe_load((tmp_path / name / "config.yaml").read_text())["actor_from"], tr

    rec, tr = started("fitted", actor_from_inside_steps=4, actor_from_inside_epochs=100)
    fit = rec["fit_inside"]
    assert fit["steps_per_env"] == 4 and fit["epochs"] == 100 and fit["samples"] == 2 * 4
    assert fit["max_excess_before"] > 3.0 and fit["max_excess_after"] < fit["max_excess_before"] / 4
    with torch.no_grad():
        assert tr.alg.actor(tr.env.get_observations())[:, 3].max() < 2.0
    rec, tr = started("unfitted", actor_from_inside_steps=0)
    assert "fit_inside" not in rec
    with torch.no_grad():
        assert tr.alg.actor(tr.env.get_observations())[:, 3].min() > 3.0
    with pytest.raises(ValueError, match="actor_from_inside_epochs"):
        TrainConfig(actor_from_inside_epochs=0).validate()
    with pytest.raises(ValueError, match="actor_from_inside_steps"):
        TrainConfig(actor_from_inside_steps=-1).validate()


def test_a_bound_on_some_joints_leaves_the_others_as_they_were(tmp_path, tiny_train_config):
    from dexmani_training.rl.train import bound_joint_indices
    from gr1_description import joints as jt

    names = list(jt.joint_names())
    thumb = bound_joint_indices(PPOConfig(action_bound_joints=("L_thumb_*",)))
    assert [names[i] for i in thumb] == ["L_thumb_proximal_yaw_joint", "L_thumb_proximal_pitch_joint"]
    assert bound_joint_indices(PPOConfig()) is None
    with pytest.raises(ValueError, match="matches no joint"):
        TrainConfig(ppo=PPOConfig(action_bound=1.0, action_bound_joints=("L_thumb_*", "no_such_*"))).validate()

    tr = _trainer(tmp_path / "run", tiny_train_config, 1.0, iterations=1)
    tr.train.ppo.action_bound_joints = ("L_thumb_*",)
    from dexmani_training.rl.train import build_algorithm

    alg = build_algorithm(tr.env, tr.train.ppo)
    assert alg.bound_mask.nonzero().reshape(-1).tolist() == thumb
    with torch.no_grad():
        _last_linear(alg.actor).bias[thumb[0]] += 4.0  # bounded: brought in
        _last_linear(alg.actor).bias[20] -= 4.0  # not bounded: left saturated
    tr.alg = alg
    obs = _rollout_obs(tr)
    with torch.no_grad():
        before = alg.actor(obs)
    rec = alg.fit_inside(obs, epochs=200, lr=1e-2)
    with torch.no_grad():
        after = alg.actor(obs)
    assert rec["outside_before"] == pytest.approx(0.5) and rec["max_excess_before"] > 2.5
    assert (after[:, thumb[0]] < 1.2).all()
    others = [i for i in range(26) if i not in thumb]
    assert torch.equal(after[:, others], before[:, others]) and rec["unbounded_max_change"] == 0.0
    # the bound's own step moves the bounded rows only, too
    with torch.no_grad():
        _last_linear(alg.actor).bias[thumb[1]] -= 5.0
        before = alg.actor(obs)
    alg._bound_step(obs)
    with torch.no_grad():
        after = alg.actor(obs)
    assert torch.equal(after[:, others], before[:, others]) and (after[:, thumb[1]] > before[:, thumb[1]]).all()
    assert alg.bound_penalty(before).min() > 4.0
