"""PPO training of a task specialist: rsl_rl's PPO (asymmetric actor-critic, 3×512 ELU MLPs,
empirical observation normalization) driven by a small loop of our own, so that a run has a
progress bar with the success rate, TensorBoard scalars per reward term and stage, periodic
checkpoints, a JSONL curve, and an exact ``--resume``.

A run directory (``runs/<task>/<name>/``) holds:

- ``config.yaml`` — the full task and training configuration, seed and command line;
- ``model_<iteration>.pt`` checkpoints and ``latest.pt`` (policy, critic, optimizer,
  normalizers, iteration, environment steps, wall time, all RNG states);
- ``progress.jsonl`` — one line per iteration (env steps, wall time, success / pickup rate,
  return, per-term returns, steps/s);
- ``tb/`` — TensorBoard event files.

Resume restores everything in ``latest.pt``; episodes that were in flight when the run was
killed restart from a reset (the simulator state itself is not checkpointed).
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from gr1_description import joints as jt

from ..dataclass_config import config_from_dict, plain
from ..tasks import TASKS, make_env, task_config
from ..tasks.base import TaskConfig

CHECKPOINT_FORMAT = 1
#: Actor-observation options, and the value that a checkpoint or run whose saved task config
#: does not name them (made before the option existed) was trained with.
OBSERVATION_OPTIONS_BEFORE_DEFAULTS = {"actor_fingertips": False}
#: Observation spread (normalizer std) below which ``warm_start_actor`` treats a source input as
#: one the source never saw change: 4× the joint encoder noise.
FLAT_INPUT_STD = 0.02
#: Task-config options that change the actor's input layout.
OBSERVATION_OPTIONS = ("actor_goal_offset", "actor_fingertips")


def saved_task_config(data: dict[str, Any], where: str) -> TaskConfig:
    """The task config a run or checkpoint saved (its ``task`` dict): options it does not name
    because they did not exist yet take the value it was trained with, not today's default."""
    data = {**OBSERVATION_OPTIONS_BEFORE_DEFAULTS, **data}
    return config_from_dict(TASKS[data["task"]][0], data, where=where)


