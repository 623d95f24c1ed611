"""Demonstrations: scripted handoffs recorded as the handover policy's own observations and actions.

Init libraries (``handoff.py``) show a policy *states* of a handoff; in every handover run so far
that taught hand B to carry the bar from the library's states but not to make the grasp that
leads there, from a policy's own two-hand holds. A demonstration set shows the *actions* too, so
the trainer can pull the actor towards them (``ppo.demo_weight``, rl/bounded_ppo.py).

A set is made by running :class:`~dexmani_training.handoff.HandoffScript`'s handoffs (hand A
holds the object near the midline; B comes from its default pose to above its end, comes down
onto it and closes; A opens and withdraws; B carries the object to the final goal) *inside the
task's environment*: each episode starts as a library reset at stage 2 (the object at the
intermediate goal, A holding it), and each joint target the script sets becomes the env's
relative actions (arm ``arm_action_scale_rad``, fingers ``hand_action_scale_rad`` per step; a
script move larger than one action takes several control steps). The actor's observation before
every step and the action taken are recorded. An episode is kept only if the env itself counts
it a success (its ``success`` stage, with its own hold time), so every kept step is one the task's
reward and success detector agree with. The script makes right-to-left handoffs (A the right
hand); with mirror symmetry (the handover default) the policy sees every episode that way, so the
recorded observations and actions serve both directions.

A set is one ``.npz``: ``obs`` (N×D float32, the actor's observations), ``actions`` (N×26
float32, in [−1, 1]), ``episode`` (N, which kept episode each step is from), ``stage`` (N, the
handover stage before the step) and ``meta`` (JSON: task, the task config's observation options,
D, the joint names, the source library and the recording's outcome counts). Randomization is off
while recording (observation noise would be recorded as if it were the state).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gr1_description import joints as jt

from .init_library import InitLibrary, write_npz
from .symmetry import mirror_joints
from .tasks.base import RIGHT

DEMO_FORMAT = 1


class DemoError(ValueError):
    """A demonstration set that cannot be used as asked."""


@dataclass
class DemoSet:
    obs: np.ndarray  # N×D float32
    actions: np.ndarray  # N×26 float32, [−1, 1]
    episode: np.ndarray  # N
    stage: np.ndarray  # N
    meta: dict[str, Any] = field(default_factory=dict)
    # Each episode's first state (episodes × 26 joint positions, × 7 object pose), from which its
    # actions replay; None where the set does not know them.
    start_joint_pos: np.ndarray | None = None
    start_object_pose: np.ndarray | None = None

    def __post_init__(self):
        self.obs = np.asarray(self.obs, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        self.episode = np.asarray(self.episode, dtype=np.int32)
        self.stage = np.asarray(self.stage, dtype=np.int8)
        n = self.obs.shape[0]
        if self.obs.ndim != 2 or n == 0:
            raise DemoError(f"obs must be N×D with N > 0, got {self.obs.shape}")
        if self.actions.shape != (n, jt.NUM_CONTROLLED):
            raise DemoError(f"actions must be {n}×{jt.NUM_CONTROLLED}, got {self.actions.shape}")
        if self.episode.shape != (n,) or self.stage.shape != (n,):
            raise DemoError(f"episode and stage must have {n} entries, got {self.episode.shape} and {self.stage.shape}")
        if not (np.all(np.isfinite(self.obs)) and np.all(np.isfinite(self.actions))):
            raise DemoError("demonstrations contain NaN or infinite values")
        if np.abs(self.actions).max() > 1.0 + 1e-6:
            raise DemoError(f"actions must lie in [-1, 1] (the env's clip), largest |a| is {np.abs(self.actions).max():.3f}")
        if (self.start_joint_pos is None) != (self.start_object_pose is None):
            raise DemoError("start_joint_pos and start_object_pose come together")
        if self.start_joint_pos is not None:
            self.start_joint_pos = np.asarray(self.start_joint_pos, dtype=float)
            self.start_object_pose = np.asarray(self.start_object_pose, dtype=float)
            k = int(self.episode.max()) + 1
            if self.start_joint_pos.shape != (k, jt.NUM_CONTROLLED) or self.start_object_pose.shape != (k, 7):
                raise DemoError(f"start states must be {k}×{jt.NUM_CONTROLLED} joint positions and {k}×7 object poses "
                                f"(one per episode), got {self.start_joint_pos.shape} and {self.start_object_pose.shape}")

    def __len__(self) -> int:
        return self.obs.shape[0]

    @property
    def episodes(self) -> int:
        return int(np.unique(self.episode).size)

    def save(self, path: str | Path, force: bool = False) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            raise DemoError(f"a demonstration set is a .npz file, not {path.name}")
        meta = {"format": DEMO_FORMAT, "joint_names": list(jt.joint_names()), **self.meta}
        starts = {} if self.start_joint_pos is None else {"start_joint_pos": self.start_joint_pos,
                                                          "start_object_pose": self.start_object_pose}
        return write_npz(path, force, obs=self.obs, actions=self.actions, episode=self.episode, stage=self.stage,
                         meta=np.array(json.dumps(meta)), **starts)

    @classmethod
    def load(cls, path: str | Path) -> "DemoSet":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"demonstration set {path} does not exist")
        with np.load(path, allow_pickle=False) as f:
            missing = sorted({"obs", "actions", "episode", "stage", "meta"} - set(f.files))
            if missing:
                raise DemoError(f"{path} is not a demonstration set (missing {missing})")
            meta = json.loads(str(f["meta"]))
            names = meta.get("joint_names")
            if names != list(jt.joint_names()):
                raise DemoError(f"{path} was recorded with another joint table ({len(names or [])} joints, "
                                f"{jt.NUM_CONTROLLED} here, or other names)")
            starts = [f[k] if k in f.files else None for k in ("start_joint_pos", "start_object_pose")]
            return cls(f["obs"], f["actions"], f["episode"], f["stage"], meta, *starts)

    def summary(self) -> dict[str, Any]:
        a = np.abs(self.actions)
        stages, counts = np.unique(self.stage, return_counts=True)
        lengths = np.bincount(self.episode)
        lengths = lengths[lengths > 0]
        return {"steps": len(self), "episodes": self.episodes, "obs_dim": int(self.obs.shape[1]),
                "steps_per_episode": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                                      "max": int(lengths.max())},
                "task": self.meta.get("task"), "object": self.meta.get("object"),
                "steps_per_stage": {int(s): int(c) for s, c in zip(stages, counts)},
                "saturated_action_share": round(float(np.mean(a >= 1.0 - 1e-6)), 4),
                "mean_abs_action": round(float(a.mean()), 4), "source": self.meta.get("source")}

    def check_against(self, cfg, obs_dim: int) -> None:
        """Refuse a set recorded for another task or with other actor inputs than ``cfg``'s."""
        if self.meta.get("task") != cfg.task:
            raise DemoError(f"the demonstrations are of task {self.meta.get('task')!r}, not {cfg.task!r}")
        diff = [] if int(self.obs.shape[1]) == obs_dim else [f"{self.obs.shape[1]} actor observations in the demonstrations, {obs_dim} here"]
        recorded = self.meta.get("observation_options", {})
        diff += [f"{k}: {recorded[k]} in the demonstrations, {v} here"
                 for k, v in observation_options(cfg).items() if k in recorded and recorded[k] != v]
        if diff:
            raise DemoError("the demonstrations' actor inputs differ from this run's: " + "; ".join(diff))


