"""Tasks: one file each, the config dataclass next to the environment class."""

from __future__ import annotations

from typing import Any

from ..dataclass_config import config_from_dict
from .base import ManipulationEnv, TaskConfig
from .box_lift import BoxLift, BoxLiftConfig
from .grasp_and_reach import GraspAndReach, GraspAndReachConfig
from .handover import Handover, HandoverConfig

TASKS: dict[str, tuple[type[TaskConfig], type[ManipulationEnv]]] = {
    "grasp_and_reach": (GraspAndReachConfig, GraspAndReach),
    "box_lift": (BoxLiftConfig, BoxLift),
    "handover": (HandoverConfig, Handover),
}


def task_names() -> list[str]:
    return sorted(TASKS)


def task_config(task: str, overrides: dict[str, Any] | None = None) -> TaskConfig:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {task_names()}")
    cls = TASKS[task][0]
    cfg = config_from_dict(cls, overrides or {}, cls(), where=task)
    if cfg.task != task:
        raise ValueError(f"config is for task {cfg.task!r}, not {task!r}")
    return cfg


def make_env(cfg: TaskConfig, seed: int = 0, num_threads: int | None = None, init_library=None) -> ManipulationEnv:
    if cfg.task not in TASKS:
        raise ValueError(f"unknown task {cfg.task!r}; valid tasks: {task_names()}")
    return TASKS[cfg.task][1](cfg, seed=seed, num_threads=num_threads, init_library=init_library)