def _read_config_file(config_file: Path) -> dict[str, Any]:
    if not Path(config_file).is_file():
        raise FileNotFoundError(f"task config {config_file} does not exist")
    data = yaml.safe_load(Path(config_file).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{config_file}: expected a mapping of settings, got {type(data).__name__}")
    return data


def read_task_overrides(config_file: Path) -> dict[str, Any]:
    """Task-config overrides from a YAML file: its ``task:`` section, or the whole file but its
    ``train:`` section."""
    data = _read_config_file(config_file)
    return data["task"] if "task" in data else {k: v for k, v in data.items() if k != "train"}


def read_train_config(config_file: Path) -> TrainConfig:
    """The training defaults with the ``train:`` section of a YAML config file over them (any
    ``TrainConfig`` field, nested, e.g. ``train: {ppo: {entropy_coef: 0.0}}``); unknown keys are
    refused by name."""
    data = _read_config_file(config_file).get("train") or {}
    cfg = config_from_dict(TrainConfig, data, where=f"{config_file} train")
    cfg.validate()
    return cfg


class RunDirectoryError(ValueError):
    """A run directory that cannot be used as asked (exists, or has nothing to resume)."""


@dataclass
class PPOConfig:
    num_steps_per_env: int = 32
    num_learning_epochs: int = 5
    num_mini_batches: int = 2
    clip_param: float = 0.2
    gamma: float = 0.99
    lam: float = 0.95
    value_loss_coef: float = 1.0
    entropy_coef: float = 0.001
    # A fixed rate: with 2048 samples per iteration the KL of the 26-D Gaussian policy exceeds
    # 2×desired_kl after every update even at tiny rates (Adam steps are noise-dominated), so
    # rsl_rl's adaptive schedule drives the rate to its 1e-5 floor within a few iterations and
    # the policy stops learning. "adaptive" stays selectable for large batches.
    learning_rate: float = 3e-4
    max_grad_norm: float = 1.0
    schedule: str = "fixed"
    desired_kl: float = 0.01
    hidden_dims: tuple[int, ...] = (512, 512, 512)
    activation: str = "elu"
    init_noise_std: float = 0.5
    obs_normalization: bool = True
    # Pull the actor's mean actions back inside [-action_bound, action_bound] after each update
    # (rl/bounded_ppo.py): a mean far past the env's clip at ±1 freezes its joint, since every
    # sample is then clipped to the same action. None: off (rsl_rl's PPO exactly).
    action_bound: float | None = None
    # The joints (names or fnmatch patterns, in the policy's frame: with mirror symmetry hand A
    # is the right hand) the bound applies to; None: all. E.g. ["L_thumb_*"] unfreezes hand B's
    # thumb of a handover policy and leaves its other actions as they are.
    action_bound_joints: tuple[str, ...] | None = None
    # With TrainConfig.demos: after each update, Adam steps pulling the actor's mean towards the
    # demonstrated actions at learning_rate × demo_weight · demo_decay^k (k: updates so far;
    # rl/bounded_ppo.py). 0.998 halves the pull in about 350 iterations (0.7 M steps at 64 envs).
    demo_weight: float = 1.0
    demo_decay: float = 0.998
    # The joints (names or fnmatch patterns, in the policy's frame) whose actions are pulled
    # towards the demonstrations; None: all. E.g. hand B's alone (["L_*", "left_*"]) for the
    # handover's scripted handoffs: pulled on A's arm too (A holds still in them), a run from the
    # grasp specialist stopped carrying the bar to the intermediate goal within 0.1 M steps;
    # without A's arm but with its fingers (open through B's carry), A stopped lifting it.
    demo_joints: tuple[str, ...] | None = None


CURRICULA = ("adaptive", "linear", "off")
TASK_CURRICULA = ("adaptive", "off")
EXECUTED_KEPT = ("all", "positive_advantage")


@dataclass
class TrainConfig:
    iterations: int = 1000
    max_minutes: float | None = None  # stop after this much wall-clock training time
    save_interval: int = 50
    num_threads: int | None = None  # simulator threads; default all cores
    # Actions a training aid executed for the policy are stored at most this many of the
    # policy's standard deviations from its mean (see Trainer._store_executed_actions).
    executed_action_max_std: float = 2.0
    # Which of those executed actions stay in the rollout for the update: ``all``, or
    # ``positive_advantage`` (those whose advantage came out above the batch's mean; the others
    # get the policy's own sample back, as without the aid): the policy imitates the aid where it
    # paid off and is not pushed away from it where it did not.
    executed_actions_kept: str = "all"
    torch_threads: int | None = None  # None: 1 thread while the simulator threads step, all cores for the update
    # Where the networks, the rollout storage and the PPO update live: "cpu", "cuda", "cuda:N",
    # or "auto" (cuda where torch sees one). The simulator always steps on the CPU threads;
    # observations go to the device and actions come back each step. Checkpoints are written
    # with CPU tensors, so a run trained on a GPU evaluates and resumes anywhere.
    device: str = "cpu"
    # Domain-randomization curriculum (the strength of every term, 0 … 1; evaluation and
    # checkpoints always use 1):
    #   "adaptive" — start at 0; after each iteration, raise the strength by
    #     curriculum_rate_per_m_steps per million env steps while the success rate of recent
    #     training episodes from nominal resets is ≥ curriculum_raise_at, lower it at the same
    #     rate while it is < curriculum_lower_below, hold it in between;
    #   "linear" — grow linearly from 0 to 1 over randomization_ramp_env_steps;
    #   "off" — full strength from the start.
    # Measured (grasp_and_reach, one core, 15 min, 1.04 M steps, eval at full strength): a
    # linear ramp over 6 M steps (strength ≤ 0.17 in the run) reached eval success 0.36; ramps
    # that reach full strength early stall (0–0.04 after 0.7 M steps with a 0.4 M-step ramp).
    # Adaptive thresholds: with 0.5 / 0.25 / 1.0 a 30-minute grasp_and_reach run hovered at the
    # 0.5 bar and reached strength 0.47; continued 20 minutes from its end (one core each),
    # 0.35 / 0.15 / 2.0 reached strength 0.8 and eval success 0.31 at full strength, where
    # training at full strength at once gave 0.07–0.21.
    randomization_curriculum: str = "adaptive"
    randomization_ramp_env_steps: int = 2_000_000
    curriculum_raise_at: float = 0.35
    curriculum_lower_below: float = 0.15
    curriculum_rate_per_m_steps: float = 2.0
    # The task's own difficulty curriculum, for tasks whose config asks for one (e.g. handover's
    # final_goal_curriculum_start_y_m); evaluation and checkpoints' task configs are the full task.
    #   "adaptive" — start at difficulty 0; after each iteration, raise it by
    #     task_curriculum_rate_per_m_steps per million env steps while the success rate of recent
    #     nominal-reset training episodes is ≥ task_curriculum_raise_at, lower it while it is
    #     < task_curriculum_lower_below. The randomization curriculum ("adaptive") holds its
    #     strength until the task is at difficulty 1: one thing at a time gets harder.
    #   "off" — the full task from the start.
    task_curriculum: str = "adaptive"
    task_curriculum_raise_at: float = 0.3
    task_curriculum_lower_below: float = 0.1
    task_curriculum_rate_per_m_steps: float = 1.0
    # Share of training episodes whose difficulty is drawn uniformly from [0, current] instead
    # of at the current difficulty, so that what was learned at easier ones is still practised
    # while the frontier moves; the adaptive rule then counts only the episodes drawn at the
    # current difficulty (progress.jsonl: nominal/frontier_success_rate). 0: all at the current.
    task_curriculum_spread: float = 0.0
    # Start the actor from another run's or a shipped specialist's checkpoint (any task whose
    # actor input has the same size and layout); the critic starts fresh. See
    # ``warm_start_actor``. Measured on handover (no randomization, 128 episodes from nominal
    # resets): the shipped grasp_and_reach actor reaches the intermediate stage in 0.125 of
    # episodes before any handover training; a 22-minute run from scratch never did.
    actor_from: str | None = None
    # The warm-started actor's action noise (its per-joint standard deviations) times this
    # factor; 1 keeps the source's. Why: a handover actor whose deterministic carry brought the
    # bar a median 6.7 cm from the final goal came 16–20 cm close on average with its own noise
    # (std 0.39) in training episodes, so the success condition (5 cm) hardly ever paid.
    actor_from_noise_scale: float = 1.0
    # Also start the critic (value network and its observation normalizer) from ``actor_from``,
    # which must then be a run of the same task with the same critic inputs and network. Why:
    # fine-tuning a handover checkpoint with a fresh critic lost its carry within 0.2 M steps
    # (the share of training episodes reaching the intermediate goal fell from 0.8 to 0.09).
    actor_from_with_critic: bool = False
    # With ppo.action_bound: before training, the warm-started actor's means are fitted inside
    # the bound without changing its clipped actions (BoundedPPO.fit_inside) over the
    # observations of this many control steps per env of its own stochastic rollouts in the
    # run's env (0: not fitted; the bound's penalty then pulls the means in during training),
    # in this many passes over them.
    actor_from_inside_steps: int = 128
    actor_from_inside_epochs: int = 300
    # Iterations at the start of a run in which only the critic learns (the actor is frozen),
    # so that a warm-started actor is not updated with a fresh critic's random advantages.
    critic_warmup_iterations: int = 0
    # Demonstration sets (.npz, ``dexmani demos record``), taken together, that the actor is
    # pulled towards after each update (ppo.demo_weight, ppo.demo_decay); None: plain PPO.
    demos: tuple[str, ...] | None = None
    # Before training (after any warm start), fit the actor to the demonstrations by this many
    # passes of behaviour cloning (BoundedPPO.fit_demos: Adam, lr 1e-3, minibatches of 1024, the
    # ppo.demo_joints mask); 0: none. The record goes to config.yaml (demo_pretrain).
    demo_pretrain_epochs: int = 0
    ppo: PPOConfig = field(default_factory=PPOConfig)

    def validate(self) -> None:
        if self.actor_from_noise_scale <= 0:
            raise ValueError(f"actor_from_noise_scale must be > 0, got {self.actor_from_noise_scale}")
        if self.actor_from_with_critic and not self.actor_from:
            raise ValueError("actor_from_with_critic loads the critic of actor_from's checkpoint: it needs actor_from (--actor-from)")
        if self.actor_from_noise_scale != 1.0 and not self.actor_from:
            raise ValueError("actor_from_noise_scale scales a warm-started actor's noise: it needs actor_from (--actor-from)")
        if self.executed_action_max_std <= 0:
            raise ValueError(f"executed_action_max_std must be > 0, got {self.executed_action_max_std}")
        if self.executed_actions_kept not in EXECUTED_KEPT:
            raise ValueError(f"executed_actions_kept must be one of {list(EXECUTED_KEPT)}, got {self.executed_actions_kept!r}")
        if self.randomization_curriculum not in CURRICULA:
            raise ValueError(f"randomization_curriculum must be one of {list(CURRICULA)}, got {self.randomization_curriculum!r}")
        if self.randomization_curriculum == "linear" and self.randomization_ramp_env_steps <= 0:
            raise ValueError("randomization_ramp_env_steps must be > 0 for the linear curriculum (use 'off' for full strength)")
        if not 0.0 <= self.curriculum_lower_below <= self.curriculum_raise_at <= 1.0:
            raise ValueError(
                f"need 0 <= curriculum_lower_below ({self.curriculum_lower_below}) <= curriculum_raise_at "
                f"({self.curriculum_raise_at}) <= 1"
            )
        if self.task_curriculum not in TASK_CURRICULA:
            raise ValueError(f"task_curriculum must be one of {list(TASK_CURRICULA)}, got {self.task_curriculum!r}")
        if not 0.0 <= self.task_curriculum_lower_below <= self.task_curriculum_raise_at <= 1.0:
            raise ValueError(
                f"need 0 <= task_curriculum_lower_below ({self.task_curriculum_lower_below}) <= task_curriculum_raise_at "
                f"({self.task_curriculum_raise_at}) <= 1"
            )
        if not 0.0 <= self.task_curriculum_spread < 1.0:
            raise ValueError(f"task_curriculum_spread must be in [0, 1) (1 would leave no episode at the current "
                             f"difficulty to measure), got {self.task_curriculum_spread}")
        if self.task_curriculum_rate_per_m_steps < 0:
            raise ValueError(f"task_curriculum_rate_per_m_steps must be >= 0, got {self.task_curriculum_rate_per_m_steps}")
        if self.curriculum_rate_per_m_steps < 0:
            raise ValueError(f"curriculum_rate_per_m_steps must be >= 0, got {self.curriculum_rate_per_m_steps}")
        if self.critic_warmup_iterations < 0:
            raise ValueError(f"critic_warmup_iterations must be >= 0, got {self.critic_warmup_iterations}")
        if self.actor_from_inside_steps < 0:
            raise ValueError(f"actor_from_inside_steps must be >= 0, got {self.actor_from_inside_steps}")
        if self.actor_from_inside_epochs < 1:
            raise ValueError(f"actor_from_inside_epochs must be >= 1, got {self.actor_from_inside_epochs}")
        if self.ppo.action_bound is not None and not self.ppo.action_bound > 0:
            raise ValueError(f"ppo.action_bound must be > 0 (or null: off), got {self.ppo.action_bound}")
        bound_joint_indices(self.ppo)  # refuses patterns that match no joint
        demo_joint_indices(self.ppo)
        if not self.ppo.demo_weight >= 0:
            raise ValueError(f"ppo.demo_weight must be >= 0, got {self.ppo.demo_weight}")
        if not 0 < self.ppo.demo_decay <= 1:
            raise ValueError(f"ppo.demo_decay must be in (0, 1], got {self.ppo.demo_decay}")
        if self.demo_pretrain_epochs < 0:
            raise ValueError(f"demo_pretrain_epochs must be >= 0, got {self.demo_pretrain_epochs}")
        if self.demo_pretrain_epochs and not self.demos:
            raise ValueError("demo_pretrain_epochs fits the actor to demonstrations: it needs demos (--demos)")
        for path in self.demos or ():
            if not Path(path).is_file():
                raise FileNotFoundError(f"demonstration set {path} does not exist")
        resolve_device(self.device)


def resolve_device(device: str) -> str:
    """The torch device for ``TrainConfig.device``: "auto" is "cuda" where torch sees a GPU, else
    "cpu"; a CUDA device torch cannot see is an error that says so."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA device; "
                             "use --device cpu (or auto)")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {device!r}")


def to_cpu(obj: Any) -> Any:
    """``obj`` (nested dicts, lists, tuples of tensors) with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def next_randomization_strength(train: TrainConfig, strength: float, env_steps: int, steps: int,
                                nominal_success_rate: float | None) -> float:
    """The curriculum's strength for the next iteration (see ``TrainConfig``): ``strength`` is the
    current one, ``env_steps`` the steps trained so far (after this iteration's ``steps``),
    ``nominal_success_rate`` the success rate of recent training episodes from nominal resets
    (None when there are none yet)."""
    if train.randomization_curriculum == "off":
        return 1.0
    if train.randomization_curriculum == "linear":
        return min(1.0, env_steps / train.randomization_ramp_env_steps)
    return adaptive_step(strength, train.curriculum_rate_per_m_steps * steps / 1e6, nominal_success_rate,
                         train.curriculum_raise_at, train.curriculum_lower_below)


def adaptive_step(value: float, delta: float, success_rate: float | None, raise_at: float, lower_below: float) -> float:
    """An adaptive curriculum's next value in [0, 1]: ``value`` raised by ``delta`` while
    ``success_rate`` ≥ ``raise_at``, lowered below ``lower_below``, held in between and while
    there is no rate yet (None)."""
    if success_rate is None:
        return value
    if success_rate >= raise_at:
        value += delta
    elif success_rate < lower_below:
        value -= delta
    return float(np.clip(value, 0.0, 1.0))


def next_task_difficulty(train: TrainConfig, difficulty: float, steps: int, nominal_success_rate: float | None) -> float:
    """The task curriculum's difficulty for the next iteration (see ``TrainConfig.task_curriculum``):
    ``difficulty`` is the current one, ``steps`` this iteration's env steps, ``nominal_success_rate``
    the success rate of recent nominal-reset training episodes (None when there are none yet)."""
    if train.task_curriculum == "off":
        return 1.0
    return adaptive_step(difficulty, train.task_curriculum_rate_per_m_steps * steps / 1e6, nominal_success_rate,
                         train.task_curriculum_raise_at, train.task_curriculum_lower_below)


def bound_joint_indices(ppo: PPOConfig) -> list[int] | None:
    """The action indices ``ppo.action_bound_joints`` names (None: all), or an error naming a
    pattern that matches no joint."""
    return joint_indices(ppo.action_bound_joints, "ppo.action_bound_joints")


def demo_joint_indices(ppo: PPOConfig) -> list[int] | None:
    """The action indices ``ppo.demo_joints`` names (None: all)."""
    return joint_indices(ppo.demo_joints, "ppo.demo_joints")


def joint_indices(patterns, what: str) -> list[int] | None:
    """The action indices of the joints ``patterns`` (names or fnmatch patterns) name, sorted
    (None for None: all), or an error naming a pattern that matches no joint."""
    if patterns is None:
        return None
    import fnmatch

    names = jt.joint_names()
    picked: set[int] = set()
    for pattern in patterns:
        hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ValueError(f"{what}: {pattern!r} matches no joint (joints: {', '.join(names)})")
        picked.update(hits)
    return sorted(picked)


def rsl_rl_config(ppo: PPOConfig) -> dict[str, Any]:
    model = {
        "class_name": "MLPModel", "hidden_dims": list(ppo.hidden_dims), "activation": ppo.activation,
        "obs_normalization": ppo.obs_normalization,
    }
    return {
        "num_steps_per_env": ppo.num_steps_per_env,
        "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
        "multi_gpu": None,
        "algorithm": {
            "class_name": "dexmani_training.rl.bounded_ppo:BoundedPPO", "num_learning_epochs": ppo.num_learning_epochs, "num_mini_batches": ppo.num_mini_batches,
            "clip_param": ppo.clip_param, "gamma": ppo.gamma, "lam": ppo.lam, "value_loss_coef": ppo.value_loss_coef,
            "entropy_coef": ppo.entropy_coef, "learning_rate": ppo.learning_rate, "max_grad_norm": ppo.max_grad_norm,
            "schedule": ppo.schedule, "desired_kl": ppo.desired_kl, "action_bound": ppo.action_bound,
            "action_bound_indices": bound_joint_indices(ppo), "demo_weight": ppo.demo_weight,
            "demo_decay": ppo.demo_decay, "demo_indices": demo_joint_indices(ppo),
        },
        "actor": {**model, "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": ppo.init_noise_std}},
        "critic": dict(model),
    }