class EpisodeEnded(RuntimeError):
    """The env ended the scripted episode (the object fell or left, or time ran out)."""


class EnvRollout:
    """A scripted episode stepped through a one-environment task env instead of the bare sim
    (the interface of ``handoff._Rollout``): the script sets ``target``; :meth:`step` turns the
    difference to the env's targets into relative actions, in as many control steps (up to
    ``max_substeps``) as the action scales need, recording the actor's observation and the
    action of each."""

    def __init__(self, env, q: np.ndarray, pose: np.ndarray, b: int, stage: int = 2, max_substeps: int = 8):
        self.env, self.b, self.max_substeps = env, b, max_substeps
        self.sim = env.sim
        lib = InitLibrary(np.asarray(q, dtype=float)[None], np.asarray(pose, dtype=float)[None],
                          {"task": env.cfg.task}, np.array([1 - b]), np.array([stage]))
        env.init_library = lib
        env.reset(np.array([0]))
        self.start = (env.sim.joint_pos()[0].copy(), env.sim.object_pose()[0].copy())
        ac = env.cfg.action
        self.scale = np.where(env.arm_mask, ac.arm_action_scale_rad, ac.hand_action_scale_rad)
        self.target = env.targets[0].copy()
        self.lower, self.upper = env.lower, env.upper
        self.b_touched = stage >= 3
        self.obs = env.get_observations()["policy"][0].numpy().copy()
        self.qs, self.poses, self.stages = [], [], []
        self.rec_obs, self.rec_actions, self.rec_stage = [], [], []

    def _env_step(self, a: np.ndarray) -> None:
        self.rec_obs.append(self.obs)
        self.rec_actions.append(a.astype(np.float32))
        self.rec_stage.append(int(self.env.stage[0]))
        obs, _, done, _ = self.env.step(torch.as_tensor(a[None], dtype=torch.float32))
        if bool(done[0]):
            raise EpisodeEnded
        self.obs = obs["policy"][0].numpy().copy()

    def step(self) -> None:
        for _ in range(self.max_substeps):
            before = self.env.targets[0].copy()
            a = np.clip((self.target - before) / self.scale, -1.0, 1.0)
            a = limit_push(a, before, self.target, self.lower, self.upper)
            self._env_step(a)
            moved = np.abs(self.env.targets[0] - before).max()
            if np.abs(self.target - self.env.targets[0]).max() < 1e-6 or moved < 1e-9:
                break
        self.b_touched = self.b_touched or bool(self.sim.contacts()[0, self.b])
        self.qs.append(self.sim.joint_pos()[0].copy())
        self.poses.append(self.sim.object_pose()[0].copy())
        self.stages.append(3 if self.b_touched else 2)

    def object_frame(self):
        from .handoff import quat_to_mat

        pose = self.sim.object_pose()[0]
        return pose[:3].copy(), quat_to_mat(pose[3:])

    def hold_until_success(self, max_steps: int) -> bool:
        """Hold the targets (action 0) until the env counts the episode a success, for at most
        ``max_steps`` control steps; whether it did."""
        for _ in range(max_steps):
            if self.env.stage_reached["success"][0]:
                return True
            self._env_step(np.zeros(self.scale.size))
        return bool(self.env.stage_reached["success"][0])


