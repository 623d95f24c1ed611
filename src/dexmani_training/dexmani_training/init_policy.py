"""Init-state libraries from a trained policy's rollouts: the states in which it holds the object
up in the air.

A task whose init library should hold lifted objects (handover: hand A holding the object, so
that training sees hand B's stages from the first iteration) can borrow them from a specialist
that lifts the object, e.g. the grasp_and_reach one run on the handover's object. The policy
runs deterministically without domain randomization, from nominal resets; every ``every_s``
seconds of an episode in which the object is held (touched by a hand, clear of the table) and at
least ``min_height_m`` above its resting height, the joint positions and the object pose are
kept, with the episode's lead hand (the grasping hand, handover's hand A) and, when the policy
was trained on the same task, the number of stages its episode had reached. States come out in
the world frame of the policy's scene, so the two tasks' tables must match (their scenes share
the table height and centre). ``stochastic`` samples the actions from the policy's action
distribution, as in training, instead of taking its mean: a policy whose training episodes reach a
stage only with the help of exploration noise (handover's hand B, seen at 32% in training and 0%
deterministically) shows those states only so.

Libraries can also be grown stage by stage (a reverse curriculum): ``from_library`` starts every
rollout from a library's states instead of nominal resets, and ``stage`` keeps only states from
episodes that have reached that stage of the policy's task. A handover policy started from
states in which hand A holds the object, keeping states once hand B touches it, gives states at
the moment of the handover itself.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .init_library import InitLibrary, InitLibraryError


def library_from_policy(checkpoint: str | Path, task: str, object_name: str | None = None, episodes: int = 256,
                        every_s: float = 0.25, min_height_m: float = 0.05, seed: int = 0, num_envs: int = 64,
                        num_threads: int | None = None, progress: bool = False, stage: str | None = None,
                        from_library: str | Path | None = None, stochastic: bool = False) -> InitLibrary:
    from gr1_sim.scene import scene_config

    from .rl.evaluate import checkpoint_task_config, load_checkpoint, policy_env
    from .tasks import task_config

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if every_s <= 0:
        raise ValueError(f"every_s must be > 0, got {every_s}")
    target = task_config(task)  # validates the task name
    d = load_checkpoint(checkpoint)
    meta = d["dexmani"]
    src = checkpoint_task_config(d, checkpoint)
    a, b = scene_config(src.scene), scene_config(target.scene)
    if (a.table_height_m, tuple(a.table_center_xy_m)) != (b.table_height_m, tuple(b.table_center_xy_m)):
        raise ValueError(f"the policy's scene {src.scene!r} and the task's scene {target.scene!r} have different tables; "
                         "their states would not carry over")
    # A policy of this very task rolls out on the objects it was trained on; another task's policy
    # (the grasp specialist making a handover library) on this task's default objects.
    obj = object_name or (src.objects if meta["task"] == task else target.objects)
    n = min(num_envs, episodes)
    if from_library is not None:
        if not Path(from_library).is_file():
            raise FileNotFoundError(f"init library {from_library} does not exist")
        init = replace(src.init, use_library=True, library=str(from_library), probability=1.0)
    else:
        init = replace(src.init, use_library=False)
    cfg = replace(src, num_envs=n, objects=obj, init=init, randomization=replace(src.randomization, enabled=()))
    env, policy = policy_env(d, cfg, checkpoint, seed, num_threads)
    if stage is not None and stage not in env.stage_names:
        env.close()
        raise ValueError(f"stage {stage!r} is not a stage of {meta['task']}; its stages: {list(env.stage_names)}")

    every = max(1, round(every_s / env.dt_s))
    last_kept = np.full(n, -(10**9))
    joints, poses, leads, stages, lifted_episodes = [], [], [], [], 0
    same_task = meta["task"] == task  # stages are the policy's task's: kept only when it is this task
    held_this_episode = np.zeros(n, dtype=bool)
    finished = 0
    from tqdm import tqdm

    bar = tqdm(total=episodes, desc=f"rollouts of {meta['task']} on {obj}", unit="ep", disable=not progress)
    obs = env.get_observations()
    try:
        while finished < episodes:
            with torch.inference_mode():
                actions = policy(obs, stochastic_output=True) if stochastic else policy(obs)
            t_before = env.episode_length_buf.numpy().copy() + 1  # the step index within the episode
            obs, _, dones, _ = env.step(actions)
            done = dones.numpy()
            # For environments that just finished, the simulator already holds the next episode's
            # reset state: only the others are looked at.
            st = env._state()
            held = (st["contact_left"] | st["contact_right"]) & ~st["contact_table"]
            keep = ~done & held & (st["object_height"] >= min_height_m) & (t_before - last_kept >= every)
            if stage is not None:
                keep &= env.stage_reached[stage]
            if keep.any():
                ids = np.flatnonzero(keep)
                joints.append(env.sim.joint_pos()[ids].copy())
                poses.append(env.sim.object_pose()[ids].copy())
                leads.append(env.lead_hand()[ids])
                stages.append(env.stages_in_order()[ids] if same_task else np.full(ids.size, -1))
                last_kept[ids] = t_before[ids]
                held_this_episode[ids] = True
            ended = np.flatnonzero(done)
            take = ended[: max(0, episodes - finished)]
            lifted_episodes += int(held_this_episode[take].sum())
            finished += ended.size
            bar.update(take.size)
            held_this_episode[ended] = False
            last_kept[ended] = -(10**9)
    finally:
        bar.close()
        env.close()
    if not joints:
        reached = f" and reached stage {stage!r}" if stage is not None else ""
        raise InitLibraryError(f"the policy in {checkpoint} lifted {obj!r} at least {min_height_m} m{reached} in none of "
                               f"{episodes} episodes")
    out_meta = {
        "task": task, "source": {"kind": "policy", "checkpoint": str(checkpoint), "policy_task": meta["task"],
                                 "trained_iterations": meta.get("iteration")},
        "object": obj, "episodes": episodes, "episodes_with_states": lifted_episodes, "every_s": every_s,
        "min_height_m": min_height_m, "seed": seed, "stage": stage,
        "from_library": None if from_library is None else str(from_library), "stochastic": stochastic,
    }
    return InitLibrary(np.concatenate(joints), np.concatenate(poses), out_meta, np.concatenate(leads), np.concatenate(stages))