def build_algorithm(env, ppo: PPOConfig, device: str = "cpu"):
    import contextlib
    import io

    from .bounded_ppo import BoundedPPO

    # rsl_rl prints the resolved observation sets and both networks; keep stdout for results
    # (`dexmani eval --json` prints exactly one JSON object).
    with contextlib.redirect_stdout(io.StringIO()):
        return BoundedPPO.construct_algorithm(env.get_observations().to(device), env, rsl_rl_config(ppo), device)


def actor_input_differences(a: TaskConfig, a_obs: int, a_where: str, b: TaskConfig, b_obs: int, b_where: str) -> list[str]:
    """How two actors' inputs differ (their size, the observation options, mirror symmetry), each
    difference as "<a's> <a_where>, <b's> <b_where>"; empty where one actor's inputs suit the
    other's task."""
    diff = [f"{a_obs} actor observations {a_where}, {b_obs} {b_where}"] if a_obs != b_obs else []
    return diff + [f"{opt}: {getattr(a, opt)} {a_where}, {getattr(b, opt)} {b_where}"
                   for opt in (*OBSERVATION_OPTIONS, "mirror_symmetry") if getattr(a, opt) != getattr(b, opt)]


def warm_start_actor(alg, cfg: TaskConfig, ppo: PPOConfig, source: str | Path,
                     noise_scale: float = 1.0, with_critic: bool = False) -> dict[str, Any]:
    """Load the actor of checkpoint ``source`` (any task, e.g. a shipped specialist) into
    ``alg``'s actor, for a run of ``cfg``: weights, observation normalizer and action noise.

    The two tasks' actor inputs must have the same size and layout (the observation options
    and mirror symmetry agree) and the same network. Actions the source task never applied
    (``unused_actions``: grasp_and_reach's idle left side) but this task does start as a fresh
    actor's would: mean 0 (the output layer's rows zeroed, so those joints hold still) and the
    initial noise ``ppo.init_noise_std``; the others keep the source's noise times
    ``noise_scale``. Inputs the source saw as constant (normalizer spread
    below ``FLAT_INPUT_STD``) start ignored, with unit spread. ``with_critic``: the critic
    too, from the same file (``_load_critic``). Returns what was loaded, for the run's record."""
    from .evaluate import checkpoint_task_config, load_checkpoint

    d = load_checkpoint(source)  # any task; refuses another joint table
    meta = d["dexmani"]
    src = checkpoint_task_config(d, source)
    own = to_cpu(alg.actor.state_dict())
    layers = sorted((k for k in own if k.startswith("mlp.") and k.endswith(".weight")), key=lambda k: int(k.split(".")[1]))
    first, out = layers[0], layers[-1]
    n_obs = int(own[first].shape[1])
    theirs = d["actor_state_dict"]
    mismatch = actor_input_differences(src, meta["num_policy_obs"], f"in {meta['task']}", cfg, n_obs, "here")
    shapes = {k: (tuple(v.shape), tuple(theirs[k].shape)) for k, v in own.items() if k in theirs}
    if set(own) != set(theirs) or any(a != b for a, b in shapes.values()):
        src_ppo = meta.get("ppo", {})
        mismatch.append(f"network {src_ppo.get('hidden_dims')}/{src_ppo.get('activation')} in {meta['task']}, "
                        f"{list(ppo.hidden_dims)}/{ppo.activation} here")
    if mismatch:
        raise ValueError(f"cannot start the {cfg.task} actor from {source}: " + "; ".join(mismatch))
    sd = {k: v.clone() for k, v in theirs.items()}
    fresh = TASKS[src.task][1].unused_actions(src) & ~TASKS[cfg.task][1].unused_actions(cfg)
    if fresh.any():
        rows = torch.as_tensor(fresh)
        sd[out][rows] = 0.0
        sd[out.replace(".weight", ".bias")][rows] = 0.0
        for k in sd:
            if k.startswith("distribution."):  # the noise parameter, whatever its parameterization
                sd[k][rows] = own[k][rows]
    if noise_scale != 1.0:
        kept = ~torch.as_tensor(fresh)
        for k in sd:
            if k == "distribution.std_param":
                sd[k][kept] *= noise_scale
            elif k == "distribution.log_std_param":
                sd[k][kept] += float(np.log(noise_scale))
            elif k.startswith("distribution."):
                raise ValueError(f"actor_from_noise_scale: unknown noise parameter {k!r} in {source}")
    # Inputs the source saw as (nearly) constant: grasp_and_reach's idle arm sits at the default
    # pose, so its joint positions have the spread of the encoder noise alone (0.005 rad) in the
    # normalizer. Once the new task moves that arm, 0.1 rad reads as 7 standard deviations and
    # scrambles every output, hand A's included (a warm-started handover actor reached the
    # intermediate stage deterministically, with B still, but not with B's exploration noise).
    # Such inputs start ignored (their first-layer weights zeroed) with unit spread, as in a
    # fresh normalizer, and are learned from there.
    flat = torch.zeros(n_obs, dtype=torch.bool)
    if "obs_normalizer._std" in sd:
        flat = sd["obs_normalizer._std"].reshape(-1) < FLAT_INPUT_STD
        sd[first][:, flat] = 0.0
        for k in ("obs_normalizer._var", "obs_normalizer._std"):
            sd[k].reshape(-1)[flat] = 1.0
    if with_critic:  # checked before anything is loaded
        critic = _checked_critic(alg, cfg, d, source)
    alg.actor.load_state_dict(sd, strict=True)
    if with_critic:
        alg.critic.load_state_dict(critic, strict=True)
    names = jt.joint_names()
    return {"source": str(source), "task": meta["task"], "iteration": meta.get("iteration"),
            "env_steps": meta.get("env_steps"), "fresh_actions": [names[i] for i in np.flatnonzero(fresh)],
            "flat_inputs": [int(i) for i in torch.nonzero(flat).reshape(-1)],
            **({"critic": True} if with_critic else {})}