def recording_config(task_cfg):
    """The one-env config demonstrations are recorded (and replayed) in: ``task_cfg`` with every
    reset from the init library as given (no extra grip), randomization off, and episodes long
    enough for a handoff at the env's action scales (about 12–15 s for the bar; the actor sees
    no clock)."""
    return replace(task_cfg, num_envs=1, episode_length_s=max(task_cfg.episode_length_s, 60.0),
                   init=replace(task_cfg.init, use_library=True, probability=1.0, grip_rad=0.0, stages=()),
                   randomization=replace(task_cfg.randomization, enabled=()))


def replay_episode(demos: DemoSet, k: int, task_cfg) -> dict[str, Any]:
    """Episode ``k``'s recorded actions, replayed in ``task_cfg``'s recording env from its start
    state: whether the env counts it a success, and how far the observations drift from the
    recorded ones (largest absolute difference)."""
    from .tasks import make_env

    if demos.start_joint_pos is None:
        raise DemoError("this demonstration set does not know its episodes' start states")
    rows = np.flatnonzero(demos.episode == k)
    if rows.size == 0:
        raise DemoError(f"no episode {k} in the set ({demos.episodes} episodes)")
    lib = InitLibrary(demos.start_joint_pos[k][None], demos.start_object_pose[k][None], {"task": task_cfg.task},
                      np.array([RIGHT]), np.array([int(demos.stage[rows[0]])]))
    env = make_env(recording_config(task_cfg), seed=0, num_threads=1, init_library=lib)
    try:
        env.reset()
        drift = 0.0
        obs = env.get_observations()["policy"][0].numpy()
        for r in rows:
            drift = max(drift, float(np.abs(obs - demos.obs[r]).max()))
            out, _, done, _ = env.step(torch.as_tensor(demos.actions[r][None]))
            if bool(done[0]):
                break
            obs = out["policy"][0].numpy()
        return {"success": bool(env.stage_reached["success"][0]), "steps": int(rows.size), "max_obs_difference": drift}
    finally:
        env.close()


