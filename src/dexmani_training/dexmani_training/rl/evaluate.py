"""Evaluate a trained specialist in simulation: per-stage success rates over N episodes, and
optionally MP4 videos from the third-view camera.

Episodes are spread evenly over the environments and each environment contributes exactly its
quota, so short (failed, terminated) episodes are not over-counted. The policy acts
deterministically (the mean action) unless ``stochastic=True``, which samples actions from the
policy's Gaussian as training does (what training-episode success rates measure). Randomization
is on as in training unless ``randomize=False``; resets come from the task's nominal
distribution, not from the init library (so task-aware init cannot flatter the result) unless
``use_init_library=True``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..dataclass_config import config_from_dict
from ..tasks import TASKS, make_env
from .train import PPOConfig, actor_input_differences, build_algorithm, check_checkpoint, saved_task_config


def load_checkpoint(path: str | Path, task: str | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        d = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as e:  # torch raises many kinds on a bad file
        raise ValueError(f"{path}: not a dexmani checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(d, dict) or "dexmani" not in d:
        raise ValueError(f"{path}: not a dexmani checkpoint (no 'dexmani' metadata)")
    meta = d["dexmani"]
    check_checkpoint(meta, task or meta["task"], path)
    return d


def slim_checkpoint(src: str | Path, dst: str | Path, task: str | None = None, note: str | None = None) -> Path:
    """Write the part of a training checkpoint that evaluation and deployment need: the actor
    (with its observation normalizer) and the metadata (task, joint table, task config, PPO
    network settings, iteration and env steps), without the critic, the optimizer state or the
    RNG states — about a sixth of the size. ``note`` (e.g. the command that trained it) is
    stored as ``dexmani.provenance``."""
    d = load_checkpoint(src, task)
    meta = {k: v for k, v in d["dexmani"].items() if k != "rng"}
    meta["provenance"] = {"source": str(src), "note": note}
    out = {"actor_state_dict": d["actor_state_dict"], "dexmani": meta, "iter": d.get("iter", meta.get("iteration"))}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, dst)
    return dst


def checkpoint_task_config(d: dict[str, Any], checkpoint: str | Path):
    """The task configuration a checkpoint (``load_checkpoint``'s dict) was trained with, less its
    training aids (``TaskConfig.without_training_aids``): what the policy is measured on."""
    meta = d["dexmani"]
    cfg = saved_task_config({**meta["task_config"], "task": meta["task"]}, where=f"{checkpoint} task_config")
    return cfg.without_training_aids()


def policy_env(d: dict[str, Any], cfg, checkpoint: str | Path, seed: int = 0, num_threads: int | None = None):
    """An environment for ``cfg`` and the checkpoint's actor on it, deterministic (the mean
    action): (env, policy). Refuses a task whose observation size differs from the checkpoint's."""
    meta = d["dexmani"]
    cfg.validate()
    torch.manual_seed(seed)
    env = make_env(cfg, seed=seed, num_threads=num_threads)
    if env.get_observations()["policy"].shape[1] != meta["num_policy_obs"]:
        raise ValueError(
            f"checkpoint {checkpoint} expects {meta['num_policy_obs']} policy observations, the task gives "
            f"{env.get_observations()['policy'].shape[1]}"
        )
    return env, load_policy(d, env)


def load_policy(d: dict[str, Any], env):
    """The actor of checkpoint ``d`` (``load_checkpoint``'s dict) for ``env``, deterministic by
    default (call it with ``stochastic_output=True`` to sample)."""
    alg = build_algorithm(env, config_from_dict(PPOConfig, d["dexmani"].get("ppo", {}), where="checkpoint ppo"))
    alg.load(d, {"actor": True}, strict=True)
    alg.eval_mode()
    return alg.get_policy()