def _checked_critic(alg, cfg: TaskConfig, d: dict[str, Any], source: str | Path) -> dict[str, torch.Tensor]:
    """The critic of checkpoint ``d`` (weights and observation normalizer), for ``alg``'s
    critic. The source must be of the same task with the same critic inputs and network: a
    value learned for another task's observations or rewards means nothing here."""
    meta = d["dexmani"]
    own = alg.critic.state_dict()
    theirs = d.get("critic_state_dict")
    problems = []
    if meta["task"] != cfg.task:
        problems.append(f"task {meta['task']} there, {cfg.task} here")
    if theirs is None:
        problems.append("no critic in the checkpoint")
    elif meta.get("num_critic_obs") != int(own["mlp.0.weight"].shape[1]):
        problems.append(f"{meta.get('num_critic_obs')} critic inputs there, {int(own['mlp.0.weight'].shape[1])} here")
    elif set(own) != set(theirs) or any(tuple(v.shape) != tuple(theirs[k].shape) for k, v in own.items()):
        problems.append("another critic network")
    if problems:
        raise ValueError(f"cannot start the critic from {source}: " + "; ".join(problems))
    return {k: v.clone() for k, v in theirs.items()}


def _atomic_torch_save(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".pt.tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def checkpoint_metadata(cfg: TaskConfig, env) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "task": cfg.task,
        "joint_names": jt.joint_names(),
        "num_policy_obs": int(env.get_observations()["policy"].shape[1]),
        "num_critic_obs": int(env.get_observations()["critic"].shape[1]),
        "task_config": cfg.to_dict(),
    }