def limit_push(actions: np.ndarray, targets: np.ndarray, new_targets: np.ndarray, lower: np.ndarray,
               upper: np.ndarray) -> np.ndarray:
    """``actions`` with every joint held at a limit (its target there before and after the step)
    recorded as the full push into it (±1): the env does the same with any action that pushes
    into the limit, and the one recorded must not be 0, or a policy imitating it would let half
    its noise samples open a closed grip or close an open hand."""
    a = actions.copy()
    a[(targets >= upper - 1e-9) & (new_targets >= upper - 1e-9)] = 1.0
    a[(targets <= lower + 1e-9) & (new_targets <= lower + 1e-9)] = -1.0
    return a


def record_wait_demos(checkpoint: str | Path, task_cfg, episodes: int = 64, seed: int = 0, b_noise: float = 0.5,
                      progress: bool = False) -> tuple[DemoSet, dict[str, Any]]:
    """Hand B waiting while hand A does its part: ``checkpoint``'s actor (e.g. the one a run
    starts from) rolls out deterministically from nominal resets of ``task_cfg`` (randomization
    off), and every control step before the object reaches the intermediate goal (stage < 2) is
    recorded with the actor's own actions for A and, for B, the action that takes B's targets
    back towards its default pose (0 where they are there; a joint at its limit pushes into it).
    B meanwhile executes Gaussian noise of std ``b_noise`` (the policy's own is about 0.5), so
    that the recorded B actions are corrections from where a noisy policy drifts to, not only
    "hold still" from where B never left: relative actions integrate, and a policy pulled towards
    0 alone still drifted after the object (a mean of 0.075 is 0.75 rad in 200 steps). Why: demonstrations of the handoff alone start with A holding the
    object at the intermediate goal, and a policy pulled towards them sent B after the object
    from the first step, knocking it out of A's hand (31% of episodes ended with the object off
    the table, against 0 with B still). With these, the demonstrations also cover A's part, in
    which B keeps out of the way; A's recorded actions only count without ``ppo.demo_joints``."""
    from .rl.evaluate import load_checkpoint, load_policy
    from .tasks import make_env
    from .tasks.base import LEFT, side_mask

    if task_cfg.task != "handover":
        raise ValueError(f"waiting demonstrations are of the handover task, not {task_cfg.task!r}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    d = load_checkpoint(checkpoint)  # any task with this joint table (the actor inputs are checked below)
    n = min(episodes, 32)
    cfg = replace(task_cfg, num_envs=n, init=replace(task_cfg.init, use_library=False),
                  randomization=replace(task_cfg.randomization, enabled=()))
    torch.manual_seed(seed)
    env = make_env(cfg, seed=seed, num_threads=1)
    if env.get_observations()["policy"].shape[1] != d["dexmani"]["num_policy_obs"]:
        env.close()
        raise DemoError(f"{checkpoint} expects {d['dexmani']['num_policy_obs']} actor observations, the task gives "
                        f"{env.get_observations()['policy'].shape[1]}")
    policy = load_policy(d, env)
    b_mask = side_mask(LEFT)  # hand B in the policy's frame (A is the right hand there)
    ac = cfg.action
    if ac.hand_mode != "relative":
        env.close()
        raise DemoError("waiting demonstrations are recorded for relative hand actions (action.hand_mode relative)")
    scale = np.where(env.arm_mask, ac.arm_action_scale_rad, ac.hand_action_scale_rad)
    rng = np.random.default_rng(seed)
    obs_l, act_l, ep_l, stage_l = [], [], [], []
    episode_of = np.arange(n)  # each env's current episode number
    started, finished = n, 0
    counts = {"episodes": episodes}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episodes, desc="waiting demonstrations", unit="ep")
    obs = env.get_observations()
    try:
        with torch.inference_mode():
            while finished < episodes:
                act = np.clip(policy(obs).numpy(), -1.0, 1.0)
                mirrored = env._mirror_mask()
                # B's corrective action, in the env's frame (B is the right hand where mirrored):
                # from its targets back to the default pose; then to the policy's frame.
                back = np.clip((env.default_pose - env.targets) / scale, -1.0, 1.0)
                back = limit_push(back, env.targets, np.clip(env.targets + back * scale, env.lower, env.upper),
                                  env.lower, env.upper)
                back[mirrored] = mirror_joints(back[mirrored])
                label = act.copy()
                label[:, b_mask] = back[:, b_mask]
                executed = act.copy()
                executed[:, b_mask] = np.clip(rng.normal(0.0, b_noise, (n, int(b_mask.sum()))), -1.0, 1.0) if b_noise > 0 \
                    else label[:, b_mask]
                stage = env.stage.copy()
                live = (stage < 2) & (episode_of < episodes)
                obs_l.append(obs["policy"].numpy()[live])
                act_l.append(label[live])
                ep_l.append(episode_of[live])
                stage_l.append(stage[live])
                obs, _, done, _ = env.step(torch.as_tensor(executed, dtype=torch.float32))
                for i in np.flatnonzero(done.numpy()):
                    if episode_of[i] < episodes:
                        finished += 1
                        if bar is not None:
                            bar.update(1)
                    episode_of[i] = started
                    started += 1
    finally:
        if bar is not None:
            bar.close()
        env.close()
    meta = {"task": task_cfg.task, "object": task_cfg.objects,
            "observation_options": observation_options(task_cfg),
            "source": {"kind": "wait", "checkpoint": str(checkpoint), "seed": seed, "b_noise": b_noise, **counts}}
    return DemoSet(np.concatenate(obs_l), np.concatenate(act_l), np.concatenate(ep_l), np.concatenate(stage_l), meta), counts


