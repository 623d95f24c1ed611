"""Shared fixtures for the RL-task tests: small, deterministic environments and a tiny PPO."""

from __future__ import annotations

import pytest
from dexmani_training.rl.train import PPOConfig, TrainConfig
from dexmani_training.tasks import make_env, task_config


def _small_env(task: str = "grasp_and_reach", num_envs: int = 2, enabled=(), seed: int = 0, init_library=None, **overrides):
    """A task env with ``num_envs`` envs, one simulator thread, only the randomization terms in
    ``enabled``, and no shipped init library (so it cannot change a test's random stream)."""
    over = {"num_envs": num_envs, "randomization": {"enabled": list(enabled)}, "init": {"use_library": init_library is not None}}
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(over.get(k), dict):
            over[k] = {**over[k], **v}
        else:
            over[k] = v
    return make_env(task_config(task, over), seed=seed, num_threads=1, init_library=init_library)


def _tiny_train_config(iterations: int = 1, **ppo) -> TrainConfig:
    """A PPO small enough for tests that are not about the network."""
    fields = {"hidden_dims": (64, 64), "num_steps_per_env": 8, "num_learning_epochs": 1, "num_mini_batches": 1}
    fields.update(ppo)
    return TrainConfig(iterations=iterations, save_interval=1000, num_threads=1, torch_threads=1, randomization_curriculum="off",
                       ppo=PPOConfig(**fields))


@pytest.fixture(scope="session")
def small_env():
    """Factory: ``small_env(task, num_envs=2, enabled=(), seed=0, init_library=None, **overrides)``."""
    return _small_env


@pytest.fixture(scope="session")
def tiny_train_config():
    """Factory: ``tiny_train_config(iterations=1, **ppo_fields)``."""
    return _tiny_train_config