class Trainer:
    """One training run in one run directory."""

    def __init__(self, run_dir: Path, cfg: TaskConfig | None, train: TrainConfig | None, seed: int, resume: bool = False,
                 force: bool = False, command: str | None = None, progress: bool = True,
                 resume_init: dict[str, Any] | None = None, resume_device: str | None = None):
        """``resume_init`` (with ``resume`` only): init settings (``library``, ``probability``)
        to continue the run with, e.g. a library grown from the run's own rollouts; the change
        is written to config.yaml (``task.init``, and a ``resumed`` entry naming the iteration).
        ``resume_device`` (with ``resume`` only): continue on this device instead of the run's
        (a run trained on a GPU continues on a machine without one; the sampled actions then
        differ from what the run's own device would have drawn)."""
        self.run_dir = Path(run_dir)
        self.progress = progress
        latest = self.run_dir / "latest.pt"
        if not resume and (cfg is None or train is None):
            raise ValueError("a new run needs a task config and a train config")
        if resume:
            if not latest.is_file():
                found = sorted(p.name for p in self.run_dir.glob("*.pt")) if self.run_dir.is_dir() else []
                raise RunDirectoryError(
                    f"cannot resume: {self.run_dir} has no latest.pt checkpoint"
                    + (f" (found {found})" if found else " (the directory is missing or empty)")
                )
            saved = yaml.safe_load((self.run_dir / "config.yaml").read_text())
            cfg = saved_task_config(saved["task"], where="config.yaml task")
            train = config_from_dict(TrainConfig, saved["train"], where="config.yaml train")
            seed = saved["seed"]
            if resume_device:
                train = replace(train, device=resume_device)
            if resume_init:
                bad = sorted(set(resume_init) - {"library", "probability"})
                if bad:
                    raise ValueError(f"a resumed run can change only init.library and init.probability, not {bad}")
                # a library named is a library used, also by a run that had none
                use = {"use_library": True} if "library" in resume_init else {}
                cfg = replace(cfg, init=replace(cfg.init, **resume_init, **use))
                cfg.validate()
        elif resume_init or resume_device:
            raise ValueError("resume_init and resume_device apply to a resumed run only")
        elif self.run_dir.exists() and any(self.run_dir.iterdir()):
            if not force:
                raise RunDirectoryError(f"run directory {self.run_dir} exists and is not empty; pass --force to overwrite it, or --resume")
            for p in list(self.run_dir.glob("*.pt")) + list(self.run_dir.glob("progress.jsonl")) + list(self.run_dir.glob("tb/*")):
                p.unlink()
        train.validate()
        self.cfg, self.train, self.seed = cfg, train, seed
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        self._cores = torch.get_num_threads()
        self.env = make_env(cfg, seed=seed, num_threads=train.num_threads)
        self.env.set_randomization_strength(next_randomization_strength(train, 0.0, 0, 0, None))
        self.curriculum = self.env.has_task_curriculum()
        self.env.set_task_difficulty(next_task_difficulty(train, 0.0, 0, None) if self.curriculum else 1.0,
                                     spread=train.task_curriculum_spread if self.curriculum else 0.0)
        self.device = resolve_device(train.device)
        self.alg = build_algorithm(self.env, train.ppo, self.device)
        self.demos = None
        if train.demos:
            from ..demos import DemoSet

            sets = [DemoSet.load(p) for p in train.demos]
            for d in sets:
                d.check_against(cfg, int(self.env.get_observations()["policy"].shape[1]))
            self.demos = sets
            self.alg.set_demos(torch.as_tensor(np.concatenate([d.obs for d in sets])),
                               torch.as_tensor(np.concatenate([d.actions for d in sets])))
        self.iteration = 0
        self.env_steps = 0
        self.wall_s = 0.0
        self.overridden_steps: int | None = None  # this iteration's env steps with actions an aid executed (None: no aid reports any)
        self._own_samples: list = []  # (rollout step, rows, the policy's samples, their log-probs) it replaced
        self.episodes: collections.deque = collections.deque(maxlen=max(200, 2 * cfg.num_envs))
        if resume:
            self._load(latest)
            change: dict[str, Any] = {}
            if resume_init:
                saved["task"]["init"] = plain(asdict(cfg.init))
                change["init"] = dict(resume_init)
            if resume_device and resume_device != saved["train"].get("device", "cpu"):
                saved["train"]["device"] = resume_device  # the next --resume continues there too
                change["device"] = resume_device
            if change:
                saved.setdefault("resumed", []).append({"iteration": self.iteration, **change})
                _atomic_write_text(self.run_dir / "config.yaml", yaml.safe_dump(saved, sort_keys=False))
        else:
            doc = {"task": cfg.to_dict(), "train": plain(asdict(train)), "seed": seed,
                   "command": command or " ".join(shlex.quote(a) for a in sys.argv)}
            if train.actor_from:
                doc["actor_from"] = warm_start_actor(self.alg, cfg, train.ppo, train.actor_from,
                                                     noise_scale=train.actor_from_noise_scale,
                                                     with_critic=train.actor_from_with_critic)
                if train.ppo.action_bound is not None and train.actor_from_inside_steps > 0:
                    doc["actor_from"]["fit_inside"] = self._fit_actor_inside(train.actor_from_inside_steps,
                                                                             train.actor_from_inside_epochs)
            if train.demos and train.demo_pretrain_epochs > 0:
                t0 = time.perf_counter()
                torch.set_num_threads(train.torch_threads or self._cores)
                fit = self.alg.fit_demos(train.demo_pretrain_epochs)
                doc["demo_pretrain"] = {**fit, "fit_s": round(time.perf_counter() - t0, 1)}
            _atomic_write_text(self.run_dir / "config.yaml", yaml.safe_dump(doc, sort_keys=False))

    def _fit_actor_inside(self, steps: int, epochs: int) -> dict[str, Any]:
        """Roll the warm-started actor out (sampled actions, as in training) for ``steps``
        control steps per env, fit its means inside the bound over those observations
        (``BoundedPPO.fit_inside``) and reset every env; returns the fit's record."""
        dev = self.alg.device
        seen = []
        obs = self.env.get_observations().to(dev)
        with torch.no_grad():  # not inference mode: the fit differentiates through these inputs
            for _ in range(steps):
                seen.append(obs)
                obs, _, _, _ = self.env.step(self.alg.actor(obs, stochastic_output=True).cpu())
                obs = obs.to(dev)
        self.env.reset()
        t0 = time.perf_counter()
        fit = self.alg.fit_inside(torch.cat(seen), epochs=epochs)
        return {"steps_per_env": steps, "epochs": epochs, **fit, "fit_s": round(time.perf_counter() - t0, 1)}

    # --- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        d = to_cpu(self.alg.save())
        d.update({
            "iter": self.iteration,
            "dexmani": {
                **checkpoint_metadata(self.cfg, self.env),
                "iteration": self.iteration, "env_steps": self.env_steps, "wall_s": self.wall_s, "seed": self.seed,
                "ppo": plain(asdict(self.train.ppo)),
                "learning_rate": self.alg.learning_rate,
                # The curriculum's current strength (the task_config above keeps 1, what
                # evaluation uses); --resume continues from it.
                "randomization_strength": self.env.cfg.randomization.strength,
                "task_difficulty": self.env.task_difficulty,  # the task curriculum's, likewise
                "rng": {"env": self.env.rng_state(), "sim": self.env.sim.rng.bit_generator.state,
                        "torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                        # the policy samples its actions on the device: its generator too, for an exact resume
                        **({"torch_cuda": torch.cuda.get_rng_state(self.device)} if self.device.startswith("cuda") else {})},
            },
        })
        return d

    def save(self) -> Path:
        state = self.state_dict()
        path = self.run_dir / f"model_{self.iteration}.pt"
        _atomic_torch_save(state, path)
        _atomic_torch_save(state, self.run_dir / "latest.pt")
        return path

    def _load(self, path: Path) -> None:
        d = torch.load(path, weights_only=False, map_location="cpu")
        meta = d["dexmani"]
        check_checkpoint(meta, self.cfg.task, path)
        self.alg.load(d, None, strict=True)
        self.alg.learning_rate = meta["learning_rate"]
        self.iteration, self.env_steps, self.wall_s = meta["iteration"], meta["env_steps"], meta["wall_s"]
        strength = next_randomization_strength(self.train, meta.get("randomization_strength", 0.0), self.env_steps, 0, None)
        self.env.set_randomization_strength(strength)
        if self.curriculum:
            self.env.set_task_difficulty(next_task_difficulty(self.train, meta.get("task_difficulty", 0.0), 0, None),
                                         spread=self.train.task_curriculum_spread)
        self.env.set_rng_state(meta["rng"]["env"])
        self.env.sim.rng.bit_generator.state = meta["rng"]["sim"]
        torch.set_rng_state(meta["rng"]["torch"])
        if self.device.startswith("cuda") and "torch_cuda" in meta["rng"]:
            torch.cuda.set_rng_state(meta["rng"]["torch_cuda"], self.device)
        np.random.set_state(meta["rng"]["numpy"])
        self.env.reset()

    # --- the loop ---------------------------------------------------------------------------
    def run(self, iterations: int | None = None) -> dict[str, Any]:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        target = iterations if iterations is not None else self.train.iterations
        start_it = self.iteration
        writer = SummaryWriter(log_dir=str(self.run_dir / "tb"), purge_step=start_it)
        bar = tqdm(total=target, initial=min(start_it, target), desc=f"{self.cfg.task}", unit="it",
                   disable=not self.progress, dynamic_ncols=True, file=sys.stderr)
        dev = self.device
        obs = self.env.get_observations().to(dev)
        self.alg.train_mode()
        t_budget = None if self.train.max_minutes is None else self.train.max_minutes * 60.0
        summary: dict[str, Any] = {}
        stop_reason = "iterations"
        # SIGTERM (kill, a scheduler's preemption, docker stop) ends the run at the end of the
        # iteration in flight, with a checkpoint, as --max-minutes does; without this the process
        # died unsaved and --resume went back to the last periodic checkpoint. Only the main
        # thread can take a signal handler; elsewhere SIGTERM keeps its default.
        term = {"requested": False}
        own_handler = threading.current_thread() is threading.main_thread()
        if own_handler:
            old_term = signal.signal(signal.SIGTERM, lambda *_: term.update(requested=True))
        try:
            while self.iteration < target:
                if t_budget is not None and self.wall_s >= t_budget:
                    stop_reason = "max_minutes"
                    break
                if term["requested"]:
                    stop_reason = "sigterm"
                    break
                t0 = time.perf_counter()
                self.alg.actor.requires_grad_(self.iteration >= self.train.critic_warmup_iterations)
                # Policy inference in the rollout is small; extra torch threads only fight the
                # simulator's threads there. The update is large and gets every core.
                torch.set_num_threads(self.train.torch_threads or 1)
                with torch.inference_mode():
                    for _ in range(self.train.ppo.num_steps_per_env):
                        actions = self.alg.act(obs)
                        obs, rewards, dones, extras = self.env.step(actions.cpu())
                        obs, rewards, dones = obs.to(dev), rewards.to(dev), dones.to(dev)
                        self._store_executed_actions(extras)
                        self.alg.process_env_step(obs, rewards, dones, extras)
                    self.alg.compute_returns(obs)
                    self._keep_executed_actions()
                t1 = time.perf_counter()
                torch.set_num_threads(self.train.torch_threads or self._cores)
                losses = self.alg.update()
                t2 = time.perf_counter()
                self.iteration += 1
                steps = self.train.ppo.num_steps_per_env * self.env.num_envs
                self.env_steps += steps
                self.wall_s += t2 - t0
                self.episodes.extend(self.env.drain_completed())
                summary = self._log(writer, losses, steps, t1 - t0, t2 - t1)
                nominal_success = summary.get("nominal/success_rate") if summary.get("nominal_episodes") else None
                if "nominal/frontier_success_rate" in summary:  # with a spread: the frontier's episodes only
                    nominal_success = summary["nominal/frontier_success_rate"]
                full_task = self.env.task_difficulty >= 1.0
                if self.curriculum:
                    difficulty = next_task_difficulty(self.train, self.env.task_difficulty, steps, nominal_success)
                    self.env.set_task_difficulty(difficulty, spread=self.train.task_curriculum_spread)
                # The randomization curriculum waits for the full task (its success rate is not
                # the full task's before that).
                self.env.set_randomization_strength(next_randomization_strength(
                    self.train, self.env.cfg.randomization.strength, self.env_steps, steps,
                    nominal_success if full_task else None))
                bar.update(1)
                bar.set_postfix_str(
                    f"success {summary['success_rate']:.2f} pickup {summary.get('pickup_rate', 0):.2f} "
                    f"return {summary['return']:.2f} {summary['steps_per_s']:.0f} steps/s"
                    + (f" difficulty {self.env.task_difficulty:.2f}" if self.curriculum else "")
                )
                if self.iteration % self.train.save_interval == 0:
                    self.save()
        finally:
            if own_handler:
                signal.signal(signal.SIGTERM, old_term if old_term is not None else signal.SIG_DFL)
            bar.close()
            self.save()
            writer.close()
        summary.update({"iteration": self.iteration, "env_steps": self.env_steps, "wall_s": self.wall_s, "stop": stop_reason,
                        "run_dir": str(self.run_dir)})
        return summary

    def _store_executed_actions(self, extras: dict[str, Any]) -> None:
        """Where a training aid moved joints for the policy (``extras["overridden"]``, envs ×
        actions, e.g. handover's ``assist_as_actions``), the rollout stores the action the env
        executed for those joints instead of the policy's ignored sample, so that PPO credits the
        return that followed to the policy's outputs for them. The stored value is moved to within
        ``executed_action_max_std`` of the policy's standard deviations from its mean: PPO's
        probability ratio of an action many deviations away (a mean outside [-1, 1] held at 0,
        say) overflowed within an update and turned the policy's parameters to NaN in two of two
        runs (30 and 40 iterations). Each update then moves the policy towards the executed action
        by a bounded step."""
        overridden = extras.get("overridden")
        if overridden is None:
            return
        rows = overridden.any(dim=1)
        self.overridden_steps = (self.overridden_steps or 0) + int(rows.sum())
        if not rows.any():
            return
        tr = self.alg.transition
        mean, std = tr.distribution_params[:2]
        k = self.train.executed_action_max_std
        executed = extras["executed_actions"].to(mean)
        pulled = mean + torch.minimum(torch.maximum(executed - mean, -k * std), k * std)
        if self.train.executed_actions_kept != "all":  # kept to be put back after the returns
            rows = rows.to(mean.device)
            self._own_samples.append((self.alg.storage.step, rows, tr.actions[rows].clone(), tr.actions_log_prob[rows].clone()))
        tr.actions = torch.where(overridden.to(mean.device), pulled, tr.actions)
        tr.actions_log_prob = self.alg.actor.get_output_log_prob(tr.actions).detach()

    def _keep_executed_actions(self) -> None:
        """After the returns: with ``executed_actions_kept: positive_advantage``, the steps whose
        (normalized) advantage is not above 0 get the policy's own sample and its log-probability
        back in the rollout."""
        own, self._own_samples = self._own_samples, []
        st = self.alg.storage
        for t, rows, actions, log_prob in own:
            back = st.advantages[t, rows, 0] <= 0
            ids = rows.nonzero().flatten()[back]
            st.actions[t, ids] = actions[back]
            st.actions_log_prob[t, ids, 0] = log_prob[back].view(-1)

    def _log(self, writer, losses: dict[str, float], steps: int, collect_s: float, learn_s: float) -> dict[str, Any]:
        eps = list(self.episodes)
        stages = self.env.stage_names
        row: dict[str, Any] = {"iteration": self.iteration, "env_steps": self.env_steps, "wall_s": round(self.wall_s, 3)}
        # Episodes that began from the nominal reset (not the init library): what eval measures.
        # Episodes the env helped (a training aid, e.g. handover's assisted release) are not what
        # eval measures either: those from nominal resets are logged on their own.
        nominal = [e for e in eps if not e.get("from_library") and not e.get("assisted")]
        if self.overridden_steps is not None:  # an aid reports the actions it executed
            row["overridden_share"] = self.overridden_steps / steps  # stored with the env's actions
            self.overridden_steps = 0
        if eps:
            for s in stages:
                row[f"{s}_rate"] = float(np.mean([e[s] for e in eps]))
            row["return"] = float(np.mean([e["return"] for e in eps]))
            for term in eps[-1]["terms"]:
                row[f"term/{term}"] = float(np.mean([e["terms"].get(term, 0.0) for e in eps]))
            row["episode_length"] = float(np.mean([e["length"] for e in eps]))
            row["nominal_episodes"] = len(nominal)
            assisted = [e for e in eps if e.get("assisted") and not e.get("from_library")]
            if assisted or self.env.cfg.training_aids_on():
                row["assisted_episodes"] = len(assisted)
                row["assisted/success_rate"] = float(np.mean([e["success"] for e in assisted])) if assisted else None
                for m in self.env.episode_metrics:
                    row[f"assisted/{m}"] = float(np.mean([e[m] for e in assisted])) if assisted else None
            library = [e for e in eps if e.get("from_library")]
            if library:  # where the library's episodes stop (e.g. a drill that starts every episode there)
                row["library_episodes"] = len(library)
                row["library/success_rate"] = float(np.mean([e["success"] for e in library]))
                row["library/terminated_rate"] = float(np.mean([e["terminated"] for e in library]))
                for m in self.env.episode_metrics:
                    row[f"library/{m}"] = float(np.mean([e[m] for e in library]))
            for s in stages:
                row[f"nominal/{s}_rate"] = float(np.mean([e[s] for e in nominal])) if nominal else 0.0
            for m in self.env.episode_metrics:  # the task's own account of where episodes stop
                row[f"nominal/{m}"] = float(np.mean([e[m] for e in nominal])) if nominal else None
        else:
            row.update({f"{s}_rate": 0.0 for s in stages})
            row["return"] = 0.0
        if self.curriculum and self.train.task_curriculum_spread > 0:
            # the adaptive rule's measure: nominal episodes drawn at the current difficulty (None: none yet)
            frontier = [e["success"] for e in nominal if e.get("at_frontier")]
            row["nominal/frontier_episodes"] = len(frontier)
            row["nominal/frontier_success_rate"] = float(np.mean(frontier)) if frontier else None
        row["steps_per_s"] = steps / max(collect_s + learn_s, 1e-9)
        row["collect_s"], row["learn_s"] = collect_s, learn_s
        row["learning_rate"] = self.alg.learning_rate
        row["randomization_strength"] = self.env.cfg.randomization.strength
        if self.curriculum:
            row["task_difficulty"] = self.env.task_difficulty
        row["action_std"] = float(self.alg.get_policy().output_std.detach().mean())
        for k, v in losses.items():
            row[f"loss/{k}"] = float(v)
        for k, v in row.items():
            if k not in ("iteration",) and isinstance(v, (int, float)):
                writer.add_scalar(k if "/" in k else f"train/{k}", v, self.iteration)
        with open(self.run_dir / "progress.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        return row


def check_checkpoint(meta: dict[str, Any], task: str, path: Path | str) -> None:
    """Refuse a checkpoint made for another task or another joint table."""
    if meta.get("task") != task:
        raise ValueError(f"checkpoint {path} was trained for task {meta.get('task')!r}, not {task!r}")
    names = list(meta.get("joint_names") or [])
    expected = list(jt.joint_names())
    if names != expected:
        diff = [f"{a}≠{b}" for a, b in zip(names, expected) if a != b]
        raise ValueError(
            f"checkpoint {path} was trained with another joint table ({len(names)} joints; "
            f"differences: {diff[:5] or 'length'}); expected the {len(expected)} joints of gr1_description"
        )


def default_run_dir(task: str, name: str | None, root: Path = Path("runs")) -> Path:
    return root / task / (name or time.strftime("%Y%m%d-%H%M%S"))


def make_task_config(task: str, config_file: Path | None, overrides: dict[str, Any]) -> TaskConfig:
    data = read_task_overrides(config_file) if config_file is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return task_config(task, data)