def switch_policy(first: dict[str, Any], first_path: str | Path, second_path: str | Path, env):
    """The actor of checkpoint ``second_path`` for ``env``, to take over from ``first``'s in
    the same episodes: same task and joint table, and the same actor inputs (size, observation
    options and mirror symmetry), or an error naming the difference."""
    second = load_checkpoint(second_path, first["dexmani"]["task"])
    diff = actor_input_differences(checkpoint_task_config(first, first_path), first["dexmani"]["num_policy_obs"],
                                   f"in {first_path}", checkpoint_task_config(second, second_path),
                                   second["dexmani"]["num_policy_obs"], f"in {second_path}")
    if diff:
        raise ValueError(f"cannot switch from {first_path} to {second_path}: " + "; ".join(diff))
    return load_policy(second, env)


def evaluate(
    checkpoint: str | Path,
    task: str | None = None,
    episodes: int = 100,
    objects: str | None = None,
    seed: int = 0,
    num_envs: int | None = None,
    randomize: bool = True,
    use_init_library: bool | str | Path = False,
    video_dir: str | Path | None = None,
    video_episodes: int = 3,
    num_threads: int | None = None,
    progress: bool = False,
    randomization_terms: tuple[str, ...] | list[str] | None = None,
    init_probability: float | None = None,
    task_difficulty: float | None = None,
    stochastic: bool = False,
    assist_release_after_s: float | None = None,
    assist_release_trigger: str = "both_hands",
    assist_hold_a: bool = False,
    assist_release_min_contact_b: float | None = None,
    init_stages: tuple[int, ...] | list[int] | None = None,
    init_grip_rad: float | None = None,
    switch_to: str | Path | None = None,
    switch_at_stage: int = 2,
) -> dict[str, Any]:
    """Per-stage success rates of ``episodes`` episodes, deterministic unless ``stochastic``. ``use_init_library``:
    False (nominal resets only), True (also the checkpoint's init library) or a library (path
    or shipped name) to reset from instead; ``init_probability`` overrides the fraction of
    resets drawn from it. ``task_difficulty``: for a checkpoint whose task config has a task
    curriculum, evaluate at this difficulty instead of the full task (1). ``assist_release_after_s``
    (handover): in every episode, this long after ``assist_release_trigger`` (``both_hands``: an
    unbroken two-hand hold; ``stage_2``: the intermediate goal; ``b_holds``: an unbroken hold by
    hand B at stage 3; whatever the checkpoint trained
    with), hand A lets go for it, its fingers opened and its arm drawn back
    (``HandoverConfig.assist_release_probability``), which measures whether hand B's grip
    carries the object alone; not the task's success. ``assist_hold_a``: with it, hand A's
    targets also hold still from the trigger until it lets go (hand B's drill,
    ``HandoverConfig.assist_hold_a``). ``assist_release_min_contact_b`` (``b_holds``): B's hold
    counts only with B's contact term at least this (``HandoverConfig.assist_release_min_contact_b``;
    None: the checkpoint's value with ``b_holds``, else 0). ``init_stages`` and ``init_grip_rad`` override the
    checkpoint's ``init.stages`` (library states recorded at these stages only) and
    ``init.grip_rad``. ``switch_to``: a second checkpoint of the same task whose actor takes
    over in each episode from the step the episode reaches stage ``switch_at_stage`` (handover:
    2, A holding the object at the intermediate goal): whether two policies, each trained for
    one part of a task, finish it together; the JSON names both."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if task_difficulty is not None and not 0.0 <= task_difficulty <= 1.0:
        raise ValueError(f"task_difficulty must be in [0, 1], got {task_difficulty}")
    d = load_checkpoint(checkpoint, task)
    meta = d["dexmani"]
    task = meta["task"]
    cfg = checkpoint_task_config(d, checkpoint)
    n = num_envs or min(episodes, 64)
    init = replace(cfg.init, use_library=bool(use_init_library))
    if not isinstance(use_init_library, bool):
        init = replace(init, library=str(use_init_library))
    if init_probability is not None:
        init = replace(init, probability=init_probability)
    if init_stages is not None:
        init = replace(init, stages=tuple(init_stages))
    if init_grip_rad is not None:
        init = replace(init, grip_rad=init_grip_rad)
    cfg = replace(cfg, num_envs=n, init=init)
    if objects is not None:
        cfg = replace(cfg, objects=objects)
    if assist_release_after_s is not None:
        if not hasattr(cfg, "assist_release_probability"):
            raise ValueError(f"--assist-release-after applies to handover, not {task}")
        if assist_release_min_contact_b is None:
            assist_release_min_contact_b = cfg.assist_release_min_contact_b if assist_release_trigger == "b_holds" else 0.0
        cfg = replace(cfg, assist_release_probability=1.0, assist_release_after_s=assist_release_after_s,
                      assist_release_trigger=assist_release_trigger, assist_hold_a=assist_hold_a,
                      assist_release_min_contact_b=assist_release_min_contact_b)  # the test asked for
    elif assist_hold_a or assist_release_min_contact_b is not None:
        raise ValueError("assist_hold_a and assist_release_min_contact_b shape the assisted release: give assist_release_after_s")
    if randomization_terms is not None:  # exactly these terms (e.g. one switched off)
        cfg = replace(cfg, randomization=replace(cfg.randomization, enabled=tuple(randomization_terms)))
    if not randomize:
        cfg = replace(cfg, randomization=replace(cfg.randomization, enabled=()))
    env, policy = policy_env(d, cfg, checkpoint, seed, num_threads)
    later_policy = None
    if switch_to is not None:
        stages = TASKS[task][1].stage_names
        problem = None
        if not hasattr(env, "stage"):
            problem = f"{task} has no stage variable to switch policies at"
        elif not 1 <= switch_at_stage < len(stages):
            problem = (f"switch_at_stage must name a stage of {task} before success (1 … {len(stages) - 1}: "
                       f"{list(stages[:-1])}), got {switch_at_stage}")
        if problem:
            env.close()
            raise ValueError(problem)
        later_policy = switch_policy(d, checkpoint, switch_to, env)
    if task_difficulty is not None:
        if not env.has_task_curriculum():
            env.close()
            raise ValueError(f"checkpoint {checkpoint}: its {task} config has no task curriculum, so --task-difficulty "
                             f"does not apply (handover: final_goal_curriculum_start_y_m)")
        env.set_task_difficulty(task_difficulty)
        env.reset()

    quota = np.full(n, episodes // n)
    quota[: episodes % n] += 1
    counts = np.zeros(n, dtype=int)
    records: list[dict[str, Any]] = []
    recorder = _VideoRecorder(env, Path(video_dir), min(video_episodes, n)) if video_dir else None
    t0 = time.perf_counter()
    obs = env.get_observations()
    from tqdm import tqdm

    bar = tqdm(total=episodes, desc=f"eval {task}", unit="ep", disable=not progress)
    # Map env index of each completed record: drain in step order, env ids attached below.
    # Until every environment has run its quota (an environment whose episodes end early runs
    # more than its quota meanwhile; the extra episodes are not counted).
    while (counts < quota).any():
        with torch.inference_mode():
            actions = policy(obs, stochastic_output=True) if stochastic else policy(obs)
            if later_policy is not None:
                later = torch.as_tensor(env.stage >= switch_at_stage)
                if later.any():
                    second = later_policy(obs, stochastic_output=True) if stochastic else later_policy(obs)
                    actions = torch.where(later[:, None], second, actions)
        before = env.episode_length_buf.clone()
        obs, _, dones, _ = env.step(actions)
        if recorder:
            recorder.after_step(dones.numpy(), before.numpy())
        done_ids = np.flatnonzero(dones.numpy())
        for rec, i in zip(env.drain_completed(), done_ids):
            if counts[i] < quota[i]:
                rec["env"] = int(i)
                records.append(rec)
                bar.update(1)
            counts[i] += 1
    bar.close()
    if recorder:
        recorder.close()
    wall = time.perf_counter() - t0
    env.close()
    out = summarize(task, records, meta, checkpoint, seed, cfg, wall, recorder.paths if recorder else [])
    if task_difficulty is not None:  # not the full task: say so
        out["task_difficulty"] = task_difficulty
    out["stochastic"] = stochastic
    if switch_to is not None:  # two policies: the checkpoint's until the stage, then switch_to's
        out["switch_to"] = str(switch_to)
        out["switch_at_stage"] = switch_at_stage
    if assist_release_after_s is not None:  # not the task: A was made to let go
        out["assist_release_after_s"] = assist_release_after_s
        out["assist_release_trigger"] = assist_release_trigger
        out["assisted_rate"] = float(np.mean([r["assisted"] for r in records]))
        out["assist_hold_a"] = assist_hold_a
        out["assist_release_min_contact_b"] = assist_release_min_contact_b
    return out


def summarize(task, records, meta, checkpoint, seed, cfg, wall_s, videos) -> dict[str, Any]:
    stages = TASKS[task][1].stage_names
    out: dict[str, Any] = {
        "task": task,
        "checkpoint": str(checkpoint),
        "episodes": len(records),
        "seed": seed,
        "objects": cfg.objects,
        "randomization": bool(cfg.randomization.enabled),
        "init_library": (cfg.init.library or "task default") if cfg.init.use_library else None,
        "success_rate": float(np.mean([r["success"] for r in records])),
    }
    for s in stages:
        if s != "success":
            out[f"{s}_rate"] = float(np.mean([r[s] for r in records]))
    if all("released" in r for r in records):  # handover: success with hand A off the object
        out["released_rate"] = float(np.mean([r["released"] for r in records]))
    out["terminated_rate"] = float(np.mean([r["terminated"] for r in records]))  # the object fell or left
    out["mean_return"] = float(np.mean([r["return"] for r in records]))
    metrics = TASKS[task][1].episode_metrics
    if metrics:  # where episodes stop, beyond their stages (e.g. handover: who held the object how long)
        out["episode_metrics"] = {m: {"mean": float(np.mean([r[m] for r in records])),
                                      "median": float(np.median([r[m] for r in records]))} for m in metrics}
    if cfg.init.use_library:
        out["init_probability"] = cfg.init.probability
    for key in ("side", "direction", "object"):
        values = sorted({r[key] for r in records if key in r})
        if len(values) > 1 or key == "direction" and values:
            out[f"success_rate_by_{key}"] = {
                v: float(np.mean([r["success"] for r in records if r.get(key) == v])) for v in values
            }
    out["trained_iterations"] = meta.get("iteration")
    out["trained_env_steps"] = meta.get("env_steps")
    out["wall_s"] = round(wall_s, 2)
    if videos:
        out["videos"] = [str(p) for p in videos]
    return out


class _VideoRecorder:
    """Third-view MP4 of the first episode of environments 0..k−1."""

    def __init__(self, env, out_dir: Path, k: int, width: int = 320, height: int = 240):
        from gr1_sim.render import SceneRenderer

        self.env = env
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.k = k
        self.width, self.height = width, height
        self.renderers = {}
        for i in range(k):
            sc = env.sim.env_scene[i]
            if sc not in self.renderers:
                self.renderers[sc] = SceneRenderer(env.sim.scenes[sc])
        self.frames: dict[int, list[np.ndarray]] = {i: [self._frame(i)] for i in range(k)}
        self.finished: set[int] = set()
        self.paths: list[Path] = []

    def _frame(self, i: int) -> np.ndarray:
        r = self.renderers[self.env.sim.env_scene[i]]
        f = r.render(self.env.sim.datas[i], "third_view", self.width, self.height, rgb=True, depth=False,
                     segmentation=False, model=self.env.sim.models[i])
        return f.rgb

    def after_step(self, dones: np.ndarray, lengths_before: np.ndarray) -> None:
        import imageio.v2 as imageio

        for i in range(self.k):
            if i in self.finished:
                continue
            if dones[i]:
                path = self.out_dir / f"{self.env.cfg.task}_env{i}.mp4"
                fps = max(1, int(round(1.0 / self.env.dt_s)))
                imageio.mimsave(path, self.frames.pop(i), fps=fps, macro_block_size=8)
                self.paths.append(path)
                self.finished.add(i)
            else:
                self.frames[i].append(self._frame(i))

    def close(self) -> None:
        for r in self.renderers.values():
            r.close()