def observation_options(cfg) -> dict[str, Any]:
    """The task config's settings that shape the actor's input, as a set records them."""
    from .rl.train import OBSERVATION_OPTIONS

    return {k: getattr(cfg, k) for k in (*OBSERVATION_OPTIONS, "mirror_symmetry")}


def record_handoff_demos(grasp_library: str | Path, task_cfg, episodes: int = 64, seed: int = 0,
                         min_height_m: float = 0.05, hold_steps: int = 40, max_substeps: int = 8,
                         handoff_cfg=None, progress: bool = False) -> tuple[DemoSet, dict[str, Any]]:
    """Scripted handoffs from ``grasp_library``'s one-hand grasps (as ``dexmani init record
    --handoff``), each run in a one-env ``task_cfg`` env with randomization off and recorded as
    the actor's observations and actions (see the module docstring). Returns the set of the
    episodes the env counted a success and the outcome counts of all."""
    from .handoff import HandoffScript
    from .tasks import make_env

    if task_cfg.task != "handover":
        raise ValueError(f"scripted handoff demonstrations are of the handover task, not {task_cfg.task!r}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not Path(grasp_library).is_file():
        raise FileNotFoundError(f"library {grasp_library} does not exist")
    src = InitLibrary.load(grasp_library)
    if src.meta.get("object") not in (None, task_cfg.objects):
        raise DemoError(f"{grasp_library} holds {src.meta.get('object')} states, not {task_cfg.objects} (the config's object)")
    cfg = recording_config(task_cfg)
    script = HandoffScript(task_cfg.objects, cfg, handoff_cfg)
    # One-hand grasps only: states recorded past the handover's intermediate goal (a shipped
    # library's own scripted handoffs) have hand A's grasp already slid to its end, and made
    # 0 of 9 handoffs that started (against 10 of 16 from the grasp specialist's states).
    grasps = np.flatnonzero(src.stage < 2)
    if grasps.size == 0:
        raise DemoError(f"{grasp_library} has no state before the intermediate goal (stage < 2) to take grasps from")
    src = InitLibrary(src.joint_pos[grasps], src.object_pose[grasps], src.meta, src.lead_hand[grasps], src.stage[grasps])
    templates = script.templates(src, min_height_m)
    if not templates:
        raise DemoError(f"{grasp_library} has no state in which one known lead hand alone holds the object "
                        f"{min_height_m} m up (record one with dexmani init record --policy)")
    lib0 = InitLibrary(src.joint_pos[:1], src.object_pose[:1], {"task": "handover"})
    env = make_env(cfg, seed=seed, num_threads=1, init_library=lib0)
    script.sim = env.sim  # the script reads contacts and poses from the env's own simulation
    rollouts: list[EnvRollout] = []

    def rollout(q, pose, b, b_touched=False):
        r = EnvRollout(env, q, pose, b, stage=3 if b_touched else 2, max_substeps=max_substeps)
        rollouts.append(r)
        return r

    script.rollout = rollout
    rng = np.random.default_rng(seed)
    outcome = {"episodes": episodes, "no_ik": 0, "slipping": 0, "dropped_by_a": 0, "ended": 0, "script_failed": 0,
               "not_success": 0, "kept": 0}
    obs, actions, ep_idx, stage, starts = [], [], [], [], []
    rolled: set[int] = set()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episodes, desc="demonstrations", unit="ep")
    try:
        for _ in range(episodes):
            k = int(rng.integers(len(templates)))
            if k not in rolled:
                script.choose_roll(templates[k])
                rolled.add(k)
            rollouts.clear()
            try:
                out = script.run(templates[k], rng)
                ok = not isinstance(out, str) and out[3]["success"]
                kept = ok and rollouts[-1].hold_until_success(hold_steps)
            except EpisodeEnded:
                out, kept = "ended", False
            if isinstance(out, str):
                outcome[out] += 1
            elif not out[3]["success"]:
                outcome["script_failed"] += 1
            elif not kept:
                outcome["not_success"] += 1
            else:
                r = rollouts[-1]
                obs.append(np.array(r.rec_obs))
                actions.append(np.array(r.rec_actions))
                stage.append(np.array(r.rec_stage))
                ep_idx.append(np.full(len(r.rec_obs), outcome["kept"]))
                starts.append(r.start)
                outcome["kept"] += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(kept=outcome["kept"])
    finally:
        if bar is not None:
            bar.close()
        env.close()
    if not obs:
        raise DemoError(f"no scripted handoff succeeded in the env ({outcome})")
    meta = {"task": task_cfg.task, "object": task_cfg.objects, "observation_options": observation_options(task_cfg),
            "source": {"kind": "handoff", "grasp_library": str(grasp_library), "templates": len(templates),
                       "seed": seed, "max_substeps": max_substeps, **outcome}}
    demos = DemoSet(np.concatenate(obs), np.concatenate(actions), np.concatenate(ep_idx), np.concatenate(stage), meta,
                    np.array([q for q, _ in starts]), np.array([p for _, p in starts]))
    return demos, outcome
